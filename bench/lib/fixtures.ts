/**
 * Datagrams and addresses the benchmarks feed the mux. Binding Requests are built by werift-ice itself
 * (USERNAME, PRIORITY, ICE-CONTROLLING, MESSAGE-INTEGRITY, FINGERPRINT), as an agent sends them.
 */
import { classes, Message, methods } from "werift-ice";
import type { RemoteInfo } from "../../src/address.js";

/** Everyone sends from the loopback address, on distinct ports: the mux's `address → port` map grows. */
export const LOOPBACK = "127.0.0.1";
export const MEDIA_BYTES = 1200;

/** A 1,200-byte RTP-shaped datagram (first byte 0x80: not STUN, RFC 7983), as media is. */
export function mediaDatagram(): Buffer {
  const buf = Buffer.alloc(MEDIA_BYTES, 0xab);
  buf[0] = 0x80;
  buf[1] = 0x60;
  return buf;
}

/** An ICE ufrag for index `i`: 4 to 8 ice-chars, unique per `i`. */
export function ufrag(i: number, prefix = "u"): string {
  return `${prefix}${i.toString(36).padStart(5, "0")}`;
}

/** A connectivity check from the remote agent `remote` to our agent `local`, signed with `password`. */
export function bindingRequest(local: string, remote: string, password = "p".repeat(22)): Buffer {
  return new Message(methods.BINDING, classes.REQUEST)
    .setAttribute("USERNAME", `${local}:${remote}`)
    .setAttribute("PRIORITY", 1853824767)
    .setAttribute("ICE-CONTROLLING", BigInt("0x1234567890abcdef"))
    .addMessageIntegrity(Buffer.from(password, "utf8"))
    .addFingerprint().bytes;
}

export function rinfo(port: number, size: number, address = LOOPBACK): RemoteInfo {
  return { address, family: "IPv4", port, size };
}

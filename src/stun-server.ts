/**
 * The mux's port as its own STUN server (RFC 8489 §6.3): a Binding Request that carries no USERNAME is not a
 * connectivity check but a query "what is my address?", answered with a success response holding the
 * source's XOR-MAPPED-ADDRESS (§14.2), the same transaction ID and a FINGERPRINT. Clients that configure
 * `stun:server:port` then gather a server-reflexive candidate from the very server they will talk to.
 *
 * A STUN server on a public port is a reflector: a spoofed request makes the server answer someone else. So
 * the answer is small — 40 bytes for an IPv4 source, 52 for IPv6, against a request of at least 20: at most
 * 2.6 times the request, and never more than 32 bytes over it — and answers are rate-limited in total
 * ({@link StunResponder}), whatever the sources.
 */
import { isIPv4 } from "node:net";
import { crc32 } from "node:zlib";
import type { Family } from "./address.js";
import {
  ATTR_FINGERPRINT,
  ATTR_MESSAGE_INTEGRITY,
  ATTR_USERNAME,
  ATTR_XOR_MAPPED_ADDRESS,
  BINDING_REQUEST,
  BINDING_SUCCESS,
  HEADER_LENGTH,
  isStunMessage,
  MAGIC_COOKIE,
  messageType,
} from "./stun.js";

const FINGERPRINT_XOR = 0x5354554e;
/** Attributes a plain Binding Request may carry before we give up reading it (a real one has 0–2). */
const MAX_ATTRIBUTES = 16;

/**
 * Whether `buf` is a Binding Request for a STUN server: well-formed attributes, no USERNAME and no
 * MESSAGE-INTEGRITY (those are checks, or need credentials we don't have), and a valid FINGERPRINT if it has
 * one. Pure; never throws.
 */
export function isServerBindingRequest(buf: Uint8Array): boolean {
  if (!isStunMessage(buf) || messageType(buf) !== BINDING_REQUEST) return false;
  const end = HEADER_LENGTH + ((buf[2]! << 8) | buf[3]!);
  if (end > buf.length) return false;
  let offset = HEADER_LENGTH;
  for (let i = 0; offset < end; i++) {
    if (i === MAX_ATTRIBUTES || offset + 4 > end) return false;
    const type = (buf[offset]! << 8) | buf[offset + 1]!;
    const length = (buf[offset + 2]! << 8) | buf[offset + 3]!;
    const next = offset + 4 + ((length + 3) & ~3);
    if (next > end) return false;
    if (type === ATTR_USERNAME || type === ATTR_MESSAGE_INTEGRITY) return false;
    if (type === ATTR_FINGERPRINT) {
      if (length !== 4 || next !== end) return false; // FINGERPRINT is 4 bytes and comes last
      const expected = (crc32(buf.subarray(0, offset)) ^ FINGERPRINT_XOR) >>> 0;
      const got =
        ((buf[offset + 4]! << 24) | (buf[offset + 5]! << 16) | (buf[offset + 6]! << 8) | buf[offset + 7]!) >>>
        0;
      return expected === got;
    }
    offset = next;
  }
  return true;
}

/**
 * A Binding success response to `request` (its transaction ID) telling `address:port` as XOR-MAPPED-ADDRESS,
 * with a FINGERPRINT. `address` is a canonical IP literal of `family`.
 */
export function encodeBindingSuccess(
  request: Uint8Array,
  address: string,
  port: number,
  family: Family,
): Buffer {
  const v4 = family === "IPv4";
  const valueLength = v4 ? 8 : 20;
  const length = 4 + valueLength + 8; // XOR-MAPPED-ADDRESS, FINGERPRINT
  const buf = Buffer.alloc(HEADER_LENGTH + length);
  buf.writeUInt16BE(BINDING_SUCCESS, 0);
  buf.writeUInt16BE(length, 2);
  buf.writeUInt32BE(MAGIC_COOKIE, 4);
  buf.set(request.subarray(8, HEADER_LENGTH), 8); // the transaction ID
  let at = HEADER_LENGTH;
  buf.writeUInt16BE(ATTR_XOR_MAPPED_ADDRESS, at);
  buf.writeUInt16BE(valueLength, at + 2);
  buf[at + 5] = v4 ? 0x01 : 0x02;
  buf.writeUInt16BE(port ^ (MAGIC_COOKIE >>> 16), at + 6);
  const ip = v4 ? ipv4Bytes(address) : ipv6Bytes(address);
  // XORed with the magic cookie, and for IPv6 the transaction ID after it (RFC 8489 §14.2): bytes 4–19.
  for (let i = 0; i < ip.length; i++) buf[at + 8 + i] = ip[i]! ^ buf[4 + i]!;
  at += 4 + valueLength;
  const fingerprint = (crc32(buf.subarray(0, at)) ^ FINGERPRINT_XOR) >>> 0;
  buf.writeUInt16BE(ATTR_FINGERPRINT, at);
  buf.writeUInt16BE(4, at + 2);
  buf.writeUInt32BE(fingerprint, at + 4);
  return buf;
}

function ipv4Bytes(address: string): number[] {
  return address.split(".").map(Number);
}

/** The 16 bytes of an IPv6 literal (no zone id; an embedded dotted IPv4 tail allowed). */
function ipv6Bytes(address: string): number[] {
  const [head = "", tail] = address.split("::");
  const groups = (part: string): number[] => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (isIPv4(g)) {
        const [a, b, c, d] = ipv4Bytes(g) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

/**
 * A token bucket over every answer the mux gives as a STUN server: at most `perSecond` a second (a burst of
 * as many), whatever the sources, so a spoofed flood makes at most that many small answers.
 */
export class StunResponder {
  #tokens: number;
  #refilledAt: number;
  served = 0;

  constructor(readonly perSecond: number) {
    this.#tokens = perSecond;
    this.#refilledAt = Date.now();
  }

  /** Take a token; `false` when the budget of this second is spent. */
  take(now: number): boolean {
    const elapsed = now - this.#refilledAt;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.perSecond, this.#tokens + (elapsed * this.perSecond) / 1000);
      this.#refilledAt = now;
    }
    if (this.#tokens < 1) return false;
    this.#tokens--;
    this.served++;
    return true;
  }
}

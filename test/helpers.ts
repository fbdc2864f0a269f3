/** Shared test fixtures: real loopback sockets and STUN datagrams encoded by the independent `stun` package. */
import dgram from "node:dgram";
import { once } from "node:events";
import stun from "stun";
import { expect } from "vitest";
import { type BindOptions, UDPMux } from "../src/index.js";

const { constants } = stun;

/** A Binding Request with USERNAME `username`, as a real ICE peer sends it (optionally signed). */
export function bindingRequest(username?: string, password?: string): Buffer {
  const msg = stun.createMessage(constants.STUN_BINDING_REQUEST);
  if (username !== undefined) msg.addAttribute(constants.STUN_ATTR_USERNAME, username);
  if (password !== undefined) {
    msg.addMessageIntegrity(password);
    msg.addFingerprint();
  }
  return msg.toBuffer();
}

/** A Binding success response to `request` carrying XOR-MAPPED-ADDRESS. */
export function bindingSuccess(request: Buffer, mapped: { address: string; port: number }): Buffer {
  const msg = stun.createMessage(constants.STUN_BINDING_RESPONSE, request.subarray(8, 20));
  msg.addAttribute(constants.STUN_ATTR_XOR_MAPPED_ADDRESS, mapped.address, mapped.port);
  return msg.toBuffer();
}

/** A Binding error response to `request` with ERROR-CODE `code`. */
export function bindingError(request: Buffer, code: number): Buffer {
  const msg = stun.createMessage(constants.STUN_BINDING_ERROR_RESPONSE, request.subarray(8, 20));
  msg.addAttribute(constants.STUN_ATTR_ERROR_CODE, code, "error");
  return msg.toBuffer();
}

/**
 * The receive buffer of sockets the tests hand to `new UDPMux(socket)`: as a production caller would size
 * one (below 1 MiB the mux warns), so the run isn't full of warnings.
 */
export const MUX_RECV_BUFFER = 1024 * 1024;

/** Everything a test opened, closed by {@link closeAll} in `afterEach`. */
const opened: { close(): unknown }[] = [];

export async function socket(type: "udp4" | "udp6" = "udp4"): Promise<dgram.Socket> {
  const s = dgram.createSocket({ type, recvBufferSize: MUX_RECV_BUFFER });
  s.bind(0, type === "udp4" ? "127.0.0.1" : "::1");
  await once(s, "listening");
  opened.push({
    close: () =>
      new Promise<void>((resolve) => {
        try {
          s.close(() => resolve());
        } catch {
          resolve(); // already closed by the test
        }
      }),
  });
  return s;
}

export async function mux(options: BindOptions = {}): Promise<UDPMux> {
  const m = await UDPMux.bind({ address: "127.0.0.1", ...options });
  opened.push(m);
  return m;
}

export function track<T extends { close(): unknown }>(thing: T): T {
  opened.push(thing);
  return thing;
}

export async function closeAll(): Promise<void> {
  const all = opened.splice(0);
  await Promise.all(all.map((o) => o.close()));
}

/** Send `data` from `from` to the mux and wait until the mux counted it as received. */
export async function sendTo(m: UDPMux, from: dgram.Socket, data: Buffer): Promise<void> {
  const { port, address } = m.getListenAddresses()[0]!;
  const before = m.stats().received;
  const wildcard = address === "0.0.0.0" || address === "::";
  const to = !wildcard ? address : from.address().family === "IPv4" ? "127.0.0.1" : "::1";
  from.send(data, port, to);
  await until(() => m.stats().received > before);
}

/** Poll a condition on the event loop (each turn lets datagrams in); fails after `ms`. */
export async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setImmediate(r));
  }
}

/** Live TCP servers and sockets of this process. */
const tcpHandles = () =>
  process.getActiveResourcesInfo().filter((r) => r === "TCPServerWrap" || r === "TCPSocketWrap").length;

/**
 * The TCP tests' leak check: `start()` in `beforeEach`, `await expectClosed(ms)` in `afterEach` once the test's
 * muxes and clients are closed: as many TCP handles as at the start (closing is asynchronous: awaited up to `ms`).
 */
export function tcpLeakCheck(): { start(): void; expectClosed(ms?: number): Promise<void> } {
  let baseline = 0;
  return {
    start() {
      baseline = tcpHandles();
    },
    async expectClosed(ms = 2000) {
      try {
        await until(() => tcpHandles() <= baseline, ms);
      } finally {
        expect(tcpHandles()).toBe(baseline); // says how many were left when `until` timed out
      }
    },
  };
}

/** The next datagram a plain socket receives. */
export async function nextMessage(s: dgram.Socket): Promise<{ msg: Buffer; rinfo: dgram.RemoteInfo }> {
  const [msg, rinfo] = (await once(s, "message")) as [Buffer, dgram.RemoteInfo];
  return { msg, rinfo };
}

export function port(s: dgram.Socket): number {
  return s.address().port;
}

/** STUN responses routed by transaction ID, and server-reflexive discovery through the shared socket. */
import type dgram from "node:dgram";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseBindingRequest } from "../../src/stun.js";
import {
  bindingError,
  bindingRequest,
  bindingSuccess,
  closeAll,
  mux,
  port,
  sendTo,
  socket,
  until,
} from "../helpers.js";

afterEach(async () => {
  vi.useRealTimers();
  await closeAll();
});

/** A loopback STUN server answering every Binding Request with the source address; counts requests. */
async function stunServer(answer: "success" | "error" | "silent" = "success") {
  const s = await socket();
  const server = { requests: 0, socket: s, address: "127.0.0.1", port: port(s) };
  s.on("message", (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    if (msg.readUInt16BE(0) !== 0x0001) return;
    server.requests++;
    if (answer === "success") s.send(bindingSuccess(msg, rinfo), rinfo.port, rinfo.address);
    if (answer === "error") s.send(bindingError(msg, 401), rinfo.port, rinfo.address);
  });
  return server;
}

describe("responses by transaction ID", () => {
  it("routes a STUN server's responses to the two conns that asked, without associating it", async () => {
    const m = await mux();
    const server = await stunServer();
    const a = m.getConn("askerAAA");
    const b = m.getConn("askerBBB");
    const qa = bindingRequest();
    const qb = bindingRequest();
    await a.writeTo(qa, server);
    await b.writeTo(qb, server);
    const ra = await a.readFrom();
    const rb = await b.readFrom();
    expect(ra.data.subarray(8, 20).equals(qa.subarray(8, 20))).toBe(true);
    expect(rb.data.subarray(8, 20).equals(qb.subarray(8, 20))).toBe(true);
    expect(m.stats()).toMatchObject({ addresses: 0, transactions: 0, delivered: 2 });
  });

  it("ignores a response with a known ID from another address", async () => {
    const m = await mux();
    const server = await stunServer("silent");
    const spoofer = await socket();
    const conn = m.getConn("asker123");
    const q = bindingRequest();
    await conn.writeTo(q, server);
    await sendTo(m, spoofer, bindingSuccess(q, { address: "6.6.6.6", port: 6 }));
    expect(m.stats()).toMatchObject({
      dropped: 1,
      droppedByReason: { "unknown-address": 1 },
      transactions: 1,
    });
  });

  it("forgets transaction IDs after 30 s", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date", "performance"] });
    const m = await mux();
    const server = await stunServer("silent");
    const conn = m.getConn("forget12");
    const q = bindingRequest();
    await conn.writeTo(q, server);
    await until(() => server.requests === 1);
    expect(m.stats().transactions).toBe(1);
    vi.advanceTimersByTime(29_000);
    expect(m.stats().transactions).toBe(1);
    vi.advanceTimersByTime(2_000);
    expect(m.stats().transactions).toBe(0);
    await sendTo(m, server.socket, bindingSuccess(q, { address: "127.0.0.1", port: 1 }));
    expect(m.stats().droppedByReason).toEqual({ "unknown-address": 1 });
  });
});

describe("getXorMappedAddress", () => {
  it("asks once for many concurrent callers and caches the answer", async () => {
    const m = await mux();
    const server = await stunServer();
    const answers = await Promise.all(Array.from({ length: 50 }, () => m.getXorMappedAddress(server)));
    const self = m.getListenAddresses()[0]!;
    for (const a of answers) expect(a).toEqual({ address: "127.0.0.1", port: self.port, family: "IPv4" });
    expect(server.requests).toBe(1);
    await m.getXorMappedAddress(server);
    expect(server.requests).toBe(1);
    expect(m.stats()).toMatchObject({ addresses: 0, transactions: 0 });
  });

  it("asks again once the TTL, counted from the response, has passed", async () => {
    vi.useFakeTimers({ toFake: ["Date", "performance"] }); // expiry reads performance.now()
    const m = await mux({ xorMappedAddressTtlMs: 1000 });
    const server = await stunServer();
    await m.getXorMappedAddress(server);
    vi.advanceTimersByTime(999);
    await m.getXorMappedAddress(server);
    expect(server.requests).toBe(1);
    vi.advanceTimersByTime(2);
    await m.getXorMappedAddress(server);
    expect(server.requests).toBe(2);
  });

  it("times out with ERR_STUN_TIMEOUT, then retries on the next call", async () => {
    const m = await mux();
    const silent = await stunServer("silent");
    await expect(m.getXorMappedAddress(silent, { timeoutMs: 100 })).rejects.toMatchObject({
      code: "ERR_STUN_TIMEOUT",
    });
    expect(silent.requests).toBe(1);
    expect(m.stats().transactions).toBe(0);
    await expect(m.getXorMappedAddress(silent, { timeoutMs: 50 })).rejects.toMatchObject({
      code: "ERR_STUN_TIMEOUT",
    });
    expect(silent.requests).toBe(2);
  });

  it("rejects an error response with ERR_STUN_ERROR_RESPONSE and its code", async () => {
    const m = await mux();
    const server = await stunServer("error");
    await expect(m.getXorMappedAddress(server)).rejects.toMatchObject({
      code: "ERR_STUN_ERROR_RESPONSE",
      errorCode: 401,
    });
  });

  it("an abort rejects only that caller", async () => {
    const m = await mux();
    const s = await socket();
    const server = { address: "127.0.0.1", port: port(s) };
    let pending: { msg: Buffer; rinfo: dgram.RemoteInfo } | undefined;
    s.on("message", (msg: Buffer, rinfo: dgram.RemoteInfo) => {
      pending = { msg, rinfo };
    });
    const controller = new AbortController();
    const aborted = m.getXorMappedAddress(server, { signal: controller.signal });
    const patient = m.getXorMappedAddress(server);
    await until(() => pending !== undefined);
    controller.abort(new Error("caller gave up"));
    await expect(aborted).rejects.toThrow("caller gave up");
    s.send(bindingSuccess(pending!.msg, pending!.rinfo), pending!.rinfo.port, "127.0.0.1");
    await expect(patient).resolves.toMatchObject({ address: "127.0.0.1" });
  });

  it("rejects pending queries with ERR_MUX_CLOSED when the mux closes", async () => {
    const m = await mux();
    const silent = await stunServer("silent");
    const q = expect(m.getXorMappedAddress(silent)).rejects.toMatchObject({ code: "ERR_MUX_CLOSED" });
    await m.close();
    await q;
    await expect(m.getXorMappedAddress(silent)).rejects.toMatchObject({ code: "ERR_MUX_CLOSED" });
  });
});

describe("hairpin: both ends on one mux", () => {
  it("delivers checks by ufrag and then data by the link, in-process", async () => {
    const m = await mux();
    const self = m.getListenAddresses()[0]!;
    const a = m.getConn("hairpinA");
    const b = m.getConn("hairpinB");
    const other = m.getConn("bystander");
    await a.writeTo(bindingRequest("hairpinB:hairpinA"), self);
    const check = await b.readFrom();
    expect(parseBindingRequest(check.data)?.localUfrag).toBe("hairpinB");
    expect(check).toMatchObject({ address: "127.0.0.1", port: self.port });
    await b.writeTo(Buffer.from("to A"), self);
    await a.writeTo(Buffer.from("to B"), self);
    expect((await a.readFrom()).data.toString()).toBe("to A");
    expect((await b.readFrom()).data.toString()).toBe("to B");
    expect(m.stats()).toMatchObject({ addresses: 0, delivered: 3, dropped: 0 });
    const nothing = other.readFrom({ signal: AbortSignal.timeout(30) });
    await expect(nothing).rejects.toMatchObject({ name: "TimeoutError" });
  });
});

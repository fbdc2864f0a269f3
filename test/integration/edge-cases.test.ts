/** Edge cases of the core: argument errors that must not leave state behind, listener churn, races. */
import dgram from "node:dgram";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { UDPMux } from "../../src/index.js";
import { bindingRequest, closeAll, MUX_RECV_BUFFER, mux, port, sendTo, socket, track } from "../helpers.js";

afterEach(closeAll);

describe("arguments leave nothing behind", () => {
  it.each([
    ["an empty password", ""],
    ["a numeric password", 42],
  ])("getConn with %s throws and creates no conn", async (_, password) => {
    const m = await mux();
    // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong types
    expect(() => m.getConn("nopass12", undefined, { password: password as any })).toThrow(TypeError);
    expect(m.stats().connections).toBe(0);
  });

  it("a failed send claims no address and waits for no answer", async () => {
    const m = await mux();
    const conn = m.getConn("failsend");
    const peer = await socket();
    await expect(
      conn.writeTo(Buffer.alloc(70_000), { address: "127.0.0.1", port: port(peer) }),
    ).rejects.toMatchObject({ code: "EMSGSIZE" });
    const check = bindingRequest("peer1234:failsend");
    const big = Buffer.concat([check, Buffer.alloc(65_540 - check.length)]); // over 65,507: EMSGSIZE
    big.writeUInt16BE(big.length - 20, 2); // still framed as a STUN request
    await expect(conn.writeTo(big, { address: "127.0.0.1", port: port(peer) })).rejects.toMatchObject({
      code: "EMSGSIZE",
    });
    expect(m.stats()).toMatchObject({ addresses: 0, transactions: 0 });
  });
});

describe("addresses as callers spell them", () => {
  it("an IPv6 address written out in full is the same peer as its short form", async () => {
    const m = await mux({ address: "::1" });
    const conn = m.getConn("longform", { address: "::1" });
    const peer = await socket("udp6");
    await conn.writeTo(Buffer.from([0x80, 1]), { address: "0:0:0:0:0:0:0:1", port: port(peer) });
    await sendTo(m, peer, Buffer.from([0x80, 2]));
    expect((await conn.readFrom()).data[1]).toBe(2);
    expect(m.stats()).toMatchObject({ addresses: 1, dropped: 0 });
  });
});

describe("listeners", () => {
  it("push mode survives removeAllListeners()", async () => {
    const m = await mux();
    const conn = m.getConn("removeal");
    const peer = await socket();
    await sendTo(m, peer, bindingRequest("removeal:peer"));
    conn.on("message", () => {});
    conn.removeAllListeners();
    await sendTo(m, peer, Buffer.from("queued"));
    const got: string[] = [];
    conn.on("message", (msg) => got.push(msg.length > 10 ? "check" : msg.toString()));
    await sendTo(m, peer, Buffer.from("later"));
    expect(got).toEqual(["check", "queued", "later"]);
  });

  it("a throwing 'error' listener does not escape the routing either", async () => {
    const m = await mux();
    const conn = m.getConn("errthrow");
    const peer = await socket();
    await sendTo(m, peer, bindingRequest("errthrow:peer"));
    conn.on("message", () => {
      throw new Error("listener bug");
    });
    conn.on("error", () => {
      throw new Error("error-listener bug");
    });
    await sendTo(m, peer, Buffer.from("boom"));
    await sendTo(m, peer, Buffer.from("boom again"));
    expect(m.stats()).toMatchObject({ delivered: 3, dropped: 0 });
    expect(m.closed).toBe(false);
  });
});

describe("routing corner cases", () => {
  it("a Binding Request without USERNAME from an associated address goes to its conn", async () => {
    const m = await mux();
    const conn = m.getConn("nouser12");
    const peer = await socket();
    await sendTo(m, peer, bindingRequest("nouser12:peer"));
    await sendTo(m, peer, bindingRequest());
    await conn.readFrom();
    expect(await conn.readFrom()).toMatchObject({ port: port(peer) });
    const stranger = await socket();
    await sendTo(m, stranger, bindingRequest());
    expect(m.stats().droppedByReason).toEqual({ "bad-username": 1 });
  });

  it("a hairpin datagram whose sender closed on the way is dropped, and links nobody to it", async () => {
    const m = await mux();
    const self = m.getListenAddresses()[0]!;
    const a = m.getConn("hairclsA");
    const b = m.getConn("hairclsB");
    await a.writeTo(bindingRequest("hairclsB:hairclsA"), self);
    a.close();
    await new Promise((r) => setImmediate(r));
    expect(m.stats()).toMatchObject({
      received: 1,
      delivered: 0,
      dropped: 1,
      droppedByReason: { "conn-closed": 1 },
    });
    await b.writeTo(Buffer.from([0x80]), self);
    await new Promise((r) => setImmediate(r));
    expect(m.stats().droppedByReason).toEqual({ "conn-closed": 1, "not-stun": 1 });
  });

  it("an aborted signal wins over a queued datagram", async () => {
    const m = await mux();
    const conn = m.getConn("abortwin");
    const peer = await socket();
    await sendTo(m, peer, bindingRequest("abortwin:peer"));
    await expect(conn.readFrom({ signal: AbortSignal.abort("stop") })).rejects.toBe("stop");
    expect((await conn.readFrom()).port).toBe(port(peer)); // still there
  });
});

describe("the socket closed under the mux", () => {
  it("close() resolves even when the socket was closed in the same tick", async () => {
    const s = dgram.createSocket({ type: "udp4", recvBufferSize: MUX_RECV_BUFFER });
    s.bind(0, "127.0.0.1");
    await once(s, "listening");
    const m = new UDPMux(s);
    m.start();
    s.close();
    await expect(m.close()).resolves.toBeUndefined();
    expect(m.closed).toBe(true);
  });

  it("pending reads reject with ERR_CONN_CLOSED carrying the cause", async () => {
    const s = dgram.createSocket({ type: "udp4", recvBufferSize: MUX_RECV_BUFFER });
    s.bind(0, "127.0.0.1");
    await once(s, "listening");
    const m = track(new UDPMux(s));
    m.start();
    const reading = m.getConn("cause123").readFrom();
    s.close();
    const err = await reading.catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "ERR_CONN_CLOSED" });
    expect((err as Error).cause).toBeInstanceOf(Error);
  });
});

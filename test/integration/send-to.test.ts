/**
 * `MuxedConnection.sendTo`, the internal send that waits for nothing (the werift adapter's data path):
 * the same routing consequences as `writeTo` (association, transactions, hairpin), its outcome through a
 * callback, no promise.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { SendCallback } from "../../src/muxed-connection.js";
import {
  bindingRequest,
  bindingSuccess,
  closeAll,
  mux,
  nextMessage,
  port,
  sendTo,
  socket,
  until,
} from "../helpers.js";

afterEach(closeAll);

/** A callback recording every outcome. */
function outcomes(): { callback: SendCallback; seen: (Error | null)[] } {
  const seen: (Error | null)[] = [];
  return { seen, callback: (err) => seen.push(err) };
}

describe("MuxedConnection.sendTo", () => {
  it("the first datagram to an address associates it, so the peer's answers reach the conn", async () => {
    const m = await mux();
    const peer = await socket();
    const conn = m.getConn("sendToA");
    const { seen, callback } = outcomes();
    const got = nextMessage(peer);
    conn.sendTo(Buffer.from("first"), "127.0.0.1", port(peer), callback);
    expect((await got).msg.toString()).toBe("first");
    await until(() => seen.length === 1);
    expect(seen).toEqual([null]);
    expect(m.stats().addresses).toBe(1);
    const received = new Promise<string>((resolve) => conn.once("message", (msg) => resolve(msg.toString())));
    await sendTo(m, peer, Buffer.from("answer"));
    expect(await received).toBe("answer");
  });

  it("datagrams to an associated address go out in order, each called back once with null", async () => {
    const m = await mux();
    const peer = await socket();
    const conn = m.getConn("sendToB");
    const { seen, callback } = outcomes();
    const all: string[] = [];
    peer.on("message", (msg) => all.push(msg.toString()));
    for (let i = 0; i < 20; i++) conn.sendTo(Buffer.from(`m${i}`), "127.0.0.1", port(peer), callback);
    await until(() => all.length === 20 && seen.length === 20);
    expect(all).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    expect(seen.every((e) => e === null)).toBe(true);
  });

  it("a STUN request records its transaction: the response is routed back by transaction ID", async () => {
    const m = await mux();
    const server = await socket();
    const conn = m.getConn("sendToC");
    const request = bindingRequest(); // no USERNAME: a server query, the address is not associated
    const { seen, callback } = outcomes();
    const asked = nextMessage(server);
    conn.sendTo(request, "127.0.0.1", port(server), callback);
    const { rinfo } = await asked;
    expect(m.stats()).toMatchObject({ transactions: 1, addresses: 0 });
    const response = new Promise<Buffer>((resolve) => conn.once("message", resolve));
    server.send(bindingSuccess(request, rinfo), rinfo.port, rinfo.address);
    expect((await response).subarray(8, 20)).toEqual(request.subarray(8, 20));
    expect(seen).toEqual([null]);
  });

  it("to the mux's own address: delivered in-process (hairpin) to the conn that owns the link", async () => {
    const m = await mux();
    const a = m.getConn("hairpinA");
    const b = m.getConn("hairpinB");
    const own = m.getListenAddresses()[0]!;
    const check = new Promise<Buffer>((resolve) => b.once("message", resolve));
    const { seen, callback } = outcomes();
    a.sendTo(bindingRequest("hairpinB:hairpinA"), own.address, own.port, callback);
    expect((await check).readUInt16BE(0)).toBe(0x0001);
    await until(() => seen.length === 1);
    expect(seen).toEqual([null]);
  });

  it("a closed conn or mux: called back at once with ERR_CONN_CLOSED / ERR_MUX_CLOSED, nothing sent", async () => {
    const m = await mux();
    const peer = await socket();
    let received = 0;
    peer.on("message", () => received++);
    const conn = m.getConn("sendToD");
    conn.close();
    const { seen, callback } = outcomes();
    conn.sendTo(Buffer.from("x"), "127.0.0.1", port(peer), callback);
    expect(seen.map((e) => (e as { code?: string }).code)).toEqual(["ERR_CONN_CLOSED"]);
    const other = m.getConn("sendToE");
    await m.close();
    other.sendTo(Buffer.from("x"), "127.0.0.1", port(peer), callback);
    expect(seen.map((e) => (e as { code?: string }).code)).toEqual(["ERR_CONN_CLOSED", "ERR_MUX_CLOSED"]);
    await new Promise((resolve) => setTimeout(resolve, 50)); // would a datagram arrive? (none was sent)
    expect(received).toBe(0);
  });
});

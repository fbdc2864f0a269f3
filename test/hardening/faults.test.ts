/**
 * Resilience (issue 5, item 4): a failed send rejects only that `writeTo`; socket `'error'` events don't
 * close the mux; a socket closed under the mux closes it, and every waiter — accepts, reads and writes in
 * flight — settles with a coded error carrying the cause; a throwing `'message'` listener doesn't stop
 * routing. Every failure here is local: sends go to 127.0.0.1 only (EMSGSIZE is refused by the kernel, and
 * an IPv6 destination on a udp4 socket is refused before anything leaves).
 */
import dgram from "node:dgram";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { type MuxedConnection, UDPMux } from "../../src/index.js";
import { bindingRequest, closeAll, MUX_RECV_BUFFER, socket, track, until } from "../helpers.js";

afterEach(async () => {
  await closeAll();
  // No handle or timer outlives the test (closed handles leave on a later loop turn).
  await until(() => !process.getActiveResourcesInfo().some((r) => r === "UDPWrap" || r === "Timeout"));
});

/** A started mux on a socket the test holds (and may close under it). */
async function muxOnOwnSocket() {
  const s = dgram.createSocket({ type: "udp4", recvBufferSize: MUX_RECV_BUFFER });
  s.bind(0, "127.0.0.1");
  await once(s, "listening");
  const m = track(new UDPMux(s));
  m.start();
  const port = s.address().port;
  const send = async (from: dgram.Socket, data: Buffer) => {
    const routed = once(s, "message"); // after the mux's own listener: routing is done
    from.send(data, port, "127.0.0.1");
    await routed;
  };
  return { m, s, send };
}

/** The conn is alive both ways: a check reaches it, and its writeTo reaches the peer. */
async function expectWorking(
  send: (from: dgram.Socket, data: Buffer) => Promise<void>,
  conn: MuxedConnection,
) {
  const peer = await socket();
  const reading = conn.readFrom();
  await send(peer, bindingRequest(`${conn.localUfrag}:peerCheck`));
  expect((await reading).port).toBe(peer.address().port);
  const arrived = once(peer, "message");
  await expect(
    conn.writeTo(Buffer.from("pong"), { address: "127.0.0.1", port: peer.address().port }),
  ).resolves.toBe(4);
  expect((await arrived)[0].toString()).toBe("pong");
}

describe("send errors reject that writeTo only", () => {
  it("EMSGSIZE for a datagram over 65,507 bytes", async () => {
    const { m, send } = await muxOnOwnSocket();
    const conn = m.getConn("bigUfrag");
    const other = m.getConn("otherUfrag");
    const peer = await socket();
    const to = { address: "127.0.0.1", port: peer.address().port };
    await expect(conn.writeTo(Buffer.alloc(65_508), to)).rejects.toMatchObject({ code: "EMSGSIZE" });
    expect(m.closed).toBe(false);
    expect(conn.closed).toBe(false);
    // The largest datagram still goes through whole, and both conns keep working.
    const arrived = once(peer, "message");
    await expect(conn.writeTo(Buffer.alloc(65_507, 7), to)).resolves.toBe(65_507);
    expect((await arrived)[0].length).toBe(65_507);
    await expectWorking(send, conn);
    await expectWorking(send, other);
  });

  it("an IPv6 destination from an IPv4 socket", async () => {
    const { m, send } = await muxOnOwnSocket();
    const conn = m.getConn("v6Ufrag");
    const failed = conn.writeTo(Buffer.from("x"), { address: "::1", port: 9 });
    await expect(failed).rejects.toMatchObject({ code: expect.stringMatching(/^E[A-Z]+$/) });
    expect(m.closed).toBe(false);
    await expectWorking(send, conn);
  });

  it("socket 'error' events are absorbed: the mux stays open and routing goes on", async () => {
    const { m, s, send } = await muxOnOwnSocket();
    const conn = m.getConn("errUfrag");
    s.emit("error", Object.assign(new Error("ICMP port unreachable"), { code: "ECONNREFUSED" }));
    s.emit("error", Object.assign(new Error("no buffer space"), { code: "ENOBUFS" }));
    expect(m.closed).toBe(false);
    await expectWorking(send, conn);
  });
});

describe("the socket closed under the mux", () => {
  it("closes the mux; accepts, reads and writes in flight settle with coded errors carrying the cause", async () => {
    const { m, s } = await muxOnOwnSocket();
    const conn = m.getConn("goneUfrag");
    const peer = await socket();
    const closeEvent = once(conn, "close");
    const accepting = m.accept();
    const reading = conn.readFrom();
    const writing = conn.writeTo(Buffer.from("in flight"), {
      address: "127.0.0.1",
      port: peer.address().port,
    });
    s.close();
    await expect(accepting).rejects.toMatchObject({ code: "ERR_MUX_CLOSED", cause: expect.any(Error) });
    await expect(reading).rejects.toMatchObject({ code: "ERR_CONN_CLOSED" });
    await expect(writing).rejects.toMatchObject({ code: "ERR_MUX_CLOSED", cause: expect.any(Error) });
    await closeEvent;
    expect(m.closed).toBe(true);
    expect(m.stats()).toMatchObject({ connections: 0, addresses: 0, acceptQueue: 0, transactions: 0 });
    await expect(conn.writeTo(Buffer.from("after"), { address: "127.0.0.1", port: 9 })).rejects.toMatchObject(
      {
        code: "ERR_MUX_CLOSED",
      },
    );
    expect(() => m.getConn("goneUfrag")).toThrow(expect.objectContaining({ code: "ERR_MUX_CLOSED" }));
    await m.close(); // idempotent, and doesn't wait for a socket that is already gone
  });

  it("a write in flight when the mux closes its own socket settles too", async () => {
    const m = track(await UDPMux.bind({ address: "127.0.0.1" }));
    const conn = m.getConn("flightUfrag");
    const peer = await socket();
    const writing = conn.writeTo(Buffer.from("in flight"), {
      address: "127.0.0.1",
      port: peer.address().port,
    });
    // Sent before the close or refused by it, but never left hanging (handled before close() yields).
    const outcome = writing.then(
      (bytes) => bytes,
      (err: { code?: string }) => err.code,
    );
    await m.close();
    expect([9, "ERR_MUX_CLOSED"]).toContain(await outcome);
  });
});

describe("a 'message' listener that throws", () => {
  it("doesn't stop routing to other conns, nor to its own conn's later datagrams", async () => {
    const { m, send } = await muxOnOwnSocket();
    const bad = m.getConn("badUfrag");
    const good = m.getConn("goodUfrag");
    const badCalls: number[] = [];
    const goodGot: Buffer[] = [];
    bad.on("message", (msg) => {
      badCalls.push(msg.length);
      throw new Error("listener bug");
    });
    const errors: Error[] = [];
    bad.on("error", (err) => errors.push(err));
    good.on("message", (msg) => goodGot.push(msg));
    const p1 = await socket();
    const p2 = await socket();
    await send(p1, bindingRequest("badUfrag:peer1"));
    await send(p2, bindingRequest("goodUfrag:peer2"));
    await send(p1, Buffer.from([0x80, 1]));
    await send(p2, Buffer.from([0x80, 2]));
    expect(badCalls).toHaveLength(2);
    expect(errors.map((e) => e.message)).toEqual(["listener bug", "listener bug"]);
    expect(goodGot).toHaveLength(2);
    expect([...goodGot[1]!]).toEqual([0x80, 2]);
    expect(m.closed).toBe(false);
    expect(m.stats()).toMatchObject({ received: 4, delivered: 4, dropped: 0 });
  });

  it("also when it throws while flushing datagrams queued before it was attached", async () => {
    const { m, send } = await muxOnOwnSocket();
    const conn = m.getConn("flushUfrag");
    const peer = await socket();
    await send(peer, bindingRequest("flushUfrag:peer"));
    await send(peer, Buffer.from([0x80, 1]));
    const seen: number[] = [];
    conn.on("message", (msg) => {
      seen.push(msg[0]!);
      throw new Error("listener bug");
    });
    await until(() => seen.length === 2); // both queued datagrams flushed despite the first throw
    await send(peer, Buffer.from([0x80, 2]));
    expect(seen).toEqual([0x00, 0x80, 0x80]);
    expect(m.stats()).toMatchObject({ received: 3, delivered: 3, dropped: 0 });
  });
});

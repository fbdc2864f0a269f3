/** Binding, starting and closing: nothing left behind, every waiter told. */
import dgram from "node:dgram";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { UDPMux } from "../../src/index.js";
import { bindingRequest, closeAll, MUX_RECV_BUFFER, mux, port, sendTo, socket, track } from "../helpers.js";

afterEach(closeAll);

function handles(): Record<string, number> {
  const count: Record<string, number> = {};
  for (const h of process.getActiveResourcesInfo()) count[h] = (count[h] ?? 0) + 1;
  return count;
}

describe("bind and start", () => {
  it("binds its own socket and reports it", async () => {
    const m = await mux();
    const [addr] = m.getListenAddresses();
    expect(addr).toMatchObject({ address: "127.0.0.1", family: "IPv4" });
    expect(addr!.port).toBeGreaterThan(0);
  });

  it("takes socket buffer sizes, and refuses nonsense ones", async () => {
    const m = track(
      await UDPMux.bind({ address: "127.0.0.1", recvBufferSize: 1 << 20, sendBufferSize: 1 << 19 }),
    );
    expect(m.getListenAddresses()[0]!.port).toBeGreaterThan(0);
    await expect(UDPMux.bind({ address: "127.0.0.1", recvBufferSize: 0 })).rejects.toMatchObject({
      code: "ERR_INVALID_ARG_VALUE",
    });
    await expect(UDPMux.bind({ address: "127.0.0.1", sendBufferSize: 1.5 })).rejects.toMatchObject({
      code: "ERR_INVALID_ARG_VALUE",
    });
  });

  it("rejects when the port is taken", async () => {
    const m = await mux();
    await expect(
      UDPMux.bind({ address: "127.0.0.1", port: m.getListenAddresses()[0]!.port }),
    ).rejects.toMatchObject({
      code: "EADDRINUSE",
    });
  });

  it("wraps a caller's socket, reads only after start(), and leaves it open with closeSocket: false", async () => {
    const s = await socket();
    const m = new UDPMux(s, { closeSocket: false });
    const peer = await socket();
    peer.send(bindingRequest("early123:peer"), port(s), "127.0.0.1");
    await once(s, "message"); // the socket got it, the mux was not reading
    expect(m.stats().received).toBe(0);
    m.start();
    m.start(); // idempotent
    await sendTo(m, peer, bindingRequest("late1234:peer"));
    expect(m.stats().received).toBe(1);
    await m.close();
    const echoed = once(s, "message");
    peer.send(Buffer.from("still open"), port(s), "127.0.0.1");
    expect(((await echoed)[0] as Buffer).toString()).toBe("still open");
  });

  it("refuses an unbound socket", () => {
    const s = track(dgram.createSocket({ type: "udp4", recvBufferSize: MUX_RECV_BUFFER }));
    expect(() => new UDPMux(s)).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }));
  });
});

describe("close", () => {
  it("is idempotent, rejects every waiter, closes every conn and empties every map", async () => {
    const m = await mux();
    const s = await socket();
    const conn = m.getConn("close123");
    await sendTo(m, s, bindingRequest("close123:peer"));
    await sendTo(m, s, bindingRequest("queued12:peer"));
    await conn.readFrom();
    const read = conn.readFrom();
    const closedEvents: string[] = [];
    conn.on("close", () => closedEvents.push(conn.localUfrag));
    await m.accept(); // take queued12, leave the queue empty so the next accept waits
    const accepting = m.accept();
    await conn.writeTo(bindingRequest("peer:close123"), { address: "127.0.0.1", port: port(s) });
    expect(m.stats().transactions).toBe(1);
    let closeEvents = 0;
    m.on("close", () => closeEvents++);
    // close() rejects them at once but may resolve a loop turn later (a /proc read in flight): handle them now.
    const settled = Promise.allSettled([accepting, read]);
    const first = m.close();
    const second = m.close();
    expect(first).toBe(second);
    await first;
    expect(closeEvents).toBe(1);
    expect(m.closed).toBe(true);
    await expect(accepting).rejects.toMatchObject({ code: "ERR_MUX_CLOSED" });
    await expect(read).rejects.toMatchObject({ code: "ERR_CONN_CLOSED" });
    expect((await settled).map((r) => r.status)).toEqual(["rejected", "rejected"]);
    await expect(conn.readFrom()).rejects.toMatchObject({ code: "ERR_CONN_CLOSED" });
    await expect(
      conn.writeTo(Buffer.from("x"), { address: "127.0.0.1", port: port(s) }),
    ).rejects.toMatchObject({
      code: "ERR_MUX_CLOSED",
    });
    await expect(m.accept()).rejects.toMatchObject({ code: "ERR_MUX_CLOSED" });
    expect(() => m.getConn("close123")).toThrow(expect.objectContaining({ code: "ERR_MUX_CLOSED" }));
    await new Promise((r) => process.nextTick(r));
    expect(closedEvents).toEqual(["close123"]);
    expect(m.stats()).toMatchObject({ connections: 0, addresses: 0, acceptQueue: 0, transactions: 0 });
  });

  it("ends candidate iteration", async () => {
    const m = await mux();
    const s = await socket();
    const seen: string[] = [];
    const loop = (async () => {
      for await (const c of m) seen.push(c.localUfrag);
    })();
    await sendTo(m, s, bindingRequest("iterate1:peer"));
    await m.close();
    await loop;
    expect(seen).toEqual(["iterate1"]);
  });

  it("releases the owned socket and leaves no handle or timer behind", async () => {
    await new Promise((r) => setTimeout(r, 0)); // let earlier tests' sockets finish closing (libuv's close phase)
    const before = handles();
    const m = await UDPMux.bind({ address: "127.0.0.1" });
    const during = handles();
    expect(during.UDPWrap ?? 0).toBe((before.UDPWrap ?? 0) + 1);
    const conn = m.getConn("leak1234");
    const reading = expect(conn.readFrom()).rejects.toMatchObject({ code: "ERR_CONN_CLOSED" });
    await m.close();
    await reading;
    await new Promise((r) => setTimeout(r, 0));
    expect(handles()).toEqual(before);
  });

  it("closes with ERR_MUX_CLOSED carrying a cause when the socket is closed under it", async () => {
    const s = dgram.createSocket({ type: "udp4", recvBufferSize: MUX_RECV_BUFFER });
    s.bind(0, "127.0.0.1");
    await once(s, "listening");
    const m = new UDPMux(s);
    m.start();
    const accepting = m.accept();
    const conn = m.getConn("under123");
    s.close();
    const err = await accepting.catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "ERR_MUX_CLOSED" });
    expect((err as Error).cause).toBeInstanceOf(Error);
    expect(m.closed).toBe(true);
    expect(conn.closed).toBe(true);
    await m.close(); // still fine
  });
});

/**
 * TCPMux over real loopback TCP connections, no werift: the first frame's routing and validation, the
 * bounds on pending connections, framing both ways, and close semantics.
 */
import { once } from "node:events";
import { connect, createServer, type Socket } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type MuxedConnection, type Packet, TCPMux } from "../../src/index.js";
import { FrameReader, frame } from "../../src/tcp/framing.js";
import { bindingRequest, tcpLeakCheck, until } from "../helpers.js";

const opened: { close(): unknown }[] = [];
const clients: Socket[] = [];

const leaks = tcpLeakCheck();
beforeEach(() => leaks.start());

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(opened.splice(0).map((o) => o.close()));
  // Every server and connection this test made is gone (closing is asynchronous: await it, bounded).
  await leaks.expectClosed(2000);
});

async function listen(options: Parameters<typeof TCPMux.listen>[0] = {}): Promise<TCPMux> {
  const mux = await TCPMux.listen({ address: "127.0.0.1", ...options });
  opened.push(mux);
  return mux;
}

/** A client connection with a frame reader: `frames` fills as frames arrive. */
async function client(mux: TCPMux): Promise<{ socket: Socket; frames: Buffer[]; closed: Promise<unknown> }> {
  const { port, address } = mux.getListenAddresses()[0]!;
  const socket = connect({ port, host: address === "::" ? "::1" : address });
  clients.push(socket);
  await once(socket, "connect");
  const frames: Buffer[] = [];
  const reader = new FrameReader();
  socket.on("data", (chunk: Buffer) => reader.push(chunk, (f) => void frames.push(Buffer.from(f))));
  socket.on("error", () => {}); // a reset by the mux is what some tests expect; they assert on `closed`
  const closed = once(socket, "close");
  return { socket, frames, closed };
}

const check = (username: string, password?: string) => frame(bindingRequest(username, password))!;

/** The next frame a conn reads (pull mode). */
const next = (conn: MuxedConnection): Promise<Packet> => conn.readFrom({ signal: AbortSignal.timeout(2000) });

describe("first frame", () => {
  it("routes a connection by the local ufrag of its first check, then every frame to that conn", async () => {
    const mux = await listen();
    const a = mux.getConn("ufragA");
    const b = mux.getConn("ufragB");
    const c = await client(mux);
    c.socket.write(
      Buffer.concat([check("ufragB:peer"), frame(Buffer.from("dtls-1"))!, frame(Buffer.from("x"))!]),
    );
    const first = await next(b);
    expect(first.data.subarray(0, 2)).toEqual(Buffer.from([0x00, 0x01])); // the check itself, a Binding Request
    expect((await next(b)).data.toString()).toBe("dtls-1");
    const third = await next(b);
    expect(third.data.toString()).toBe("x");
    expect({ address: third.address, port: third.port, family: third.family }).toEqual({
      address: "127.0.0.1",
      port: c.socket.localPort,
      family: "IPv4",
    });
    expect(mux.stats()).toMatchObject({
      received: 3,
      delivered: 3,
      tcpConnections: 1,
      pendingConnections: 0,
    });
    expect(a.closed).toBe(false);
  });

  it("an unknown ufrag becomes a candidate for accept(), with the first frame kept for its conn", async () => {
    const mux = await listen();
    const c = await client(mux);
    c.socket.write(check("newcomer:remote"));
    const candidate = await mux.accept({ signal: AbortSignal.timeout(2000) });
    expect(candidate).toEqual({
      localUfrag: "newcomer",
      remoteUfrag: "remote",
      address: "127.0.0.1",
      port: c.socket.localPort,
      family: "IPv4",
    });
    const conn = mux.getConn("newcomer");
    expect((await next(conn)).data.length).toBeGreaterThan(20);
  });

  it("a conn with a password takes only a check signed with it", async () => {
    const mux = await listen();
    const conn = mux.getConn("secure", undefined, { password: "the-password-is-long-enough" });
    const bad = await client(mux);
    bad.socket.write(check("secure:peer", "a-wrong-password-of-length"));
    await bad.closed;
    const unsigned = await client(mux);
    unsigned.socket.write(check("secure:peer"));
    await unsigned.closed;
    const good = await client(mux);
    good.socket.write(check("secure:peer", "the-password-is-long-enough"));
    expect((await next(conn)).address).toBe("127.0.0.1");
    expect(mux.stats().rejectedByReason).toEqual({ "integrity-failed": 2 });
    expect(mux.stats().droppedByReason).toEqual({ "integrity-failed": 2 });
  });

  it.each([
    ["not STUN", frame(Buffer.from("GET / HTTP/1.1\r\n\r\n"))!, "not-stun"],
    [
      "STUN but not a Binding Request",
      frame(Buffer.from(bindingRequest("a:b")).fill(0x01, 0, 1).fill(0x01, 1, 2))!,
      "not-a-check",
    ],
    ["a check without USERNAME", frame(bindingRequest())!, "bad-username"],
    ["a USERNAME without ':'", frame(bindingRequest("nocolonhere"))!, "bad-username"],
  ])("closes a connection whose first frame is %s", async (_name, data, reason) => {
    const mux = await listen();
    const c = await client(mux);
    c.socket.write(data);
    await c.closed;
    expect(mux.stats()).toMatchObject({ rejected: 1, rejectedByReason: { [reason]: 1 }, connections: 0 });
  });

  it("closes a connection whose first header announces more than maxFirstFrameSize, before the body", async () => {
    const mux = await listen({ maxFirstFrameSize: 1000 });
    const c = await client(mux);
    c.socket.write(Buffer.from([0x03, 0xe9])); // 1001 bytes announced, none sent
    await c.closed;
    expect(mux.stats().rejectedByReason).toEqual({ "first-frame-too-large": 1 });
  });

  it("a truncated first frame from a peer that leaves: nothing routed, nothing pending", async () => {
    const mux = await listen();
    const c = await client(mux);
    c.socket.end(check("someone:peer").subarray(0, 30));
    await c.closed;
    await until(() => mux.stats().pendingConnections === 0);
    expect(mux.stats()).toMatchObject({ connections: 0, received: 0, tcpConnections: 0 });
  });

  it("a silent connection is closed at the first-frame deadline", async () => {
    const mux = await listen({ firstFrameTimeoutMs: 150 });
    const c = await client(mux);
    const started = Date.now();
    await c.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(mux.stats().rejectedByReason).toEqual({ "first-frame-timeout": 1 });
  });

  it("dripping bytes don't extend the deadline (slowloris)", async () => {
    const mux = await listen({ firstFrameTimeoutMs: 300 });
    const c = await client(mux);
    const bytes = check("dripper:peer");
    let i = 0;
    const drip = setInterval(() => {
      if (i < bytes.length && !c.socket.destroyed) c.socket.write(bytes.subarray(i, ++i));
    }, 20); // one byte per 20 ms: the whole check would take ~2 s
    try {
      await c.closed;
    } finally {
      clearInterval(drip);
    }
    expect(i).toBeLessThan(bytes.length);
    expect(mux.stats().rejectedByReason).toEqual({ "first-frame-timeout": 1 });
  });

  it("caps pending connections per source; with every pending slot taken the oldest is evicted", async () => {
    const perIp = await listen({ maxPendingPerAddress: 2 });
    const [a, b] = [await client(perIp), await client(perIp)];
    await until(() => perIp.stats().pendingConnections === 2);
    const third = await client(perIp);
    await third.closed;
    expect(perIp.stats().rejectedByReason).toEqual({ "pending-limit-per-address": 1 });
    // The two pending ones are unharmed: one still routes.
    perIp.getConn("stillok");
    a.socket.write(check("stillok:peer"));
    await until(() => perIp.stats().tcpConnections === 1);
    expect(b.socket.destroyed).toBe(false);

    const total = await listen({ maxPendingConnections: 1 });
    const oldest = await client(total);
    await until(() => total.stats().pendingConnections === 1);
    const newest = await client(total);
    await oldest.closed; // evicted, so the newest can send its check
    expect(total.stats().rejectedByReason).toEqual({ "pending-evicted": 1 });
    total.getConn("newest");
    newest.socket.write(check("newest:peer"));
    await until(() => total.stats().tcpConnections === 1);
    expect(newest.socket.destroyed).toBe(false);
  });

  it("a second connection for the same ufrag (another address) is added; beyond maxAddressesPerUfrag it is refused", async () => {
    const mux = await listen({ maxAddressesPerUfrag: 2 });
    const conn = mux.getConn("multi");
    const [c1, c2, c3] = [await client(mux), await client(mux), await client(mux)];
    c1.socket.write(check("multi:peer"));
    c2.socket.write(check("multi:peer"));
    const ports = new Set([(await next(conn)).port, (await next(conn)).port]);
    expect(ports).toEqual(new Set([c1.socket.localPort, c2.socket.localPort]));
    c3.socket.write(check("multi:peer"));
    await c3.closed;
    expect(mux.stats()).toMatchObject({ tcpConnections: 2, rejectedByReason: { "address-cap": 1 } });
  });
});

describe("framing", () => {
  it("frames split across segments and several frames in one segment arrive whole and in order", async () => {
    const mux = await listen();
    const conn = mux.getConn("framer");
    const c = await client(mux);
    const payloads = [Buffer.alloc(3000, 1), Buffer.from("a"), Buffer.alloc(0), Buffer.alloc(65_535, 7)];
    const stream = Buffer.concat([check("framer:peer"), ...payloads.map((p) => frame(p)!)]);
    const received: Buffer[] = [];
    conn.on("message", (msg) => received.push(Buffer.from(msg)));
    for (let at = 0; at < stream.length; at += 777) {
      c.socket.write(stream.subarray(at, at + 777)); // cut anywhere, headers too
      await new Promise((resolve) => setImmediate(resolve)); // separate segments, as a slow peer sends
    }
    await until(() => received.length === 1 + payloads.length);
    expect(received.slice(1)).toEqual(payloads);
  });

  it("writeTo frames data onto the connection from that address", async () => {
    const mux = await listen();
    const conn = mux.getConn("writer");
    const c = await client(mux);
    c.socket.write(check("writer:peer"));
    const from = await next(conn);
    await expect(conn.writeTo(Buffer.from("hello"), from)).resolves.toBe(5);
    await expect(conn.writeTo(Buffer.alloc(0), from)).resolves.toBe(0);
    await until(() => c.frames.length === 2);
    expect(c.frames).toEqual([Buffer.from("hello"), Buffer.alloc(0)]);
  });

  it("writeTo an address with no connection rejects with ERR_NO_TCP_CONNECTION; too big a frame with ERR_INVALID_ARG_VALUE", async () => {
    const mux = await listen();
    const conn = mux.getConn("lonely");
    await expect(conn.writeTo(Buffer.from("x"), { address: "127.0.0.1", port: 9 })).rejects.toMatchObject({
      code: "ERR_NO_TCP_CONNECTION",
    });
    const c = await client(mux);
    c.socket.write(check("lonely:peer"));
    const from = await next(conn);
    await expect(conn.writeTo(Buffer.alloc(65_536), from)).rejects.toMatchObject({
      code: "ERR_INVALID_ARG_VALUE",
    });
  });

  it("drops (and counts) frames beyond maxWriteBufferBytes instead of buffering without bound", async () => {
    const mux = await listen({ maxWriteBufferBytes: 64 * 1024 });
    const conn = mux.getConn("slowreader");
    const c = await client(mux);
    c.socket.write(check("slowreader:peer"));
    const from = await next(conn);
    c.socket.pause(); // the peer stops reading: the kernel buffers fill, then the socket's own
    let dropped = 0;
    for (let i = 0; i < 2000 && dropped === 0; i++) {
      if ((await conn.writeTo(Buffer.alloc(16 * 1024), from)) === 0) dropped++;
    }
    expect(dropped).toBe(1);
    expect(mux.stats().writeDrops).toBe(1);
  });
});

describe("close", () => {
  it("closing the mux destroys every connection, pending ones too, and closes the server", async () => {
    const mux = await listen();
    mux.getConn("routed");
    const routed = await client(mux);
    routed.socket.write(check("routed:peer"));
    const pending = await client(mux);
    await until(() => mux.stats().tcpConnections === 1 && mux.stats().pendingConnections === 1);
    const accepting = mux.accept().catch((err: unknown) => err);
    const closed = once(mux, "close");
    await mux.close();
    await closed;
    await Promise.all([routed.closed, pending.closed]);
    expect(await accepting).toMatchObject({ code: "ERR_MUX_CLOSED" });
    expect(() => mux.getConn("late")).toThrow(expect.objectContaining({ code: "ERR_MUX_CLOSED" }));
    expect(mux.stats()).toMatchObject({ connections: 0, pendingConnections: 0 });
    // as UDPMux's: a closed mux listens nowhere, and an address read now would be advertised for nothing
    expect(() => mux.getListenAddresses()).toThrow(expect.objectContaining({ code: "ERR_MUX_CLOSED" }));
    await mux.close(); // idempotent
  });

  it("closing a conn closes its TCP connections; removeConnByUfrag too", async () => {
    const mux = await listen();
    const conn = mux.getConn("closeme");
    const c = await client(mux);
    c.socket.write(check("closeme:peer"));
    await next(conn);
    mux.removeConnByUfrag("closeme");
    await c.closed;
    expect(conn.closed).toBe(true);
    await until(() => mux.stats().tcpConnections === 0);
  });

  it("a peer closing its connection leaves the conn open, without that address", async () => {
    const mux = await listen();
    const conn = mux.getConn("stays");
    const c = await client(mux);
    c.socket.write(check("stays:peer"));
    const from = await next(conn);
    c.socket.end();
    await until(() => mux.stats().tcpConnections === 0);
    expect(conn.closed).toBe(false);
    await expect(conn.writeTo(Buffer.from("x"), from)).rejects.toMatchObject({
      code: "ERR_NO_TCP_CONNECTION",
    });
  });

  it("new TCPMux(server, { closeServer: false }) leaves the caller's server listening", async () => {
    const server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const mux = new TCPMux(server, { closeServer: false });
    mux.start();
    await mux.close();
    expect(server.listening).toBe(true);
    await new Promise((resolve) => server.close(resolve));
  });

  it("a dual-stack listener reports v4-mapped remotes as IPv4", async () => {
    const mux = await listen({ address: "::" });
    mux.getConn("dual", { address: "127.0.0.1" });
    const { port } = mux.getListenAddresses()[0]!;
    const socket = connect({ port, host: "127.0.0.1" });
    clients.push(socket);
    await once(socket, "connect");
    socket.write(check("dual:peer"));
    const packet = await next(mux.getConn("dual", { address: "127.0.0.1" }));
    expect(packet).toMatchObject({ address: "127.0.0.1", family: "IPv4" });
  });
});

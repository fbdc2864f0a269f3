/**
 * Hostile ICE-TCP peers (the table of attacks on `TCPMux`): each test mounts one attack over real
 * loopback connections and asserts the bound that contains it, and the counters' identity
 * (`received = delivered + dropped` once no frame waits in a pull queue).
 *
 * Run in a private network namespace (`unshare -n`), where all of 127.0.0.0/8 is on `lo`: clients bind to
 * 127.0.0.2, 127.0.0.3, … (`net.connect({ localAddress })`) to be distinct sources. Nothing leaves loopback.
 *
 * Memory is measured in this process after a forced GC (vitest runs the workers with `--expose-gc`):
 * `arrayBuffers` (Buffer storage, where frames live) and `heapUsed`. The attacker's client sockets live in
 * the same process, so a figure is the mux's cost plus the clients' (an upper bound on the mux's).
 * Descriptors are counted twice: the mux's own view (`pendingConnections + tcpConnections`) and, as a
 * cross-check, `/proc/self/fd` minus the client sockets this file holds open.
 */

import { once } from "node:events";
import { readdirSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sourceKey } from "../../src/address.js";
import {
  type MuxedConnection,
  type Packet,
  TCPMux,
  type TCPMuxOptions,
  type UDPMux,
} from "../../src/index.js";
import { frame } from "../../src/tcp/framing.js";
import { TCP_DEFAULTS } from "../../src/tcp/options.js";
import {
  bindingRequest,
  bindingSuccess,
  closeAll,
  sendTo,
  tcpLeakCheck,
  mux as udpMux,
  socket as udpSocket,
  until,
} from "../helpers.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const PASSWORD = "legitimatePassword0123456789"; // ICE passwords are 22–256 chars (RFC 8839 §5.4)

const gc = (globalThis as { gc?: () => void }).gc;

// ---- bookkeeping: everything a test opens is closed in afterEach --------------------------------------

const muxes: TCPMux[] = [];
const clients: Socket[] = [];
const loops: Promise<unknown>[] = [];

const leaks = tcpLeakCheck();
beforeEach(() => leaks.start());

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  const closing = muxes.splice(0);
  await Promise.all(closing.map((m) => m.close()));
  await Promise.all(loops.splice(0)); // accept loops end when their mux closes
  await closeAll(); // the UDP muxes and sockets of test/helpers.ts
  // Closing drops what waited in pull queues (counted `conn-closed`): the identity holds for every mux.
  for (const m of closing) expectCountersIdentity(m);
  // Every server and connection this test made is gone (closing is asynchronous: await it, bounded).
  await leaks.expectClosed(10_000);
});

/**
 * A started mux on a server of the test's own, so the test can watch every accepted connection:
 * `onConnection` runs right after the mux's own listener (the mux has counted, refused or evicted).
 */
async function listen(
  options: TCPMuxOptions & { host?: string } = {},
  onConnection?: (socket: Socket) => void,
): Promise<TCPMux> {
  const { host = "127.0.0.1", ...muxOptions } = options;
  const server = createServer();
  server.listen({ port: 0, host });
  await once(server, "listening");
  const mux = new TCPMux(server, muxOptions); // closeServer: true (the default): mux.close() closes it
  muxes.push(mux);
  mux.start();
  if (onConnection !== undefined) server.on("connection", onConnection);
  return mux;
}

interface Client {
  socket: Socket;
  /** Resolves once the socket is connected, or closed (refused by the mux before we saw it connect). */
  connected: Promise<void>;
  closed: Promise<void>;
}

/** A client connection from `localAddress` (a distinct source inside the private namespace). */
function open(mux: TCPMux, localAddress = "127.0.0.1"): Client {
  const { port, address } = mux.getListenAddresses()[0]!;
  const socket = connect({ port, host: address, localAddress, noDelay: true });
  clients.push(socket);
  socket.on("error", () => {}); // resets by the mux are the point of these tests: they assert on counters
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const connected = new Promise<void>((resolve) => {
    socket.once("connect", () => resolve());
    socket.once("close", () => resolve());
  });
  return { socket, connected, closed };
}

const check = (username: string, password?: string) => frame(bindingRequest(username, password))!;

/** `received = delivered + dropped` (valid while no frame waits in a pull queue); the by-reason sums agree. */
function expectCountersIdentity(m: TCPMux): void {
  const s = m.stats();
  const sum = (r: Partial<Record<string, number>>) =>
    Object.values(r).reduce((a: number, n) => a + (n ?? 0), 0);
  expect(sum(s.droppedByReason), "droppedByReason sums to dropped").toBe(s.dropped);
  expect(sum(s.rejectedByReason), "rejectedByReason sums to rejected").toBe(s.rejected);
  expect(s.received, `received ${s.received} = delivered ${s.delivered} + dropped ${s.dropped}`).toBe(
    s.delivered + s.dropped,
  );
}

function expectUdpCountersIdentity(m: UDPMux): void {
  const s = m.stats();
  expect(s.unrouted).toBe(0);
  expect(s.received).toBe(s.delivered + s.dropped);
}

/** Retained memory after a forced GC. */
function memory(): { buffers: number; heap: number } {
  expect(gc, "vitest must run the workers with --expose-gc (vitest.config.ts execArgv)").toBeTypeOf(
    "function",
  );
  gc!();
  gc!();
  const { arrayBuffers, heapUsed } = process.memoryUsage();
  return { buffers: arrayBuffers, heap: heapUsed };
}

const kib = (bytes: number) => `${(bytes / KiB).toFixed(0)} KiB`;

/** Descriptors open in this process (the directory handle of the listing itself included, every time). */
const fds = () => readdirSync("/proc/self/fd").length;
/** Client sockets this file holds open (a destroyed socket's descriptor is closed at once). */
const openClients = () => clients.reduce((n, c) => n + (c.destroyed ? 0 : 1), 0);

const tick = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The next frame a conn reads (pull mode), bounded. */
const next = (conn: MuxedConnection, ms = 5000): Promise<Packet> =>
  conn.readFrom({ signal: AbortSignal.timeout(ms) });

/** A rejection's error (the promise must reject). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (err: unknown) => err,
  );
}

// ---- the attacks ----------------------------------------------------------------------------------

describe("the bounds under attack", () => {
  it("are the documented defaults", () => {
    expect(TCP_DEFAULTS).toMatchObject({
      maxPendingConnections: 256,
      maxPendingPerAddress: 16,
      maxUnverifiedPerAddress: 48,
      maxTcpConnections: 1024,
      maxAddressesPerUfrag: 32,
      firstFrameTimeoutMs: 5000,
      maxFirstFrameSize: 2048,
      frameTimeoutMs: 10_000,
      maxQueuedBytes: 256 * KiB,
      maxQueuedPackets: 128,
    });
  });
});

describe("row 2: slow drip (slowloris) costs what the frames cost", () => {
  /**
   * A Binding Request of exactly `size` bytes: an unsigned check for `username` padded with one
   * comprehension-optional attribute of an unknown type (a parser skips it, RFC 5389 §15).
   */
  function paddedCheck(username: string, size: number): Buffer {
    const base = bindingRequest(username); // header + USERNAME, no MESSAGE-INTEGRITY, no FINGERPRINT
    const pad = size - base.length - 4;
    const attr = Buffer.alloc(4 + pad, 0x61);
    attr.writeUInt16BE(0xc0de, 0); // unknown, comprehension-optional (0x8000–0xFFFF)
    attr.writeUInt16BE(pad, 2);
    const msg = Buffer.concat([base, attr]);
    msg.writeUInt16BE(msg.length - 20, 2);
    return msg;
  }

  it("32 pending connections dripping a 2,048-byte first frame one byte per segment: ≤ 1 MiB", async () => {
    const serverSide: Socket[] = [];
    let reads = 0;
    // The deadline is raised so a loaded machine can't turn this memory test into a timeout test; the
    // frame-size bound (maxFirstFrameSize, 2048) is the default.
    const mux = await listen({ firstFrameTimeoutMs: 60_000 }, (s) => {
      serverSide.push(s);
      s.on("data", () => reads++);
    });
    expect(TCP_DEFAULTS.maxFirstFrameSize).toBe(2048);
    const frames = Array.from({ length: 32 }, (_, i) => frame(paddedCheck(`drip${i}:peer`, 2048))!);
    expect(frames[0]!.length).toBe(2050); // header + 2,048 bytes
    const before = memory();

    // 4 sources × 8 connections (the per-source pending cap is 16).
    const conns = frames.map((_, i) => open(mux, `127.0.0.${2 + (i % 4)}`));
    await Promise.all(conns.map((c) => c.connected));
    await until(() => mux.stats().pendingConnections === 32, 5000);
    const connected = memory();

    const started = Date.now();
    for (let at = 0; at < 2049; at++) {
      for (let i = 0; i < 32; i++) conns[i]!.socket.write(frames[i]!.subarray(at, at + 1));
      await tick(); // the mux reads between rounds: one byte per segment, per read
    }
    await until(() => serverSide.length === 32 && serverSide.every((s) => s.bytesRead === 2049), 10_000);
    const dripMs = Date.now() - started;
    expect(mux.stats()).toMatchObject({ pendingConnections: 32, received: 0, tcpConnections: 0 });
    const during = memory();
    const growth = during.buffers - before.buffers + (during.heap - before.heap);
    const dripGrowth = during.buffers - connected.buffers + (during.heap - connected.heap);
    console.log(
      `row 2 (first frame): 32 pending connections, 2,049 of 2,050 bytes dripped each in ${dripMs} ms ` +
        `(${(reads / 32).toFixed(0)} reads per connection): growth ${kib(growth)} in all ` +
        `(arrayBuffers ${kib(during.buffers - before.buffers)}, heap ${kib(during.heap - before.heap)}; ` +
        `clients included), of which the connections ${kib(connected.buffers - before.buffers + connected.heap - before.heap)} ` +
        `and the drip ${kib(dripGrowth)} (arrayBuffers ${kib(during.buffers - connected.buffers)}, ` +
        `heap ${kib(during.heap - connected.heap)})`,
    );
    expect(reads / 32, "the frames really came in pieces").toBeGreaterThan(256);
    expect(growth).toBeLessThanOrEqual(1 * MiB);

    // The last byte: every frame is whole, routed, and is the very check that was dripped.
    for (let i = 0; i < 32; i++) conns[i]!.socket.write(frames[i]!.subarray(2049));
    await until(() => mux.stats().received === 32, 5000);
    expect(mux.stats()).toMatchObject({ tcpConnections: 32, pendingConnections: 0, acceptQueue: 32 });
    for (let i = 0; i < 32; i++) {
      const candidate = await mux.accept({ signal: AbortSignal.timeout(2000) });
      const packet = await next(mux.getConn(candidate.localUfrag));
      expect(packet.data).toEqual(frames[Number(candidate.localUfrag.slice(4))]!.subarray(2));
    }
    expectCountersIdentity(mux);
  }, 60_000);

  it("8 authenticated connections dripping one 64 KiB frame each: ≤ 1.5 MiB, all closed at frameTimeoutMs", async () => {
    expect(TCP_DEFAULTS.frameTimeoutMs).toBe(10_000); // shortened below to keep the test short
    const frameTimeoutMs = 3000;
    const serverSide: Socket[] = [];
    const mux = await listen({ frameTimeoutMs }, (s) => serverSide.push(s));
    const conn = mux.getConn("authed", undefined, { password: PASSWORD });
    let delivered = 0;
    conn.on("message", () => delivered++);
    const before = memory();

    const conns = Array.from({ length: 8 }, () => open(mux, "127.0.0.4"));
    for (const c of conns) c.socket.write(check("authed:peer", PASSWORD));
    await until(() => delivered === 8, 5000);
    expect(mux.stats()).toMatchObject({ tcpConnections: 8, received: 8 });

    // Each announces 65,535 bytes, then drips one byte per millisecond for up to 20 s.
    const started = Date.now();
    const closedAt: number[] = [];
    const drips = conns.map((c) => {
      c.socket.write(Buffer.from([0xff, 0xff]));
      void c.closed.then(() => closedAt.push(Date.now() - started));
      const drip = setInterval(() => {
        if (!c.socket.destroyed && Date.now() - started < 20_000) c.socket.write(Buffer.from([0x42]));
      }, 1);
      return drip;
    });
    try {
      await sleep(1000);
      await until(() => serverSide.every((s) => s.bytesRead > 500), 5000); // well into the frames
      const during = memory();
      const growth = during.buffers - before.buffers + (during.heap - before.heap);
      const dripped = serverSide.reduce((n, s) => n + s.bytesRead, 0);
      console.log(
        `row 2 (later frames): 8 verified connections, ${dripped} bytes dripped into 65,535-byte frames: ` +
          `growth ${kib(growth)} (arrayBuffers ${kib(during.buffers - before.buffers)}, ` +
          `heap ${kib(during.heap - before.heap)}), clients included`,
      );
      expect(growth).toBeLessThanOrEqual(1.5 * MiB);
      expect(mux.stats().tcpConnections).toBe(8); // still within their deadline

      await Promise.all(conns.map((c) => c.closed));
    } finally {
      for (const d of drips) clearInterval(d);
    }
    console.log(
      `row 2 (later frames): closed ${Math.min(...closedAt)}–${Math.max(...closedAt)} ms after the frame began ` +
        `(frameTimeoutMs ${frameTimeoutMs}, swept every second)`,
    );
    // A deadline, not an idle timer: closed although bytes kept coming; no earlier than the deadline,
    // and within the 1 s sweep (plus slack for a loaded machine).
    expect(Math.min(...closedAt)).toBeGreaterThanOrEqual(frameTimeoutMs - 50);
    expect(Math.max(...closedAt)).toBeLessThanOrEqual(frameTimeoutMs + 1000 + 3000);
    await until(() => mux.stats().tcpConnections === 0, 5000);
    expect(mux.stats().rejectedByReason).toEqual({ "frame-timeout": 8 });
    expect(mux.stats()).toMatchObject({ received: 8, delivered: 8, dropped: 0 });
    expectCountersIdentity(mux);
  }, 40_000);
});

describe("row 3: ufrag squatting (an unsigned first check before the agent claims its ufrag)", () => {
  it("TCP: nothing the squatter sent is delivered, its connection is closed, accept() doesn't yield it", async () => {
    const mux = await listen();
    const squatter = open(mux, "127.0.0.3");
    squatter.socket.write(Buffer.concat([check("victim:squat"), frame(Buffer.from("squatter data"))!]));
    await until(() => mux.stats().received === 2, 5000);
    expect(mux.stats()).toMatchObject({ connections: 1, tcpConnections: 1, acceptQueue: 1 });

    const conn = mux.getConn("victim", undefined, { password: PASSWORD });
    expect(mux.stats().acceptQueue).toBe(0); // row 7: the claim took the candidate out of the queue
    await squatter.closed;
    expect(mux.stats().droppedByReason).toEqual({ unverified: 2 });
    expect(mux.stats().rejectedByReason).toEqual({ unverified: 1 });
    expect(await rejection(next(conn, 300))).toMatchObject({ name: "TimeoutError" });

    // The squatter comes back unsigned: refused now that the conn has a password.
    const again = open(mux, "127.0.0.3");
    again.socket.write(check("victim:squat"));
    await again.closed;
    expect(mux.stats().rejectedByReason).toMatchObject({ "integrity-failed": 1 });

    // The real peer's signed check and data are delivered, from its own address.
    const legit = open(mux, "127.0.0.2");
    legit.socket.write(Buffer.concat([check("victim:legit", PASSWORD), frame(Buffer.from("legit data"))!]));
    const first = await next(conn);
    expect(first).toMatchObject({ address: "127.0.0.2", port: legit.socket.localPort });
    expect(first.data.readUInt16BE(0)).toBe(0x0001); // the Binding Request
    expect((await next(conn)).data.toString()).toBe("legit data");
    expect(await rejection(mux.accept({ signal: AbortSignal.timeout(300) }))).toMatchObject({
      name: "TimeoutError",
    });
    expect(mux.stats()).toMatchObject({ acceptQueue: 0, tcpConnections: 1, delivered: 2 });
    expectCountersIdentity(mux);
  });

  it("UDP: nothing the squatter sent is delivered, its later datagrams are dropped, accept() doesn't yield it", async () => {
    const m = await udpMux();
    const squatter = await udpSocket();
    const legit = await udpSocket();
    const data = (text: string) => Buffer.concat([Buffer.from([0x17, 0xfe, 0xfd]), Buffer.from(text)]);
    await sendTo(m, squatter, bindingRequest("victim:squat"));
    await sendTo(m, squatter, data("squatter data"));
    expect(m.stats()).toMatchObject({ connections: 1, acceptQueue: 1, received: 2 });

    const conn = m.getConn("victim", undefined, { password: PASSWORD });
    expect(m.stats().acceptQueue).toBe(0);
    const got: { msg: Buffer; port: number }[] = [];
    conn.on("message", (msg, rinfo) => got.push({ msg: Buffer.from(msg), port: rinfo.port }));
    expect(m.stats().addresses).toBe(0); // the squatter's weak association is gone
    // Its later datagrams come from an address no conn has: dropped (README: `not-stun` for non-STUN,
    // `unknown-address` for STUN that is no check and matches no transaction).
    await sendTo(m, squatter, data("squatter later"));
    await sendTo(m, squatter, bindingSuccess(bindingRequest("x:y"), { address: "127.0.0.1", port: 9 }));
    expect(m.stats().droppedByReason).toEqual({ unverified: 2, "not-stun": 1, "unknown-address": 1 });

    await sendTo(m, legit, bindingRequest("victim:legit", PASSWORD));
    await sendTo(m, legit, data("legit data"));
    await sendTo(m, squatter, data("squatter still"));
    expect(got.map((g) => g.port)).toEqual([legit.address().port, legit.address().port]);
    expect(got[1]!.msg.subarray(3).toString()).toBe("legit data");
    expect(m.stats().droppedByReason).toEqual({ unverified: 2, "not-stun": 2, "unknown-address": 1 });
    expect(m.stats().addresses).toBe(1); // the legitimate peer's
    expect(await rejection(m.accept({ signal: AbortSignal.timeout(300) }))).toMatchObject({
      name: "TimeoutError",
    });
    expectUdpCountersIdentity(m);
  });
});

describe("row 4: one source without credentials", () => {
  it.each([
    { accepting: false, routed: 32 },
    { accepting: true, routed: 48 },
  ])(
    "32 ufrags × 32 connections + idle ones from 127.0.0.1 (accept loop: $accepting) hold ≤ 64 descriptors",
    async ({ accepting, routed }) => {
      let peakStats = 0;
      let peakFds = 0;
      let fdBase = 0;
      const sample = (m: TCPMux) => {
        const s = m.stats();
        peakStats = Math.max(peakStats, s.pendingConnections + s.tcpConnections);
        peakFds = Math.max(peakFds, fds() - fdBase - openClients());
      };
      // Unclaimed conns would expire after 10 s; a slow machine must not turn that into fewer connections.
      const mux: TCPMux = await listen({ acceptTimeoutMs: 120_000 }, () => sample(mux));
      let candidates = 0;
      if (accepting) {
        loops.push(
          (async () => {
            for await (const _ of mux) candidates++; // claimed, never given a password
          })(),
        );
      }
      fdBase = fds() - openClients();
      const ufrags = Array.from({ length: 32 }, (_, i) => `squat${String(i).padStart(2, "0")}`);

      /** Open `batch` connections sending one unsigned check each, and wait until the mux decided them all. */
      let opened = 0;
      const attack = async (usernames: string[]) => {
        for (let at = 0; at < usernames.length; at += 8) {
          const batch = usernames.slice(at, at + 8).map((u) => {
            const c = open(mux);
            c.socket.write(check(`${u}:attacker`));
            return c;
          });
          opened += batch.length;
          await Promise.all(batch.map((c) => c.connected));
          await until(() => mux.stats().accepted === opened && mux.stats().pendingConnections === 0, 10_000);
        }
      };
      const started = Date.now();
      await attack(ufrags); // first contact: one conn per ufrag
      if (accepting) await until(() => candidates === 32 && mux.stats().acceptQueue === 0, 5000);
      await attack(ufrags.flatMap((u) => Array.from({ length: 31 }, () => u)));
      // Then idle connections, more than a source may keep pending.
      const idle = Array.from({ length: 24 }, () => open(mux));
      opened += idle.length;
      await Promise.all(idle.map((c) => c.connected));
      await until(() => mux.stats().accepted === opened, 10_000);
      const attackMs = Date.now() - started;

      const s = mux.stats();
      expect(s).toMatchObject({ tcpConnections: routed, pendingConnections: 16 });
      expect(s.rejectedByReason["pending-limit-per-address"]).toBe(8);
      if (accepting) {
        expect(s.rejectedByReason["unverified-limit"]).toBe(32 * 31 - 16);
        expect(s.rejectedByReason["address-cap"]).toBeUndefined();
      } else {
        expect(s.rejectedByReason["address-cap"]).toBe(32 * 31);
        expect(s.rejectedByReason["unverified-limit"]).toBeUndefined();
      }
      // Settled: each of the mux's descriptors has its client end here, and the listing agrees.
      await until(() => openClients() === routed + 16, 10_000).catch(() => {});
      const muxFds = fds() - fdBase - openClients();
      console.log(
        `row 4 (accept loop ${accepting}): ${opened} connections from 127.0.0.1 in ${attackMs} ms; ` +
          `peak ${peakStats} (pending + routed), peak ${peakFds} by /proc/self/fd; now ${muxFds} descriptors, ` +
          `${s.tcpConnections} routed + ${s.pendingConnections} pending; rejected ${JSON.stringify(s.rejectedByReason)}`,
      );
      expect(openClients()).toBe(routed + 16);
      expect(muxFds).toBe(routed + 16);
      expect(peakStats).toBeLessThanOrEqual(64);
      expect(peakFds).toBeLessThanOrEqual(64);

      // A legitimate, signed check from another source still connects.
      const conn = mux.getConn("legit", undefined, { password: PASSWORD });
      const legit = open(mux, "127.0.0.2");
      legit.socket.write(check("legit:peer", PASSWORD));
      expect(await next(conn)).toMatchObject({ address: "127.0.0.2", port: legit.socket.localPort });
      expect(mux.stats().tcpConnections).toBe(routed + 1);
      // (The identity is asserted after close, in afterEach: the squatters' checks wait in their conns.)
    },
    60_000,
  );
});

describe("row 5: every pending slot held by idle connections", () => {
  it("256 idle connections from 16 sources, reconnecting as they are evicted, can't keep a signed check out", async () => {
    let peakPending = 0;
    const mux: TCPMux = await listen({}, () => {
      peakPending = Math.max(peakPending, mux.stats().pendingConnections);
    });
    let churning = true;
    let reconnects = 0;
    const attacker = (ip: string): Client => {
      const c = open(mux, ip);
      void c.closed.then(() => {
        if (!churning) return;
        reconnects++;
        attacker(ip);
      });
      return c;
    };
    const first: Client[] = [];
    for (let ip = 2; ip <= 17; ip++) for (let i = 0; i < 16; i++) first.push(attacker(`127.0.0.${ip}`));
    await Promise.all(first.map((c) => c.connected));
    await until(() => mux.stats().pendingConnections === 256, 10_000);
    expect(mux.stats().rejected).toBe(0); // 16 per source fit the per-source cap exactly
    // One more from a 17th source starts the churn: each connection evicts the oldest, which reconnects.
    const churnStarted = Date.now();
    attacker("127.0.0.18");
    await until(() => (mux.stats().rejectedByReason["pending-evicted"] ?? 0) >= 300, 10_000);
    await sleep(1000); // churning for a second or more before the real peer comes

    const conn = mux.getConn("legit", undefined, { password: PASSWORD });
    const legit = open(mux, "127.0.0.100");
    legit.socket.write(check("legit:peer", PASSWORD)); // sent as soon as the connection opens
    const evictedBefore = mux.stats().rejectedByReason["pending-evicted"]!;
    const packet = await next(conn);
    const evictedDuring = mux.stats().rejectedByReason["pending-evicted"]! - evictedBefore;
    churning = false;
    const churnMs = Date.now() - churnStarted;
    expect(packet).toMatchObject({ address: "127.0.0.100", port: legit.socket.localPort });
    expect(legit.socket.destroyed).toBe(false);

    const s = mux.stats();
    console.log(
      `row 5: ${reconnects} reconnects in ${churnMs} ms, ${s.rejectedByReason["pending-evicted"]} evicted ` +
        `(${evictedDuring} while the legitimate check was read), peak pending ${peakPending}; ` +
        `rejected ${JSON.stringify(s.rejectedByReason)}`,
    );
    expect(peakPending).toBeLessThanOrEqual(256);
    expect(s.pendingConnections).toBeLessThanOrEqual(256);
    expect(s).toMatchObject({ tcpConnections: 1, delivered: 1, received: 1 });
    expect(s.rejectedByReason["pending-limit-per-address"]).toBeUndefined();
    expectCountersIdentity(mux);
  }, 60_000);

  it("IPv6: a source is a /64, so many addresses of one host share one per-source cap", async () => {
    expect(sourceKey("2001:db8::1")).toBe(sourceKey("2001:db8::ffff:1"));
    expect(sourceKey("2001:db8::1")).toBe(sourceKey("2001:db8:0:0:abcd:ef01:2345:6789"));
    expect(sourceKey("2001:db8::1")).not.toBe(sourceKey("2001:db8:0:1::1")); // another /64
    expect(sourceKey("2001:db8::1")).not.toBe(sourceKey("2001:db9::1"));
    expect(sourceKey("::ffff:127.0.0.2")).toBe(sourceKey("127.0.0.2")); // v4-mapped is the IPv4 source
    expect(sourceKey("127.0.0.2")).not.toBe(sourceKey("127.0.0.3"));

    // Only ::1 exists in the namespace: 17 connections from it, the 17th refused.
    const mux = await listen({ host: "::1" });
    const conns = Array.from({ length: 17 }, () => open(mux, "::1"));
    await Promise.all(conns.map((c) => c.connected));
    await until(() => mux.stats().accepted === 17, 5000);
    expect(mux.stats()).toMatchObject({
      pendingConnections: 16,
      rejectedByReason: { "pending-limit-per-address": 1 },
    });
    expectCountersIdentity(mux);
  });
});

describe("row 9: a frame read after a listener closed its conn", () => {
  it("is counted dropped (conn-closed), and the identity holds", async () => {
    const mux = await listen();
    const conn = mux.getConn("closer");
    const got: Buffer[] = [];
    conn.on("message", (msg) => {
      got.push(Buffer.from(msg));
      if (msg[0] === 0x17) conn.close(); // the first data frame
    });
    const c = open(mux);
    await c.connected;
    // One write, one segment: the mux reads all three frames from one chunk.
    c.socket.write(
      Buffer.concat([check("closer:peer"), frame(Buffer.from([0x17, 1]))!, frame(Buffer.from([0x17, 2]))!]),
    );
    await c.closed;
    await until(() => mux.stats().received === 3, 5000);
    expect(got.map((m) => m[0])).toEqual([0x00, 0x17]);
    expect(conn.closed).toBe(true);
    expect(mux.stats()).toMatchObject({
      received: 3,
      delivered: 2,
      dropped: 1,
      droppedByReason: { "conn-closed": 1 },
    });
    expectCountersIdentity(mux);
  });
});

describe("pull-queue backpressure", () => {
  it("a conn nobody reads pauses its connection at maxQueuedBytes; every frame arrives later, in order", async () => {
    const FRAME = 16 * KiB;
    const COUNT = 256; // 4 MiB
    const payload = (i: number) => {
      const b = Buffer.alloc(FRAME, i & 0xff);
      b.writeUInt32BE(i, 0);
      b.writeUInt32BE(Math.imul(i + 1, 2654435761) >>> 0, FRAME - 4); // a different tail per frame
      return b;
    };
    const mux = await listen();
    const conn = mux.getConn("slow");
    const c = open(mux);
    c.socket.write(check("slow:peer"));
    await until(() => mux.stats().tcpConnections === 1, 5000);
    const before = memory();

    let written = 0;
    const writer = (async () => {
      for (let i = 0; i < COUNT; i++) {
        if (!c.socket.write(frame(payload(i))!)) await once(c.socket, "drain");
        written++;
      }
    })();
    let writerDone = false;
    void writer.then(() => {
      writerDone = true;
    });
    await until(() => mux.stats().pausedConnections === 1, 10_000);
    // Until the writer is done or stalled (TCP flow control): what the kernel buffers is not ours to count.
    for (let last = -1; !writerDone && written !== last; ) {
      last = written;
      await sleep(300);
    }
    const during = memory();
    const s = mux.stats();
    console.log(
      `backpressure: ${written}/${COUNT} frames written (${kib(written * FRAME)}) by the time the writer ` +
        `${writerDone ? "finished" : "stalled"}; the mux received ${s.received - 1}, queued ${kib(conn.queuedBytes)}; ` +
        `growth arrayBuffers ${kib(during.buffers - before.buffers)}, heap ${kib(during.heap - before.heap)}`,
    );
    expect(s).toMatchObject({ pausedConnections: 1, dropped: 0 });
    expect(conn.queuedBytes).toBeLessThanOrEqual(TCP_DEFAULTS.maxQueuedBytes + FRAME);
    expect(during.buffers - before.buffers).toBeLessThanOrEqual(1 * MiB);
    expect(during.heap - before.heap).toBeLessThanOrEqual(1 * MiB);

    expect((await next(conn)).data.readUInt16BE(0)).toBe(0x0001); // the check
    for (let i = 0; i < COUNT; i++) {
      const packet = await next(conn);
      if (!packet.data.equals(payload(i))) {
        expect.fail(`frame ${i}: ${packet.data.length} bytes, starting ${packet.data.readUInt32BE(0)}`);
      }
    }
    await writer;
    await until(() => mux.stats().pausedConnections === 0, 5000);
    expect(mux.stats()).toMatchObject({ received: COUNT + 1, delivered: COUNT + 1, dropped: 0 });
    expectCountersIdentity(mux);
  }, 60_000);
});

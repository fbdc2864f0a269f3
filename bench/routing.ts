/**
 * In-process routing cost: dgram-shaped `'message'` events emitted on the mux's socket (what `dgram` does
 * after the kernel), against the same events on a bare socket with the same handler. Rounds alternate
 * bare/mux and are timed in CPU time; the routing cost is the median of the per-round differences.
 *
 * Every datagram gets a fresh `rinfo` with a freshly built address string, as `dgram` hands out, so the
 * mux pays for hashing a new string exactly as it does on a live socket.
 */
import type { Socket } from "node:dgram";
import type { MuxedConnection } from "../src/index.js";
import { UDPMux } from "../src/index.js";
import { bindingRequest, LOOPBACK, MEDIA_BYTES, mediaDatagram, rinfo, ufrag } from "./lib/fixtures.js";
import { bindLoopback, bindMuxSocket, closeSocket } from "./lib/socket.js";
import { cpuNs, median } from "./lib/stats.js";

/** Registered conns k use remote ports BASE_PORT + k. */
const BASE_PORT = 10_000;
/** The address as two parts joined per datagram: a new string each time, like dgram's rinfo. */
const ADDRESS_PARTS = [LOOPBACK.slice(0, 8), LOOPBACK.slice(8)];

export interface RoutingCost {
  /** CPU ns per datagram through a bare socket's handler (emit + handler). */
  bareNs: number;
  /** CPU ns per datagram through the mux to a conn's `'message'` listener. */
  muxNs: number;
  /** What the mux adds: median of per-round (mux − bare). */
  routingNs: number;
}

export interface RoutingPoint extends RoutingCost {
  /** Registered conns, each with one associated address. */
  conns: number;
  /** Traffic from 64 of them (like the socket benchmark's 64 senders): the mux's lookups, its caches warm. */
  active: number;
  /** Traffic from every registered conn in turn: each datagram touches a conn whose state is cold. */
  allActive: RoutingCost;
}

/** Senders in the hot-set case, as many as the socket benchmark's sender sockets. */
const HOT_SET = 64;

export interface PullPoint {
  conns: number;
  bareNs: number;
  /** CPU ns per datagram, bursts of 64 then 64 × `await conn.readFrom()`. */
  readFromNs: number;
  /** Same through `for await (const packet of conn)`'s iterator. */
  iteratorNs: number;
}

export interface FirstContactResult {
  /** CPU ns per new peer: parse, validate, create conn, associate, queue candidate, `accept()`. */
  nsPerContact: number;
  perSecond: number;
}

let received = 0;
let bytes = 0;
/** The user's handler, identical for the bare socket and the conns. */
const handler = (msg: Buffer): void => {
  received++;
  bytes += msg.length;
};

/** Emit `count` datagrams on `socket`, cycling through `conns` source ports from `firstPort`. */
function pump(socket: Socket, msg: Buffer, firstPort: number, conns: number, count: number): void {
  const [prefix, suffix] = ADDRESS_PARTS;
  for (let k = 0, i = 0; k < count; k++) {
    socket.emit("message", msg, {
      address: prefix! + suffix!,
      family: "IPv4",
      port: firstPort + i,
      size: MEDIA_BYTES,
    });
    if (++i === conns) i = 0;
  }
}

/** A started mux over its own loopback socket with `count` conns, conn k associated with port BASE+k. */
export async function muxWithConns(
  count: number,
  listen: boolean,
): Promise<{ mux: UDPMux; socket: Socket; conns: MuxedConnection[] }> {
  const socket = await bindMuxSocket();
  const mux = new UDPMux(socket, { maxConnections: Math.max(count, 10_000) });
  mux.start();
  const conns: MuxedConnection[] = [];
  for (let k = 0; k < count; k++) {
    const local = ufrag(k, "m");
    const conn = mux.getConn(local);
    if (listen) conn.on("message", handler);
    // A real connectivity check from the peer's address associates it (RFC 8445 §7.2.2 USERNAME).
    socket.emit("message", bindingRequest(local, ufrag(k, "r")), rinfo(BASE_PORT + k, 0));
    conns.push(conn);
  }
  if (!listen) for (const conn of conns) await conn.readFrom(); // take the check out of the queue
  const stats = mux.stats();
  if (stats.addresses !== count || stats.connections !== count) {
    throw new Error(`expected ${count} conns with one address each, got ${JSON.stringify(stats)}`);
  }
  return { mux, socket, conns };
}

export async function benchRoutingPush(counts: readonly number[], quick: boolean): Promise<RoutingPoint[]> {
  const rounds = quick ? 3 : 15;
  const batch = quick ? 50_000 : 200_000;
  const msg = mediaDatagram();
  const bare = await bindLoopback();
  bare.on("message", handler);
  const out: RoutingPoint[] = [];
  try {
    for (const conns of counts) {
      const { mux, socket } = await muxWithConns(conns, true);
      const cost = (active: number): RoutingCost => {
        // Warm up both paths (JIT) before timing.
        pump(bare, msg, BASE_PORT, active, batch);
        pump(socket, msg, BASE_PORT, active, batch);
        const bareNs: number[] = [];
        const muxNs: number[] = [];
        const diff: number[] = [];
        for (let r = 0; r < rounds; r++) {
          let t = process.cpuUsage();
          pump(bare, msg, BASE_PORT, active, batch);
          const b = cpuNs(t) / batch;
          const before = mux.stats().delivered;
          t = process.cpuUsage();
          pump(socket, msg, BASE_PORT, active, batch);
          const m = cpuNs(t) / batch;
          if (mux.stats().delivered - before !== batch)
            throw new Error("the mux did not deliver every datagram");
          bareNs.push(b);
          muxNs.push(m);
          diff.push(m - b);
        }
        return { bareNs: median(bareNs), muxNs: median(muxNs), routingNs: median(diff) };
      };
      try {
        const active = Math.min(conns, HOT_SET);
        out.push({ conns, active, ...cost(active), allActive: cost(conns) });
      } finally {
        await mux.close();
      }
    }
  } finally {
    await closeSocket(bare);
  }
  return out;
}

const BURST = 64;

export async function benchRoutingPull(counts: readonly number[], quick: boolean): Promise<PullPoint[]> {
  const rounds = quick ? 3 : 9;
  const bursts = quick ? 300 : 1500;
  const msg = mediaDatagram();
  const bare = await bindLoopback();
  bare.on("message", handler);
  const out: PullPoint[] = [];
  try {
    for (const conns of counts) {
      const { mux, socket, conns: list } = await muxWithConns(conns, false);
      const iterators = new Map<number, AsyncIterator<unknown>>();
      const runBare = () => {
        for (let b = 0; b < bursts; b++) pump(bare, msg, BASE_PORT, 1, BURST);
      };
      const runReadFrom = async () => {
        for (let b = 0; b < bursts; b++) {
          const k = b % conns;
          pump(socket, msg, BASE_PORT + k, 1, BURST);
          const conn = list[k]!;
          for (let i = 0; i < BURST; i++) handler((await conn.readFrom()).data);
        }
      };
      const runIterator = async () => {
        for (let b = 0; b < bursts; b++) {
          const k = b % conns;
          let it = iterators.get(k);
          if (it === undefined) {
            it = list[k]![Symbol.asyncIterator]();
            iterators.set(k, it);
          }
          pump(socket, msg, BASE_PORT + k, 1, BURST);
          for (let i = 0; i < BURST; i++) handler(((await it.next()).value as { data: Buffer }).data);
        }
      };
      try {
        runBare();
        await runReadFrom();
        await runIterator();
        const n = bursts * BURST;
        const bareNs: number[] = [];
        const readNs: number[] = [];
        const iterNs: number[] = [];
        for (let r = 0; r < rounds; r++) {
          let t = process.cpuUsage();
          runBare();
          bareNs.push(cpuNs(t) / n);
          t = process.cpuUsage();
          await runReadFrom();
          readNs.push(cpuNs(t) / n);
          t = process.cpuUsage();
          await runIterator();
          iterNs.push(cpuNs(t) / n);
        }
        const dropped = mux.stats().dropped;
        if (dropped !== 0) throw new Error(`pull bench dropped ${dropped} datagrams`);
        out.push({ conns, bareNs: median(bareNs), readFromNs: median(readNs), iteratorNs: median(iterNs) });
      } finally {
        for (const it of iterators.values()) await it.return?.();
        await mux.close();
      }
    }
  } finally {
    await closeSocket(bare);
  }
  return out;
}

/** New peers per second: Binding Requests with unknown ufrags, each accepted. */
export async function benchFirstContact(quick: boolean): Promise<FirstContactResult> {
  const rounds = quick ? 3 : 7;
  const perRound = quick ? 1024 : 4096;
  const wave = 32; // the default accept queue
  const checks = Array.from({ length: perRound }, (_, k) => bindingRequest(ufrag(k, "n"), ufrag(k, "p")));
  const samples: number[] = [];
  for (let r = 0; r < rounds + 1; r++) {
    const socket = await bindMuxSocket();
    const mux = new UDPMux(socket);
    mux.start();
    let ns = 0;
    for (let base = 0; base < perRound; base += wave) {
      const t = process.cpuUsage();
      for (let k = base; k < base + wave; k++) socket.emit("message", checks[k]!, rinfo(BASE_PORT + k, 0));
      for (let k = 0; k < wave; k++) await mux.accept();
      ns += cpuNs(t);
    }
    const stats = mux.stats();
    if (stats.connections !== perRound || stats.dropped !== 0) {
      throw new Error(`first contact: expected ${perRound} conns, got ${JSON.stringify(stats)}`);
    }
    await mux.close();
    if (r > 0) samples.push(ns / perRound); // round 0 warms up
  }
  const nsPerContact = median(samples);
  return { nsPerContact, perSecond: 1e9 / nsPerContact };
}

export function routingSink(): number {
  return received + bytes;
}

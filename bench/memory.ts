/**
 * Heap measurements, run in a child process started with `--expose-gc` (and a semi-space large enough
 * that no scavenge runs inside a measured window). Prints one JSON line:
 *
 * - bytes of heap per idle conn, at 10,000 conns, each with one associated address (associated by
 *   `writeTo`, as an agent's first check does);
 * - bytes allocated per datagram on the associated-address path (push mode), mux and bare socket, plus a
 *   control handler that allocates a known 16-byte object, to show the method sees allocations;
 * - bytes of heap per connected werift (0.25) RTCPeerConnection pair — a server pc attached to one mux, or
 *   on its own socket, and a plain client pc, data channel open — so that the difference is what attaching
 *   costs a pc. Heap without code space, once closed pcs' leftovers are gone; after a warm-up round of
 *   each mode, 4 rounds alternating which mode goes first; means.
 */
import type { Socket } from "node:dgram";
import { getHeapSpaceStatistics } from "node:v8";
import { UDPMux } from "../src/index.js";
import { bindingRequest, LOOPBACK, MEDIA_BYTES, mediaDatagram, rinfo, ufrag } from "./lib/fixtures.js";
import { connectedPcPair, type PcPair } from "./lib/pc.js";
import { bindLoopback, bindMuxSocket, closeSocket } from "./lib/socket.js";
import { median } from "./lib/stats.js";

const gc = (globalThis as { gc?: () => void }).gc;

export interface MemoryResult {
  conns: number;
  heapBytesPerConn: number;
  allocBytesPerDatagram: { mux: number; bare: number; control: number };
  /** Heap per connected pc pair (server pc + plain client pc); `mux` has the server pc attached. */
  heapBytesPerPcPair: { pairs: number; mux: number; own: number };
}

function heapAfterGc(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

async function heapPerConn(conns: number): Promise<number> {
  const socket = await bindMuxSocket();
  const mux = new UDPMux(socket, { maxConnections: conns });
  mux.start();
  const one = Buffer.from([0x80]);
  const before = heapAfterGc();
  const writes: Promise<number>[] = [];
  for (let k = 0; k < conns; k++) {
    // Sending associates the destination with the conn; nobody listens there (loopback, nothing sent back).
    writes.push(mux.getConn(ufrag(k, "i")).writeTo(one, { address: LOOPBACK, port: 20_000 + k }));
    if (writes.length === 256) await Promise.all(writes.splice(0));
  }
  await Promise.all(writes);
  const after = heapAfterGc();
  const stats = mux.stats();
  if (stats.connections !== conns || stats.addresses !== conns) {
    throw new Error(`expected ${conns} conns and addresses, got ${JSON.stringify(stats)}`);
  }
  await mux.close();
  return (after - before) / conns;
}

/** Bytes allocated per `socket.emit("message", …)`, over pre-built rinfos (the loop allocates nothing). */
function allocPerEmit(socket: Socket, msg: Buffer, infos: ReturnType<typeof rinfo>[], count: number): number {
  const samples: number[] = [];
  for (let round = 0; round < 7; round++) {
    const before = heapAfterGc();
    for (let k = 0, i = 0; k < count; k++) {
      socket.emit("message", msg, infos[i]);
      if (++i === infos.length) i = 0;
    }
    samples.push((process.memoryUsage().heapUsed - before) / count);
  }
  return median(samples);
}

async function allocation(): Promise<MemoryResult["allocBytesPerDatagram"]> {
  const conns = 1000;
  const count = 20_000;
  const msg = mediaDatagram();
  const infos = Array.from({ length: conns }, (_, k) => rinfo(30_000 + k, MEDIA_BYTES));
  let sink = 0;
  const handler = (m: Buffer) => {
    sink += m.length;
  };
  let kept: unknown;
  const allocating = (m: Buffer) => {
    kept = { n: m.length }; // one small object per datagram: the control
  };

  const socket = await bindMuxSocket();
  const mux = new UDPMux(socket, { maxConnections: conns });
  mux.start();
  for (let k = 0; k < conns; k++) {
    const conn = mux.getConn(ufrag(k, "a"));
    conn.on("message", handler);
    socket.emit("message", bindingRequest(ufrag(k, "a"), ufrag(k, "b")), infos[k]);
  }
  const bare = await bindLoopback();
  bare.on("message", handler);
  const control = await bindLoopback();
  control.on("message", allocating);
  // Warm up (optimise) every path first.
  for (let i = 0; i < 5; i++) {
    allocPerEmit(socket, msg, infos, count);
    allocPerEmit(bare, msg, infos, count);
    allocPerEmit(control, msg, infos, count);
  }
  const result = {
    mux: allocPerEmit(socket, msg, infos, count),
    bare: allocPerEmit(bare, msg, infos, count),
    control: allocPerEmit(control, msg, infos, count),
  };
  await mux.close();
  await closeSocket(bare);
  await closeSocket(control);
  if (sink === 0 || kept === undefined) throw new Error("nothing delivered");
  return result;
}

/** Heap used without V8's code space: compiled code grows as the JIT warms up, whatever the pcs hold. */
function dataHeapAfterGc(): number {
  const used = heapAfterGc();
  const code = getHeapSpaceStatistics().find((s) => s.space_name === "code_space")?.space_used_size ?? 0;
  return used - code;
}

/**
 * Heap once what is still collectable has gone: a closed werift pc stays reachable from its own timers for
 * a moment, so a reading right after closing the previous round would count its leftovers against this one.
 */
async function settledHeap(): Promise<number> {
  // Settled: three readings 200 ms apart within 16 KiB (werift's timers release closed pcs over a while).
  const readings = [dataHeapAfterGc()];
  for (let i = 0; i < 50; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    readings.push(dataHeapAfterGc());
    const last = readings.slice(-3);
    if (last.length === 3 && Math.max(...last) - Math.min(...last) < 16 * 1024) return last[2]!;
  }
  return readings.at(-1)!;
}

/** Rounds of the pc measurement: even (see `pcHeap`). */
const PC_ROUNDS = 4;

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Heap held by `pairs` connected pc pairs, per pair; everything closed again before it returns. */
async function heapPerPcPair(pairs: number, attached: boolean): Promise<number> {
  const mux = attached ? await UDPMux.bind({ address: LOOPBACK }) : undefined;
  const before = await settledHeap();
  const list: PcPair[] = [];
  try {
    // a few at a time: many handshakes at once on 2 cores time out werift's DTLS
    for (let k = 0; k < pairs; k += 10) {
      const n = Math.min(10, pairs - k);
      list.push(...(await Promise.all(Array.from({ length: n }, () => connectedPcPair(mux)))));
    }
    const after = await settledHeap(); // the handshakes' leftovers gone too
    if (mux !== undefined && mux.stats().connections !== pairs) throw new Error("a pc is not on the mux");
    return (after - before) / pairs;
  } finally {
    await Promise.allSettled(list.flatMap((p) => [p.server.close(), p.client.close()]));
    await mux?.close();
  }
}

async function pcHeap(pairs: number): Promise<MemoryResult["heapBytesPerPcPair"]> {
  await heapPerPcPair(Math.min(pairs, 10), false); // warm-up: compile both paths first
  await heapPerPcPair(Math.min(pairs, 10), true);
  // Whatever the process accumulates from one measurement to the next would favour the mode measured
  // first: an even number of rounds, each mode first in half of them, and means.
  const runs = { mux: [] as number[], own: [] as number[] };
  for (let round = 0; round < PC_ROUNDS; round++) {
    for (const attached of round % 2 === 0 ? [false, true] : [true, false]) {
      const bytes = await heapPerPcPair(pairs, attached);
      runs[attached ? "mux" : "own"].push(bytes);
      process.stderr.write(
        `[memory] pc pairs, round ${round}, ${attached ? "mux" : "own"}: ${Math.round(bytes)} B\n`,
      );
    }
  }
  return { pairs, mux: mean(runs.mux), own: mean(runs.own) };
}

async function main(): Promise<void> {
  if (gc === undefined) throw new Error("run with --expose-gc");
  const conns = Number(process.argv[2] ?? 10_000);
  const pcPairs = Number(process.argv[3] ?? 50);
  const result: MemoryResult = {
    conns,
    heapBytesPerConn: await heapPerConn(conns),
    allocBytesPerDatagram: await allocation(),
    heapBytesPerPcPair: await pcHeap(pcPairs),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

/**
 * Heap measurements, run in a child process started with `--expose-gc` (and a semi-space large enough
 * that no scavenge runs inside a measured window). Prints one JSON line:
 *
 * - bytes of heap per idle conn, at 10,000 conns, each with one associated address (associated by
 *   `writeTo`, as an agent's first check does);
 * - bytes allocated per datagram on the associated-address path (push mode), mux and bare socket, plus a
 *   control handler that allocates a known 16-byte object, to show the method sees allocations.
 *
 * The section's third row, heap per attached werift pc, is `memory-pc.ts`: a fresh process per sample,
 * udpmux from the built dist/.
 */
import type { Socket } from "node:dgram";
import { UDPMux } from "../src/index.js";
import { bindingRequest, LOOPBACK, MEDIA_BYTES, mediaDatagram, rinfo, ufrag } from "./lib/fixtures.js";
import { bindLoopback, bindMuxSocket, closeSocket } from "./lib/socket.js";
import { median } from "./lib/stats.js";

const gc = (globalThis as { gc?: () => void }).gc;

export interface MemoryResult {
  conns: number;
  heapBytesPerConn: number;
  allocBytesPerDatagram: { mux: number; bare: number; control: number };
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

async function main(): Promise<void> {
  if (gc === undefined) throw new Error("run with --expose-gc");
  const conns = Number(process.argv[2] ?? 10_000);
  const result: MemoryResult = {
    conns,
    heapBytesPerConn: await heapPerConn(conns),
    allocBytesPerDatagram: await allocation(),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

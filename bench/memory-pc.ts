/**
 * One sample of the `memory` section's pc measurement, in a fresh child process started with
 * `--expose-gc`:
 *
 * ```sh
 * node --expose-gc bench/.cache/memory-pc.js <own|mux> <pairs> <dist>
 * ```
 *
 * Heap per connected werift (0.25) RTCPeerConnection pair: a server pc attached to one mux (`mux`) or on
 * its own 127.0.0.1 socket (`own`), and a plain client pc, data channel open. udpmux is imported from
 * `<dist>` (the package's build, with its `keepNames`, as users run it; `bench/heap-agents.ts` does the
 * same): the build's naming of functions changes what a closure costs, so src/ bundled by the bench would
 * measure something else.
 *
 * Method: a warm-up of up to 10 pairs in the same mode, connected and closed (compiled code, werift's
 * and the mux's lazily made state), then the heap without code space is read once the closed pcs are
 * gone (`emptyHeap`), `pairs` pairs are connected (10 at a time: many DTLS handshakes at once on 2 cores
 * time out), and the heap is read at a fixed age of the pairs (`heapNow`). Prints one JSON line; the section pairs an `own` and a `mux` process per
 * round.
 */
import { setImmediate as immediate, setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { getHeapSpaceStatistics } from "node:v8";
import type { RTCPeerConnection } from "werift";
import { LOOPBACK } from "./lib/fixtures.js";
import { connectedPcPair, type PcPair } from "./lib/pc.js";
import { median } from "./lib/stats.js";

export interface MemoryPcSample {
  mode: "own" | "mux";
  pairs: number;
  /** Heap without code space held per connected pair, bytes. */
  bytesPerPair: number;
  /** Heap without code space before the pairs, bytes (for the record: how big the process was). */
  before: number;
  /** Time to connect the pairs, ms (the heap grows with the pcs' age: see `heapNow`). */
  connectMs: number;
}

const WARM_UP_PAIRS = 10;
const BATCH = 10;

function dataHeapAfterGc(gc: () => void): number {
  gc();
  gc();
  gc();
  const code = getHeapSpaceStatistics().find((s) => s.space_name === "code_space")?.space_used_size ?? 0;
  return process.memoryUsage().heapUsed - code;
}

/**
 * The heap without code space at a fixed point after the last await: pending `setImmediate`s and werift's
 * short timers have run (100 ms), then the median of 5 readings 100 ms apart, each after 3 `gc()`s. Fixed,
 * not "until stable": connected werift pcs keep adding heap as they live (~2–3 KiB per pc over 6 s here, in
 * both modes alike), so a reading must be taken at the same age in both modes.
 */
async function heapNow(gc: () => void): Promise<number> {
  await immediate();
  await sleep(100);
  const readings: number[] = [];
  for (let i = 0; i < 5; i++) {
    if (i > 0) await sleep(100);
    readings.push(dataHeapAfterGc(gc));
  }
  return median(readings);
}

/**
 * The heap once closed pcs are gone (no pc alive): a closed werift pc stays reachable from its own timers
 * for a while (up to seconds), so readings 200 ms apart, each after 3 `gc()`s, until the last three are
 * within 16 KiB (at most 10 s).
 */
async function emptyHeap(gc: () => void): Promise<number> {
  await immediate();
  const readings = [dataHeapAfterGc(gc)];
  for (let i = 0; i < 50; i++) {
    await sleep(200);
    readings.push(dataHeapAfterGc(gc));
    const last = readings.slice(-3);
    if (last.length === 3 && Math.max(...last) - Math.min(...last) <= 16 * 1024) break;
  }
  return median(readings.slice(-3));
}

async function connect(
  pairs: number,
  attach: ((pc: RTCPeerConnection) => void) | undefined,
): Promise<PcPair[]> {
  const list: PcPair[] = [];
  for (let k = 0; k < pairs; k += BATCH) {
    const n = Math.min(BATCH, pairs - k);
    list.push(...(await Promise.all(Array.from({ length: n }, () => connectedPcPair(attach)))));
  }
  return list;
}

async function closeAll(list: PcPair[]): Promise<void> {
  await Promise.allSettled(list.flatMap((p) => [p.server.close(), p.client.close()]));
}

async function main(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("run with --expose-gc");
  const mode = process.argv[2];
  const pairs = Number(process.argv[3]);
  const dist = process.argv[4];
  if ((mode !== "own" && mode !== "mux") || !Number.isInteger(pairs) || pairs < 1 || dist === undefined) {
    throw new TypeError(`Expected \`<own|mux> <pairs> <dist>\`, got \`${process.argv.slice(2).join(" ")}\``);
  }
  const { UDPMux } = (await import(
    pathToFileURL(`${dist}/index.js`).href
  )) as typeof import("../src/index.js");
  const { attachUDPMux } = (await import(
    pathToFileURL(`${dist}/werift.js`).href
  )) as typeof import("../src/werift/index.js");
  const mux = mode === "mux" ? await UDPMux.bind({ address: LOOPBACK }) : undefined;
  const attach =
    mux === undefined ? undefined : (pc: Parameters<typeof attachUDPMux>[0]) => attachUDPMux(pc, mux);

  await closeAll(await connect(Math.min(WARM_UP_PAIRS, pairs), attach));
  const before = await emptyHeap(gc);
  const started = performance.now();
  const list = await connect(pairs, attach);
  const connectMs = Math.round(performance.now() - started);
  if (mux !== undefined && mux.stats().connections !== pairs) {
    throw new Error(`expected ${pairs} conns on the mux, got ${mux.stats().connections}`);
  }
  const after = await heapNow(gc);
  await closeAll(list);
  await mux?.close();
  const sample: MemoryPcSample = {
    mode,
    pairs,
    bytesPerPair: (after - before) / pairs,
    before,
    connectMs,
  };
  process.stdout.write(`${JSON.stringify(sample)}\n`);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

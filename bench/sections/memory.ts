/**
 * `memory`: heap per conn and allocation per datagram (bench/memory.ts, one child process), and heap per
 * attached werift pc (bench/memory-pc.ts: a fresh child process per sample, udpmux from the built dist/).
 */
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { child, section } from "../lib/section.js";
import { fmt, median } from "../lib/stats.js";
import type { MemoryResult } from "../memory.js";
import type { MemoryPcSample } from "../memory-pc.js";

const conns = (quick: boolean) => (quick ? 1_000 : 10_000);
/** Connected pairs per sample: 100 × ~216 KiB puts ~21 MiB of pcs against a reading's noise of a few KiB. */
const pcPairs = (quick: boolean) => (quick ? 10 : 100);
/** Rounds of one `own` and one `mux` process each (~19 s a process at 100 pairs: two heap snapshots, a fixed 4 s age); `--quick`: one. */
const pcRounds = (quick: boolean) => (quick ? 1 : 6);

/** 10,000 idle conns in ≤ 10 MiB: a server holding many sessions must not pay more for the mux than for their sockets. */
const MAX_HEAP_PER_CONN = 1024;
/** What attaching may add to a connected werift pc's heap, over the same pc on its own socket (a pc is ~100 KiB+). */
const MAX_ATTACHED_PC_EXTRA = 1024;

export interface PcHeapResult {
  pairs: number;
  rounds: number;
  /** Per round: heap per pair, bytes, in the `own` and the `mux` process, and their difference. */
  own: number[];
  mux: number[];
  extra: number[];
  /** Median of `extra`, and its range. */
  median: number;
  min: number;
  max: number;
}

export interface MemorySectionResult extends MemoryResult {
  heapBytesPerPcPair: PcHeapResult;
}

async function pcHeap(script: string, pairs: number, rounds: number, log: (m: string) => void) {
  const dist = resolve(dirname(script), "../../dist");
  if (!existsSync(`${dist}/werift.js`)) throw new Error(`no ${dist}/werift.js: run \`npm run build\` first`);
  const own: number[] = [];
  const mux: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // Each mode first in every other round, each sample a fresh process: nothing carries over.
    for (const mode of round % 2 === 0 ? (["own", "mux"] as const) : (["mux", "own"] as const)) {
      const s = await child<MemoryPcSample>(["--expose-gc", script, mode, String(pairs), dist], 180_000);
      (mode === "own" ? own : mux).push(s.bytesPerPair);
      log(`memory: pc pairs, round ${round}, ${mode}: ${fmt(s.bytesPerPair)} B per pair (${s.connectMs} ms)`);
    }
  }
  const extra = own.map((o, i) => mux[i]! - o);
  return {
    pairs,
    rounds,
    own,
    mux,
    extra,
    median: median(extra),
    min: Math.min(...extra),
    max: Math.max(...extra),
  } satisfies PcHeapResult;
}

export default section<MemorySectionResult>({
  name: "memory",
  title: () => "memory (child processes, --expose-gc)",
  run: async ({ quick, script, log }) => {
    const base = await child<MemoryResult>(
      ["--expose-gc", "--max-semi-space-size=64", script("memory.js"), String(conns(quick))],
      300_000,
    );
    const pc = await pcHeap(script("memory-pc.js"), pcPairs(quick), pcRounds(quick), log);
    return { ...base, heapBytesPerPcPair: pc };
  },
  targets: (r) => {
    const extra = r.allocBytesPerDatagram.mux - r.allocBytesPerDatagram.bare;
    const pc = r.heapBytesPerPcPair;
    return [
      {
        name: "allocation per datagram, associated-address path",
        target: "mux − bare < 1 B",
        measured: `${fmt(extra, 2)} B`,
        met: extra < 1,
        reason:
          "the media path must allocate nothing per datagram: garbage per packet is GC pauses at media rates",
      },
      {
        name: `heap per idle conn (${fmt(r.conns)} conns)`,
        target: `≤ ${MAX_HEAP_PER_CONN} B`,
        measured: `${fmt(r.heapBytesPerConn)} B`,
        met: r.heapBytesPerConn <= MAX_HEAP_PER_CONN,
        reason: "10,000 sessions' mux state in ≤ 10 MiB, less than their own sockets would take",
      },
      {
        name: `heap of an attached werift pc over one on its own socket (${pc.pairs} connected pairs, median of ${pc.rounds} rounds)`,
        target: `≤ ${MAX_ATTACHED_PC_EXTRA} B`,
        measured: `${fmt(pc.median)} B (${fmt(pc.min)} to ${fmt(pc.max)})`,
        met: pc.median <= MAX_ATTACHED_PC_EXTRA,
        reason: "attaching replaces a socket per pc; it should not cost more than the 1 KiB a mux conn may",
      },
    ];
  },
  render: (r) => {
    const a = r.allocBytesPerDatagram;
    const pc = r.heapBytesPerPcPair;
    return [
      `Memory: ${fmt(r.heapBytesPerConn)} B heap per idle conn at ${fmt(r.conns)} conns. Allocated per datagram: mux ${fmt(a.mux, 2)} B, bare ${fmt(a.bare, 2)} B, control handler (one object) ${fmt(a.control, 2)} B`,
      `Live heap (snapshots, code kinds left out) per connected werift 0.25 pc pair at a 4 s age (server pc + plain client pc, udpmux from dist/, ${fmt(pc.pairs)} pairs per process, ${pc.rounds} rounds of an own and a mux process, order alternating): server on its own socket ${fmt(median(pc.own))} B, on the mux ${fmt(median(pc.mux))} B (medians); attached − own per round: ${pc.extra.map((x) => fmt(x)).join(", ")} B; median ${fmt(pc.median)} B, range ${fmt(pc.min)} to ${fmt(pc.max)} B`,
    ].join("\n");
  },
});

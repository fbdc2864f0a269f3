/** `e2e`: werift-ice pairs, the server side on one mux against own sockets (bench/e2e.ts, a child process per round). */
import type { E2eRun } from "../e2e.js";
import { child, section } from "../lib/section.js";
import { fmt, median, table } from "../lib/stats.js";

const config = (quick: boolean) =>
  quick ? { pairs: 4, echoMs: 200, rounds: 1 } : { pairs: 100, echoMs: 2000, rounds: 3 };

export interface E2eResult {
  pairs: number;
  mux: E2eRun;
  own: E2eRun;
  /** Own-socket connect time ÷ mux connect time (higher is better for the mux). */
  connectRatio: number;
  /** Mux echoes/s ÷ own-socket echoes/s. */
  echoRatio: number;
}

/** Within 5 %: the routing is ~100 ns of the ~30 µs werift spends per echo; more would be the adapter's cost. */
const MIN_RATIO = 0.95;

export default section<E2eResult>({
  name: "e2e",
  title: ({ quick }) => `end to end: ${config(quick).pairs} werift-ice pairs, mux vs own sockets`,
  run: async ({ quick, script }) => {
    const { pairs, echoMs, rounds } = config(quick);
    const runs: Record<"mux" | "own", E2eRun[]> = { mux: [], own: [] };
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? (["own", "mux"] as const) : (["mux", "own"] as const);
      for (const mode of order) {
        runs[mode].push(
          await child<E2eRun>([script("e2e.js"), mode, String(pairs), String(echoMs)], 120_000),
        );
      }
    }
    const pick = (list: E2eRun[]): E2eRun => ({
      mode: list[0]!.mode,
      pairs,
      connectMs: median(list.map((r) => r.connectMs)),
      echoesPerSecond: median(list.map((r) => r.echoesPerSecond)),
      cpuNsPerEcho: median(list.map((r) => r.cpuNsPerEcho)),
    });
    const mux = pick(runs.mux);
    const own = pick(runs.own);
    return {
      pairs,
      mux,
      own,
      connectRatio: own.connectMs / mux.connectMs,
      echoRatio: mux.echoesPerSecond / own.echoesPerSecond,
    };
  },
  targets: (r) => [
    {
      name: `e2e connect time, ${r.pairs} pairs (own ÷ mux)`,
      target: `≥ ${MIN_RATIO}`,
      measured: fmt(r.connectRatio, 3),
      met: r.connectRatio >= MIN_RATIO,
      reason:
        "sharing one socket must not make connecting noticeably slower; 5 % is this machine's run-to-run noise",
    },
    {
      name: `e2e echo throughput, ${r.pairs} pairs (mux ÷ own)`,
      target: `≥ ${MIN_RATIO}`,
      measured: fmt(r.echoRatio, 3),
      met: r.echoRatio >= MIN_RATIO,
      reason:
        "the routing is ~100 ns of the ~30 µs werift spends per echo; a bigger gap would be the adapter's",
    },
  ],
  render: (e) =>
    [
      `End to end: ${e.pairs} werift-ice pairs, server side on one mux vs own sockets (medians)`,
      table(
        ["", "connect ms", "echoes/s", "CPU ns/echo"],
        [
          ["own sockets", fmt(e.own.connectMs), fmt(e.own.echoesPerSecond), fmt(e.own.cpuNsPerEcho)],
          ["one mux", fmt(e.mux.connectMs), fmt(e.mux.echoesPerSecond), fmt(e.mux.cpuNsPerEcho)],
          ["ratio", fmt(e.connectRatio, 3), fmt(e.echoRatio, 3), ""],
        ],
      ),
    ].join("\n"),
});

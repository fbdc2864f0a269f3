/** `tcp-e2e`: data-channel echo over ICE-TCP, werift on a TCPMux against werift's own ICE-TCP (bench/tcp-e2e.ts). */
import { child, section } from "../lib/section.js";
import { fmt, median, table } from "../lib/stats.js";
import type { TcpE2eRun } from "../tcp-e2e.js";

const config = (quick: boolean) =>
  quick ? { pairs: 2, echoMs: 300, rounds: 1 } : { pairs: 10, echoMs: 2000, rounds: 3 };

export interface TcpE2eResult {
  pairs: number;
  mux: TcpE2eRun;
  own: TcpE2eRun;
  /** The reference: the same pcs, plain werift over UDP. */
  udp: TcpE2eRun;
  /** Own connect time ÷ mux connect time (higher is better for the mux). */
  connectRatio: number;
  /** Mux echoes/s ÷ own echoes/s. */
  echoRatio: number;
}

/**
 * The mux side hands werift one frame per macrotask (needed for werift's DTLS, README "TCP fallback"),
 * where werift on its own handles a whole TCP read in one loop: each frame then waits for a turn of the
 * event loop. With 4 messages in flight per channel the loop turns anyway between reads, so this should
 * cost little; 0.9 leaves room for the extra turn per frame without hiding a real regression.
 */
const MIN_ECHO_RATIO = 0.9;
/** Connecting is a handful of frames per pair: the macrotask per frame must not show (this machine's noise: 5 %). */
const MIN_CONNECT_RATIO = 0.95;

export default section<TcpE2eResult>({
  name: "tcp-e2e",
  title: ({ quick }) =>
    `data-channel echo over ICE-TCP: ${config(quick).pairs} werift pc pairs, TCPMux vs werift's own iceUseTcp`,
  run: async ({ quick, script }) => {
    const { pairs, echoMs, rounds } = config(quick);
    const modes = ["own", "mux", "udp"] as const;
    const runs: Record<(typeof modes)[number], TcpE2eRun[]> = { mux: [], own: [], udp: [] };
    for (let round = 0; round < rounds; round++) {
      // Rotate the order so no mode always follows the same one.
      for (let i = 0; i < modes.length; i++) {
        const mode = modes[(i + round) % modes.length]!;
        runs[mode].push(
          await child<TcpE2eRun>([script("tcp-e2e.js"), mode, String(pairs), String(echoMs)], 120_000),
        );
      }
    }
    const pick = (list: TcpE2eRun[]): TcpE2eRun => ({
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
      udp: pick(runs.udp),
      connectRatio: own.connectMs / mux.connectMs,
      echoRatio: mux.echoesPerSecond / own.echoesPerSecond,
    };
  },
  targets: (r) => [
    {
      name: `TCP data-channel connect time, ${r.pairs} pairs (own ÷ mux)`,
      target: `≥ ${MIN_CONNECT_RATIO}`,
      measured: fmt(r.connectRatio, 3),
      met: r.connectRatio >= MIN_CONNECT_RATIO,
      reason:
        "a connect is a handful of frames; one macrotask per frame must not show beyond this machine's 5 % noise",
    },
    {
      name: `TCP data-channel echo throughput, ${r.pairs} pairs (mux ÷ own)`,
      target: `≥ ${MIN_ECHO_RATIO}`,
      measured: fmt(r.echoRatio, 3),
      met: r.echoRatio >= MIN_ECHO_RATIO,
      reason:
        "the adapter's one frame per macrotask (werift's DTLS needs it) may cost an event-loop turn per frame, not more than 10 %",
    },
  ],
  render: (e) =>
    [
      `Data-channel echo over ICE-TCP: ${e.pairs} werift 0.25 pc pairs in one process, the client plain werift iceUseTcp, the server on a TCPMux or on werift's own ICE-TCP (1,200 B, 4 in flight per channel; medians)`,
      table(
        ["", "connect ms", "echoes/s", "CPU ns/echo (both sides)"],
        [
          ["werift's own ICE-TCP", fmt(e.own.connectMs), fmt(e.own.echoesPerSecond), fmt(e.own.cpuNsPerEcho)],
          ["TCPMux", fmt(e.mux.connectMs), fmt(e.mux.echoesPerSecond), fmt(e.mux.cpuNsPerEcho)],
          ["ratio TCPMux ÷ own", fmt(e.connectRatio, 3), fmt(e.echoRatio, 3), ""],
          [
            "reference: plain werift over UDP",
            fmt(e.udp.connectMs),
            fmt(e.udp.echoesPerSecond),
            fmt(e.udp.cpuNsPerEcho),
          ],
        ],
      ),
    ].join("\n"),
});

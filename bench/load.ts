/**
 * Connecting under load (issue 9): `clients` werift RTCPeerConnections open a data channel each, all at
 * once, to a werift RTCPeerConnection server while junk floods the server at `rate` datagrams/s. Four
 * servers side by side, one child process per round (load-server.ts), rounds rotating the order:
 * - **mux**: `UDPMux.bind({ address: "127.0.0.1" })`, default options;
 * - **mux, 208 KiB buffer (before #9)**: the same socket with the receive buffer every socket got before
 *   issue 9 (Linux `net.core.rmem_default`, 208 KiB);
 * - **own sockets**: werift's own socket per server peer connection, not attached, the junk sent to
 *   another socket of the server process;
 * - **own sockets, flooded**: the same, the junk sent to the peer connections' own ports.
 * The clients and the flood each run in their own child process of the server's, so the event loop that
 * the junk and the handshakes compete for is the server's alone.
 *
 * Where the junk goes with own sockets (what is fair): there is no single port to flood. The reference the
 * targets compare against is `own`: the same junk reaches the server process, on a bare socket that reads
 * it as the mux does (a `'message'` listener, the mux's buffer), so the loop does the same receive work,
 * but none of it sits in the peer connections' buffers. That is the strict comparison: it isolates what
 * putting every peer on one socket costs. `own-flooded` is the other reading, junk aimed at the server's
 * ports: the same `rate` spread over the host ports of the server's peer connections in turn, each added as
 * its answer is made (until the first exists the flood waits and owes nothing; the first few sockets get
 * more than their share). Each own socket has the OS-default buffer, and werift hands every junk datagram
 * to its ICE and DTLS layers, which discard it.
 *
 * The junk is RTP-shaped (first byte 0x80: not STUN, not DTLS), 100–1,200 bytes, from 8 source ports: the
 * mux drops it by address before parsing it. Measured per client: createOffer → the channel's `open` on
 * the client. A client whose channel is not open within the timeout counts as slower than every one that
 * opened (a p99 of "—" means more than 1 % did not open). Kernel drops: at the mux's socket from
 * `stats().kernelDrops`; at own sockets from the `drops` of their ports in /proc/net/udp.
 */
import type { LoadVariant } from "./lib/load-protocol.js";
import { LOAD_VARIANTS } from "./lib/load-protocol.js";
import type { Target } from "./lib/section.js";
import { fmt, median, percentile, table } from "./lib/stats.js";
import type { LoadRun } from "./load-server.js";

export interface LoadConfig {
  clients: number;
  rounds: number;
  /** A client whose channel is not open by then has failed. */
  timeoutMs: number;
  /** Junk datagrams per second at the server. */
  rate: number;
}

export const LOAD_FULL: LoadConfig = { clients: 20, rounds: 3, timeoutMs: 10_000, rate: 20_000 };
export const LOAD_QUICK: LoadConfig = { clients: 10, rounds: 1, timeoutMs: 5_000, rate: 20_000 };

/**
 * Open-time p99 through the mux must stay under this. A handshake packet lost at a full buffer costs a
 * retransmission timer (werift 0.25 resends a DTLS flight after 0.5 s, then 1 s, 1.5 s…; SCTP's initial
 * RTO is 3 s, RFC 4960 §15), while connecting 20 at once on this loaded 2-core machine takes 0.5–0.9 s:
 * 2 s is passed only by a session that waited out a timer or two.
 */
export const LOAD_P99_LIMIT_MS = 2000;

export const LOAD_LABELS: Record<LoadVariant, string> = {
  mux: "mux, default options",
  "mux-os-buffer": "mux, 208 KiB buffer (before #9)",
  own: "werift's own sockets, junk elsewhere",
  "own-flooded": "werift's own sockets, junk to them",
};

export interface LoadSummary {
  label: string;
  attempts: number;
  successes: number;
  /** Open time (ms) over every attempt, a failed one counting as +∞ (null in JSON). */
  openMs: { min: number; median: number; p90: number; p99: number; max: number };
  /** Sessions that took ≥ 2 s or failed. */
  slow: number;
  /** Kernel drops at the server's socket(s), summed over the rounds, and the most in one round. */
  kernelDrops: number | undefined;
  kernelDropsMaxRound: number | undefined;
  /** The server's receive buffer as the kernel reports it (bytes; per socket for own sockets). */
  recvBufferBytes: number | undefined;
  /** The fullest a server socket's receive queue was seen in any round (bytes, sampled every 50 ms). */
  peakRxQueueBytes: number | undefined;
  /** The earliest first kernel drop of the rounds, ms after the clients started; null: none. */
  firstDropMs: number | null;
  /** Junk datagrams per second actually sent (median over rounds). */
  junkPerSecond: number;
  /** Server event loop delay while connecting: median of the rounds' p99, and the largest max (ms). */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

export interface LoadResult {
  config: LoadConfig;
  variants: Record<LoadVariant, LoadSummary>;
  runs: LoadRun[];
}

/** Runs one child process and resolves with its last stdout line, parsed (run.ts's `child`). */
export type RunChild = <T>(args: string[], timeoutMs: number) => Promise<T>;

function summarize(variant: LoadVariant, runs: LoadRun[]): LoadSummary {
  const times = runs.flatMap((r) => r.openMs.map((ms) => ms ?? Number.POSITIVE_INFINITY));
  const drops = runs.map((r) => r.kernelDrops);
  const known = drops.every((d) => d !== undefined);
  return {
    label: LOAD_LABELS[variant],
    attempts: times.length,
    successes: times.filter(Number.isFinite).length,
    openMs: {
      min: percentile(times, 0),
      median: percentile(times, 50),
      p90: percentile(times, 90),
      p99: percentile(times, 99),
      max: percentile(times, 100),
    },
    slow: times.filter((t) => t >= LOAD_P99_LIMIT_MS).length,
    kernelDrops: known ? drops.reduce<number>((a, d) => a + d!, 0) : undefined,
    kernelDropsMaxRound: known ? Math.max(...(drops as number[])) : undefined,
    recvBufferBytes: runs[0]?.recvBufferBytes,
    peakRxQueueBytes: runs.some((r) => r.peakRxQueueBytes === undefined)
      ? undefined
      : Math.max(...runs.map((r) => r.peakRxQueueBytes!)),
    firstDropMs: runs.reduce<number | null>(
      (a, r) => (r.firstDropMs === null ? a : Math.min(a ?? Number.POSITIVE_INFINITY, r.firstDropMs)),
      null,
    ),
    junkPerSecond: median(runs.map((r) => r.junkPerSecond)),
    loopDelayP99Ms: median(runs.map((r) => r.loopDelayP99Ms)),
    loopDelayMaxMs: Math.max(...runs.map((r) => r.loopDelayMaxMs)),
  };
}

export async function benchLoad(config: LoadConfig, serverJs: string, child: RunChild): Promise<LoadResult> {
  const runs: LoadRun[] = [];
  for (let round = 0; round < config.rounds; round++) {
    const order = LOAD_VARIANTS.map((_, i) => LOAD_VARIANTS[(i + round) % LOAD_VARIANTS.length]!);
    for (const variant of order) {
      const args = [serverJs, variant, String(config.clients), String(config.timeoutMs), String(config.rate)];
      runs.push(await child<LoadRun>(args, config.timeoutMs + 30_000));
    }
  }
  const variants = Object.fromEntries(
    LOAD_VARIANTS.map((v) => [
      v,
      summarize(
        v,
        runs.filter((r) => r.variant === v),
      ),
    ]),
  ) as Record<LoadVariant, LoadSummary>;
  return { config, variants, runs };
}

export function loadTargets(r: LoadResult): Target[] {
  const { mux, own } = r.variants;
  const p99 = (s: LoadSummary) => (Number.isFinite(s.openMs.p99) ? `${fmt(s.openMs.p99)} ms` : "—");
  const at = `${r.config.clients} clients, ${fmt(r.config.rate)} junk/s`;
  return [
    {
      // The default buffer (4 MiB asked, 8 MiB reported on Linux) holds ~230 ms of this flood, more than the
      // server's loop lags while the handshakes run (p99 ~40 ms, max ~110 ms here); a drop loses handshake
      // packets with the junk and costs a retransmission timer, so at this rate it must lose none.
      name: `load: kernel drops at the mux socket, default options (${at})`,
      target: "0",
      measured: mux.kernelDrops === undefined ? "— (no /proc)" : fmt(mux.kernelDrops),
      met: mux.kernelDrops === 0,
      reason:
        "the default buffer holds ~230 ms of this flood, more than the server's loop lags while the handshakes run; a drop loses handshake packets with the junk and costs a retransmission timer",
    },
    {
      // One socket for every peer must not make connecting slower than a socket per peer while the server
      // process reads the same junk (own sockets with the junk sent elsewhere: the strict comparison).
      name: `load: open-time p99 through the mux ≤ own sockets', junk elsewhere (${at})`,
      target: `≤ ${p99(own)}`,
      measured: p99(mux),
      met: mux.openMs.p99 <= own.openMs.p99,
      reason:
        "one socket for every peer must not make connecting slower than a socket per peer while the server process reads the same junk",
    },
    {
      name: `load: open-time p99 through the mux (${at})`,
      target: `< ${fmt(LOAD_P99_LIMIT_MS)} ms`,
      measured: p99(mux),
      met: mux.openMs.p99 < LOAD_P99_LIMIT_MS,
      reason:
        "connecting 20 at once takes 0.5–0.9 s here; only a session that waited out a DTLS or SCTP retransmission timer takes 2 s",
    },
  ];
}

export function renderLoad(r: LoadResult): string {
  const { clients, rounds, rate, timeoutMs } = r.config;
  const ms = (v: number) => (Number.isFinite(v) ? fmt(v) : "—");
  return [
    `Connecting under load: ${clients} werift clients open a data channel at once, ${rounds} round(s), while ${fmt(rate)} junk datagrams/s (100–1,200 B) hit the server; open time = createOffer → channel open on the client, ms ("—": not open within ${fmt(timeoutMs)} ms)`,
    table(
      [
        "server",
        "opened",
        "min",
        "median",
        "p90",
        "p99",
        "max",
        "≥ 2 s",
        "kernel drops",
        "rcvbuf KiB",
        "peak queue KiB",
        "junk/s",
        "loop p99/max ms",
      ],
      LOAD_VARIANTS.map((v) => {
        const s = r.variants[v];
        return [
          s.label,
          `${s.successes}/${s.attempts}`,
          ms(s.openMs.min),
          ms(s.openMs.median),
          ms(s.openMs.p90),
          ms(s.openMs.p99),
          ms(s.openMs.max),
          fmt(s.slow),
          s.kernelDrops === undefined ? "—" : fmt(s.kernelDrops),
          s.recvBufferBytes === undefined ? "—" : fmt(s.recvBufferBytes / 1024),
          s.peakRxQueueBytes === undefined ? "—" : fmt(s.peakRxQueueBytes / 1024),
          fmt(s.junkPerSecond),
          `${fmt(s.loopDelayP99Ms)}/${fmt(s.loopDelayMaxMs)}`,
        ];
      }),
    ),
  ].join("\n");
}

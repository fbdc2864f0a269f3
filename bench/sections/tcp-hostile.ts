/**
 * `tcp-hostile`: what hostile TCP peers can make one TCPMux hold — memory and descriptors, peak and 1 s
 * after the attack — each scenario in a child process of its own with `--expose-gc` (bench/tcp-hostile.ts).
 */
import { child, log, section, type Target } from "../lib/section.js";
import { fmt, table } from "../lib/stats.js";
import type { HostileResult, HostileScenario } from "../tcp-hostile.js";

/** The issue's rows 1, 2, 4 and 5 for 30 s each; row 2's two groups get 15 s each, so each has its own figure. */
const PLAN: readonly { scenario: HostileScenario; seconds: number; quickSeconds: number }[] = [
  { scenario: "blast", seconds: 30, quickSeconds: 2.5 },
  { scenario: "drip-first", seconds: 15, quickSeconds: 2.5 },
  { scenario: "drip-frame", seconds: 15, quickSeconds: 2.5 },
  { scenario: "one-ip", seconds: 30, quickSeconds: 2.5 },
  { scenario: "pending-flood", seconds: 30, quickSeconds: 2.5 },
];

const WHAT: Record<HostileScenario, string> = {
  blast: "1 authenticated peer, 64 KiB frames flat out; slow readFrom() reader",
  "drip-first": "32 pending, a 2 KiB first frame 1 B per write",
  "drip-frame": "8 authenticated, a 64 KiB frame 1 B per write",
  "one-ip": "1 source, no credentials: 32 ufrags × 32 conns, renewed; accept loop",
  "pending-flood": "256 idle from 16 sources, renewed; 1 legit client / 100 ms",
};

const MiB = 1024 * 1024;
/**
 * blast: while it sends, at most `maxQueuedBytes` (256 KiB) waits for the reader, plus the frame being
 * assembled, the socket's paused read buffer and the chunks the reader kept: 4 MiB is the README's stated
 * bound. Once the peer stopped (its socket closed, the reader stopped too, the conn still open) nothing
 * beyond that queue may stay: 1 MiB.
 */
const BLAST_PEAK = 4 * MiB;
const BLAST_FINAL = 1 * MiB;
/** A dripped first frame costs its 2 KiB buffer, allocated once its header is read: 32 of them, ≤ 1 MiB. */
const DRIP_FIRST_PEAK = 1 * MiB;
/** A dripped 64 KiB frame costs its buffer (allocated once): 8 × 64 KiB = 512 KiB, ≤ 1.5 MiB with headroom. */
const DRIP_FRAME_PEAK = 1.5 * MiB;
/** `maxPendingPerAddress` + `maxUnverifiedPerAddress`: 16 + 48. */
const ONE_SOURCE_FDS = 64;
/** `maxPendingConnections`. */
const MAX_PENDING = 256;

const kib = (bytes: number) => `${fmt(bytes / 1024)} KiB`;
const mib = (bytes: number) => `${fmt(bytes / MiB, 2)} MiB`;

function byScenario(results: HostileResult[], scenario: HostileScenario): HostileResult | undefined {
  return results.find((r) => r.scenario === scenario);
}

function reasons(counts: Partial<Record<string, number>>): string {
  const parts = Object.entries(counts)
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([reason, n]) => `${reason} ${fmt(n ?? 0)}`);
  return parts.length === 0 ? "none" : parts.join(", ");
}

export default section<HostileResult[]>({
  name: "tcp-hostile",
  title: ({ quick }) =>
    `hostile TCP peers against one TCPMux (a child process per scenario, --expose-gc; ${quick ? "2.5 s" : "15–30 s"} each)`,
  run: async ({ quick, script }) => {
    const out: HostileResult[] = [];
    for (const { scenario, seconds, quickSeconds } of PLAN) {
      const s = quick ? quickSeconds : seconds;
      log(`tcp-hostile: ${scenario}, ${s} s`);
      out.push(
        await child<HostileResult>(
          ["--expose-gc", script("tcp-hostile.js"), scenario, String(s), quick ? "quick" : "full"],
          (s + 60) * 1000,
        ),
      );
    }
    return out;
  },
  targets: (results) => {
    const targets: Target[] = [];
    const b = byScenario(results, "blast");
    if (b !== undefined) {
      targets.push(
        {
          name: "TCP blast (64 KiB frames, slow reader): peak growth of live ArrayBuffers",
          target: `≤ ${mib(BLAST_PEAK)}`,
          measured: mib(b.arrayBuffers.peak),
          met: b.arrayBuffers.peak <= BLAST_PEAK,
          reason:
            "the mux pauses reading at maxQueuedBytes (256 KiB) instead of buffering: TCP flow control, not memory, must absorb a fast sender",
        },
        {
          name: "TCP blast: ArrayBuffers 1 s after the peer stopped",
          target: `≤ ${mib(BLAST_FINAL)}`,
          measured: mib(b.arrayBuffers.final),
          met: b.arrayBuffers.final <= BLAST_FINAL,
          reason: "nothing beyond the bounded queue (256 KiB) may stay once the sender is gone",
        },
      );
    }
    const df = byScenario(results, "drip-first");
    if (df !== undefined) {
      targets.push({
        name: "TCP drip: 32 pending connections dripping a 2 KiB first frame, peak ArrayBuffers",
        target: `≤ ${mib(DRIP_FIRST_PEAK)}`,
        measured: mib(df.arrayBuffers.peak),
        met: df.arrayBuffers.peak <= DRIP_FIRST_PEAK,
        reason:
          "a drip of one byte per segment must cost what the frame costs (2 KiB each), not a buffer per byte",
      });
    }
    const dr = byScenario(results, "drip-frame");
    if (dr?.drip !== undefined) {
      const limit = dr.drip.deadlineMs + 1000;
      const late = dr.drip.overdueAtStop + (dr.drip.closedMaxMs > limit ? 1 : 0);
      targets.push(
        {
          name: "TCP drip: 8 authenticated connections dripping a 64 KiB frame, peak ArrayBuffers",
          target: `≤ ${mib(DRIP_FRAME_PEAK)}`,
          measured: mib(dr.arrayBuffers.peak),
          met: dr.arrayBuffers.peak <= DRIP_FRAME_PEAK,
          reason: "each frame's buffer is allocated once (64 KiB): 8 cost 512 KiB, not a buffer per byte",
        },
        {
          name: `TCP drip: every dripped frame closed by frameTimeoutMs (${fmt(dr.drip.deadlineMs)} ms, checked every 1 s)`,
          target: `≤ ${fmt(limit)} ms, none left open`,
          measured: `${fmt(dr.drip.closed)} closed, max ${fmt(dr.drip.closedMaxMs)} ms; ${fmt(dr.drip.overdueAtStop)} overdue`,
          met: dr.drip.closed > 0 && late === 0,
          reason: "a deadline, not an idle timer: bytes dripping in must not keep a 64 KiB buffer alive",
        },
      );
    }
    const one = byScenario(results, "one-ip");
    if (one !== undefined) {
      const worst = Math.max(one.muxConnections.peak, one.muxFds.peak);
      targets.push({
        name: "TCP one source without credentials (32 ufrags × 32 conns, renewed): descriptors the mux holds",
        target: `≤ ${ONE_SOURCE_FDS}`,
        measured: `${fmt(one.muxConnections.peak)} (stats), ${fmt(one.muxFds.peak)} (fds)`,
        met: worst <= ONE_SOURCE_FDS,
        reason:
          "maxPendingPerAddress + maxUnverifiedPerAddress (16 + 48): one host can't exhaust the descriptor limit",
      });
    }
    const flood = byScenario(results, "pending-flood");
    if (flood?.legit !== undefined) {
      const { attempts, routed } = flood.legit;
      targets.push(
        {
          name: "TCP pending flood (256 idle from 16 sources): legitimate checks routed",
          target: "100 %",
          measured: `${fmt((100 * routed) / attempts, 1)} % (${fmt(routed)}/${fmt(attempts)})`,
          met: attempts > 0 && routed === attempts,
          reason:
            "the oldest pending connection is evicted, so idle ones can't keep out a peer that sends its check at once",
        },
        {
          name: "TCP pending flood: pending connections",
          target: `≤ ${MAX_PENDING}`,
          measured: fmt(flood.pendingPeak),
          met: flood.pendingPeak <= MAX_PENDING,
          reason: "maxPendingConnections: idle connections hold no more than 256 sockets",
        },
      );
    }
    return targets;
  },
  render: (results) => {
    const rows = results.map((r) => [
      r.scenario,
      fmt(r.seconds, 1),
      fmt(r.connects),
      kib(r.arrayBuffers.peak),
      kib(r.arrayBuffers.final),
      kib(r.heapUsed.peak),
      kib(r.heapUsed.final),
      `${fmt(r.muxFds.peak)} / ${fmt(r.muxConnections.peak)}`,
      `${fmt(r.muxFds.final)} / ${fmt(r.muxConnections.final)}`,
      fmt(r.processFdsPeak),
      fmt(r.pendingPeak),
      fmt(r.tcpPeak),
      fmt(r.pausedPeak),
    ]);
    const lines = [
      "Hostile TCP peers against one TCPMux (peers in the same process; growth over a baseline, after gc; peak of samples every 250 ms for memory, 50 ms for fds, 10 ms for stats(); final = 1 s after every client closed, the mux open). Mux fds = process fds over baseline − the clients' fds; stats = pendingConnections + tcpConnections",
      table(
        [
          "scenario",
          "s",
          "connects",
          "ArrayBuf peak",
          "final",
          "heap peak",
          "final",
          "mux fds/stats peak",
          "final",
          "proc fds",
          "pending",
          "routed",
          "paused",
        ],
        rows,
      ),
    ];
    for (const r of results) {
      const extra: string[] = [];
      if (r.blast !== undefined) {
        extra.push(
          `${fmt(r.blast.framesRead)} frames read (${fmt(r.blast.framesReadPerSecond)}/s) of ${fmt(r.blast.framesSent)} written; conn queue peak ${kib(r.blast.queuedBytesPeak)}`,
        );
      }
      if (r.drip !== undefined) {
        extra.push(
          `deadline ${fmt(r.drip.deadlineMs)} ms: ${fmt(r.drip.started)} frames begun, ${fmt(r.drip.closed)} closed by the mux after ${fmt(r.drip.closedMinMs)}–${fmt(r.drip.closedMaxMs)} ms, ${fmt(r.drip.overdueAtStop)} overdue at stop`,
        );
      }
      if (r.claimed !== undefined) extra.push(`${fmt(r.claimed)} candidates claimed`);
      if (r.legit !== undefined) {
        extra.push(
          `legit: ${fmt(r.legit.routed)}/${fmt(r.legit.attempts)} routed, p50 ${fmt(r.legit.p50Ms, 1)} ms, max ${fmt(r.legit.maxMs, 1)} ms`,
        );
      }
      extra.push(`rejected: ${reasons(r.rejectedByReason)}`);
      const errors = reasons(r.clientErrors);
      if (errors !== "none") extra.push(`client errors: ${errors}`);
      lines.push(`${r.scenario} (${WHAT[r.scenario]}): ${extra.join("; ")}`);
    }
    return lines.join("\n");
  },
});

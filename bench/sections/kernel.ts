/**
 * `kernel`: socket to socket (bench/kernel.ts), and, when `push` ran earlier in the same run, the
 * throughput ratio both give together, plus the chart (`bench/throughput.svg`).
 */
import { renderChart } from "../chart.js";
import { benchKernel, type KernelPoint } from "../kernel.js";
import { type Machine, section } from "../lib/section.js";
import { fmt, median, table } from "../lib/stats.js";
import type { RoutingPoint } from "../routing.js";
import { routingCounts } from "./routing.js";

export interface Throughput {
  conns: number;
  /** Bare socket CPU ns per datagram through the kernel (median over every conn count's rounds). */
  receiveNs: number;
  routingNs: number;
  /** receive ÷ (receive + routing). */
  ratio: number;
}

export interface KernelResult {
  points: KernelPoint[];
  /** Only when `push` ran in the same run. */
  throughput: Throughput[] | undefined;
}

/** A mux server reads every datagram through the kernel anyway: what the mux adds must not show. */
const MIN_THROUGHPUT_RATIO = 0.98;

function chart(r: KernelResult, m: Machine): string {
  const { points, throughput } = r;
  return renderChart(
    "udpmux: datagrams/s vs registered conns (1,200-byte datagrams, 127.0.0.1)",
    `${m.cpu}, ${m.nproc} cores, Node ${m.node}; solid: measured, dashed: CPU-bound capacity`,
    [
      {
        label: "bare socket, measured",
        color: "#777",
        points: points.map((k) => ({ conns: k.conns, perSecond: k.bare.perSecond })),
      },
      {
        label: "mux (push), measured",
        color: "#1f6feb",
        points: points.map((k) => ({ conns: k.conns, perSecond: k.push.perSecond })),
      },
      ...(throughput === undefined
        ? []
        : [
            {
              label: "bare: 1 s ÷ receive CPU",
              color: "#777",
              dashed: true,
              points: throughput.map((t) => ({ conns: t.conns, perSecond: 1e9 / t.receiveNs })),
            },
            {
              label: "mux: 1 s ÷ (receive + routing) CPU",
              color: "#1f6feb",
              dashed: true,
              points: throughput.map((t) => ({
                conns: t.conns,
                perSecond: 1e9 / (t.receiveNs + Math.max(0, t.routingNs)),
              })),
            },
          ]),
    ],
  );
}

export default section<KernelResult>({
  name: "kernel",
  title: () => "socket to socket (sender child process)",
  run: async ({ quick, earlier }) => {
    const points = await benchKernel(quick ? [100] : routingCounts(false), quick);
    const push = earlier.get("push") as RoutingPoint[] | undefined;
    let throughput: Throughput[] | undefined;
    if (push !== undefined) {
      const receiveNs = median(points.map((k) => k.bare.cpuNsPerDatagram));
      throughput = push.map((p) => ({
        conns: p.conns,
        receiveNs,
        routingNs: p.routingNs,
        ratio: receiveNs / (receiveNs + Math.max(0, p.routingNs)),
      }));
    }
    return { points, throughput };
  },
  targets: ({ throughput }) => {
    if (throughput === undefined) return [];
    const min = Math.min(...throughput.map((t) => t.ratio));
    return [
      {
        name: "throughput mux/bare = receive ÷ (receive + routing)",
        target: `≥ ${MIN_THROUGHPUT_RATIO}`,
        measured: `${fmt(min, 4)} (min)`,
        met: min >= MIN_THROUGHPUT_RATIO,
        reason:
          "one socket for every peer may cost at most 2 % of a bare socket's CPU-bound datagram rate (the kernel's receive path dominates)",
      },
    ];
  },
  render: ({ points, throughput }) => {
    const out = [
      "Socket to socket (64 connected senders in a child process; medians; expect ±30 % between runs)",
      table(
        [
          "conns",
          "bare dgram/s",
          "push dgram/s",
          "pull dgram/s",
          "push/bare",
          "pull/bare",
          "bare ns",
          "push ns",
          "pull ns",
        ],
        points.map((k) => [
          fmt(k.conns),
          fmt(k.bare.perSecond),
          fmt(k.push.perSecond),
          fmt(k.pull.perSecond),
          fmt(k.push.perSecond / k.bare.perSecond, 2),
          fmt(k.pull.perSecond / k.bare.perSecond, 2),
          fmt(k.bare.cpuNsPerDatagram),
          fmt(k.push.cpuNsPerDatagram),
          fmt(k.pull.cpuNsPerDatagram),
        ]),
      ),
    ];
    if (throughput !== undefined) {
      out.push(
        `Throughput mux/bare = receive ÷ (receive + push routing), receive = ${fmt(throughput[0]!.receiveNs)} CPU ns per datagram`,
        table(
          ["conns", "routing ns", "mux/bare"],
          throughput.map((t) => [fmt(t.conns), fmt(t.routingNs, 1), fmt(t.ratio, 4)]),
        ),
      );
    }
    return out.join("\n");
  },
  files: (r, { machine }) => ({ "throughput.svg": chart(r, machine) }),
});

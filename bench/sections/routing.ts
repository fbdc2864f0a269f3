/**
 * `push`, `pull`, `first-contact`: in-process routing (bench/routing.ts), the mux against a bare socket's
 * `'message'` handler, no kernel in the way.
 */
import { section } from "../lib/section.js";
import { fmt, table } from "../lib/stats.js";
import {
  benchFirstContact,
  benchRoutingPull,
  benchRoutingPush,
  type FirstContactResult,
  type PullPoint,
  type RoutingPoint,
  routingSink,
} from "../routing.js";

/** Registered conns the routing is measured at (`--quick`: 1 and 1,000). */
export const routingCounts = (quick: boolean): number[] => (quick ? [1, 1_000] : [1, 100, 1_000, 10_000]);

/**
 * The kernel's receive path costs ~6 µs of CPU per datagram here (the `kernel` section); 100 ns of routing
 * keeps the mux within ~2 % of a bare socket (the `kernel` section's 0.98 throughput target).
 */
const MAX_ROUTING_NS = 100;
/** "Flat": what 10,000 conns may add over 1; the lookups are O(1), so only cache effects may show. */
const MAX_SPREAD_NS = 20;

function delivered(): void {
  if (routingSink() === 0) throw new Error("nothing was delivered");
}

export const push = section<RoutingPoint[]>({
  name: "push",
  title: () => "in-process routing, push mode",
  run: async ({ quick }) => {
    const points = await benchRoutingPush(routingCounts(quick), quick);
    delivered();
    return points;
  },
  targets: (points) => {
    const routing = points.map((p) => p.routingNs);
    const max = Math.max(...routing);
    const spread = max - Math.min(...routing);
    const cold = Math.max(...points.map((p) => p.allActive.routingNs));
    return [
      {
        name: "routing cost at every conn count (64 active)",
        target: `≤ ${MAX_ROUTING_NS} ns`,
        measured: `${fmt(max, 1)} ns (max)`,
        met: max <= MAX_ROUTING_NS,
        reason: "≈ 2 % of the ~6 µs the kernel's receive path costs per datagram here",
      },
      {
        name: "routing cost flat from 1 to 10,000 conns",
        target: `max − min ≤ ${MAX_SPREAD_NS} ns`,
        measured: `${fmt(spread, 1)} ns`,
        met: spread <= MAX_SPREAD_NS,
        reason: "the lookups are O(1) map reads: more conns may only cost cache misses",
      },
      {
        name: "routing cost, every conn active in turn (cold state)",
        target: `≤ ${MAX_ROUTING_NS} ns`,
        measured: `${fmt(cold, 1)} ns (max)`,
        met: cold <= MAX_ROUTING_NS,
        reason:
          "the same bar when each datagram touches a conn whose state is out of cache, as with many real peers",
      },
    ];
  },
  render: (points) =>
    [
      "In-process routing, push mode (CPU ns per datagram; medians of alternating rounds). Traffic from 64 of\nthe registered conns (hot set), and from all of them in turn (all active: their state is out of cache)",
      table(
        ["conns", "bare", "mux", "routing", "all active: bare", "mux", "routing"],
        points.map((p) => [
          fmt(p.conns),
          fmt(p.bareNs, 1),
          fmt(p.muxNs, 1),
          fmt(p.routingNs, 1),
          fmt(p.allActive.bareNs, 1),
          fmt(p.allActive.muxNs, 1),
          fmt(p.allActive.routingNs, 1),
        ]),
      ),
    ].join("\n"),
});

export const pull = section<PullPoint[]>({
  name: "pull",
  title: () => "in-process routing, pull mode",
  run: async ({ quick }) => {
    const points = await benchRoutingPull(routingCounts(quick), quick);
    delivered();
    return points;
  },
  // Pull mode costs a promise per datagram by design; it is measured to say so, not judged.
  targets: () => [],
  render: (points) =>
    [
      "In-process pull mode (CPU ns per datagram; bursts of 64 datagrams, then 64 reads)",
      table(
        ["conns", "bare push", "readFrom", "for await"],
        points.map((p) => [fmt(p.conns), fmt(p.bareNs, 1), fmt(p.readFromNs, 1), fmt(p.iteratorNs, 1)]),
      ),
    ].join("\n"),
});

export const firstContact = section<FirstContactResult>({
  name: "first-contact",
  title: () => "first contact",
  run: ({ quick }) => benchFirstContact(quick),
  targets: () => [],
  render: (r) =>
    `First contact: ${fmt(r.perSecond)} new peers/s (${fmt(r.nsPerContact)} CPU ns each: parse, create conn, queue candidate, accept)`,
});

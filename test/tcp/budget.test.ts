/**
 * TcpBudget without sockets: connections are plain `{ source }` objects, each step a row of a table —
 * what the budget decides and what it counts after it.
 */
import { describe, expect, it } from "vitest";
import { sourceKey } from "../../src/address.js";
import { type BudgetLimits, type RouteTarget, TcpBudget } from "../../src/tcp/budget.js";

interface Conn {
  readonly name: string;
  readonly source: string;
}

const LIMITS: BudgetLimits = {
  maxPendingConnections: 3,
  maxPendingPerAddress: 2,
  maxUnverifiedPerAddress: 2,
  maxTcpConnections: 4,
  maxAddressesPerUfrag: 3,
};

function conn(name: string, address: string): Conn {
  return { name, source: sourceKey(address) };
}

/** Admit `link` as the mux does: evict what the budget names, then pend it. Returns the decision. */
function connect(budget: TcpBudget<Conn>, link: Conn): string {
  const admission = budget.admitConnection(link.source);
  if (admission === "pending-limit-per-address") return admission;
  if (admission !== "ok") {
    expect(budget.settle(admission.evict)).toBe(true);
    budget.pend(link);
    return `evict ${admission.evict.name}`;
  }
  budget.pend(link);
  return "ok";
}

describe("pending connections", () => {
  it.each([
    {
      name: "total full: the oldest is evicted, then the next oldest",
      conns: [
        ["a", "192.0.2.1"],
        ["b", "192.0.2.2"],
        ["c", "192.0.2.3"],
        ["d", "192.0.2.4"],
        ["e", "192.0.2.5"],
      ],
      decisions: ["ok", "ok", "ok", "evict a", "evict b"],
      pending: 3,
    },
    {
      name: "per source: the third from one IPv4 address is refused, another address is not",
      conns: [
        ["a", "192.0.2.1"],
        ["b", "192.0.2.1"],
        ["c", "192.0.2.1"],
        ["d", "192.0.2.2"],
      ],
      decisions: ["ok", "ok", "pending-limit-per-address", "ok"],
      pending: 3,
    },
    {
      name: "per source: IPv6 addresses of one /64 count as one source",
      conns: [
        ["a", "2001:db8:1:2::1"],
        ["b", "2001:db8:1:2:ffff:ffff:ffff:ffff"],
        ["c", "2001:db8:1:2:abcd::9"],
        ["d", "2001:db8:1:3::1"],
      ],
      decisions: ["ok", "ok", "pending-limit-per-address", "ok"],
      pending: 3,
    },
    {
      name: "per source: a v4-mapped IPv6 address is its IPv4 address",
      conns: [
        ["a", "192.0.2.7"],
        ["b", "::ffff:192.0.2.7"],
        ["c", "::ffff:c000:207"],
      ],
      decisions: ["ok", "ok", "pending-limit-per-address"],
      pending: 2,
    },
    {
      name: "the per-source refusal comes before eviction: a full source evicts nobody",
      conns: [
        ["a", "192.0.2.1"],
        ["b", "192.0.2.1"],
        ["c", "192.0.2.2"],
        ["d", "192.0.2.1"],
      ],
      decisions: ["ok", "ok", "ok", "pending-limit-per-address"],
      pending: 3,
    },
  ])("$name", ({ conns, decisions, pending }) => {
    const budget = new TcpBudget<Conn>(LIMITS);
    expect(conns.map(([name, address]) => connect(budget, conn(name!, address!)))).toEqual(decisions);
    expect(budget.pendingCount).toBe(pending);
  });

  it("an evicted or routed connection frees its source's pending room; settling twice is harmless", () => {
    const budget = new TcpBudget<Conn>(LIMITS);
    const [a, b, c] = [conn("a", "192.0.2.1"), conn("b", "192.0.2.1"), conn("c", "192.0.2.1")];
    expect([connect(budget, a), connect(budget, b), connect(budget, c)]).toEqual([
      "ok",
      "ok",
      "pending-limit-per-address",
    ]);
    expect(budget.pendingFrom(a.source)).toBe(2);
    expect(budget.settle(a)).toBe(true);
    expect(budget.settle(a)).toBe(false);
    expect(budget.pendingFrom(a.source)).toBe(1);
    expect(connect(budget, c)).toBe("ok");
    expect(budget.takePending().map((l) => l.name)).toEqual(["b", "c"]);
    expect([budget.pendingCount, budget.pendingFrom(a.source)]).toEqual([0, 0]);
  });
});

describe("routed connections", () => {
  const claimed: RouteTarget = { claimed: true, links: 0, replacing: false };

  it("the unverified share of a source: refused before first contact, and after an unverified check", () => {
    const budget = new TcpBudget<Conn>(LIMITS);
    const source = sourceKey("2001:db8::1");
    expect(budget.refuseFirstFrame(source, false)).toBeUndefined();
    budget.addRouted(source, false);
    budget.addRouted(sourceKey("2001:db8::ffff"), false); // same /64
    expect(budget.unverifiedFrom(source)).toBe(2);
    expect(budget.refuseFirstFrame(source, false)).toBe("unverified-limit"); // first contact: never verified
    expect(budget.refuseFirstFrame(source, true)).toBeUndefined(); // a known ufrag may still verify
    expect(budget.refuseRoute(source, false, claimed)).toBe("unverified-limit");
    expect(budget.refuseRoute(source, true, claimed)).toBeUndefined(); // verified checks don't count
    expect(budget.refuseFirstFrame(sourceKey("2001:db8:0:1::1"), false)).toBeUndefined(); // another /64
  });

  it.each([
    { name: "an unverified connection closing", close: { verified: false }, freed: true },
    { name: "a verified connection closing", close: { verified: true }, freed: false },
  ])("what frees the unverified share: $name", ({ close, freed }) => {
    const budget = new TcpBudget<Conn>(LIMITS);
    const source = sourceKey("192.0.2.9");
    budget.addRouted(source, false);
    budget.addRouted(source, false);
    budget.addRouted(source, true);
    budget.removeRouted(source, close.verified);
    expect(budget.refuseRoute(source, false, claimed)).toBe(freed ? undefined : "unverified-limit");
    expect(budget.routedCount).toBe(2);
  });

  it("the total: connection-limit at maxTcpConnections whatever the source, verified or not; a close frees it", () => {
    const budget = new TcpBudget<Conn>(LIMITS);
    for (let i = 0; i < LIMITS.maxTcpConnections; i++) budget.addRouted(sourceKey(`192.0.2.${i}`), true);
    expect(budget.routedCount).toBe(4);
    expect(budget.refuseFirstFrame(sourceKey("198.51.100.1"), true)).toBe("connection-limit");
    expect(budget.refuseFirstFrame(sourceKey("198.51.100.1"), false)).toBe("connection-limit");
    budget.removeRouted(sourceKey("192.0.2.0"), true);
    expect(budget.refuseFirstFrame(sourceKey("198.51.100.1"), false)).toBeUndefined();
  });

  it.each([
    { target: { claimed: false, links: 0, replacing: false }, refusal: undefined },
    { target: { claimed: false, links: 1, replacing: false }, refusal: "address-cap" },
    { target: { claimed: false, links: 1, replacing: true }, refusal: undefined },
    { target: { claimed: true, links: 1, replacing: false }, refusal: undefined },
    { target: { claimed: true, links: 2, replacing: false }, refusal: undefined },
    { target: { claimed: true, links: 3, replacing: false }, refusal: "address-cap" },
    { target: { claimed: true, links: 3, replacing: true }, refusal: undefined },
  ])("links per conn (one while unclaimed): %o", ({ target, refusal }) => {
    const budget = new TcpBudget<Conn>(LIMITS);
    expect(budget.refuseRoute(sourceKey("192.0.2.1"), true, target)).toBe(refusal);
  });
});

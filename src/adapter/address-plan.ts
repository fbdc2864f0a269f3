/**
 * Address plans: which addresses an attached agent advertises, per IP family, on which mux port. Stack-
 * agnostic (it imports nothing from werift): the werift adapter validates its options into these plans,
 * and another stack's adapter could do the same.
 */
import type { AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import type { Family } from "../address.js";
import { isWildcard } from "../address.js";
import { invalidArgValue } from "../errors.js";

/** The addresses an agent advertises in one family over UDP: the first owns the stack's host protocol. */
export interface FamilyPlan {
  family: Family;
  /** The mux's socket address for this family (its port goes on every candidate). */
  local: AddressInfo;
  /** Announced addresses of this family, in the caller's order; never empty once resolved. */
  addresses: string[];
}

/** The announced addresses of one family and the TCP mux's port for them. */
export interface TcpPlan {
  readonly family: Family;
  readonly port: number;
  /** Announced addresses of this family: the first gets the stack's own passive protocol. */
  readonly addresses: string[];
}

/**
 * One empty plan per family the UDP mux listens in. A udp6 socket on "::" is dual-stack unless ipv6Only
 * (which the mux doesn't expose): IPv4 addresses may be announced explicitly, so IPv4 gets a plan too.
 */
export function listenPlans(listen: readonly AddressInfo[]): Map<Family, FamilyPlan> {
  const byFamily = new Map<Family, FamilyPlan>();
  for (const info of listen) {
    const family = info.family as Family;
    if (!byFamily.has(family)) byFamily.set(family, { family, local: info, addresses: [] });
  }
  const v6 = byFamily.get("IPv6");
  if (v6 !== undefined && !byFamily.has("IPv4") && isWildcard(v6.local.address)) {
    byFamily.set("IPv4", {
      family: "IPv4",
      local: { address: "0.0.0.0", family: "IPv4", port: v6.local.port },
      addresses: [],
    });
  }
  return byFamily;
}

/** The host's interfaces, as `os.networkInterfaces()` lists them (a parameter, so tests can pass their own). */
export type Interfaces = ReturnType<typeof networkInterfaces>;

/**
 * The default announced addresses: each listen address, or for a wildcard every non-internal,
 * non-link-local address of `interfaces` of each family the socket reaches — its own, and IPv4 too for a
 * dual-stack `::` (so an IPv4 host whose only IPv6 address is link-local still has candidates).
 */
export function addDefaultAddresses(
  byFamily: Map<Family, FamilyPlan>,
  listen: readonly AddressInfo[],
  interfaces: Interfaces = networkInterfaces(),
): void {
  for (const info of listen) {
    const family = info.family as Family;
    const wildcard = isWildcard(info.address);
    add(byFamily.get(family)!, wildcard ? interfaceAddresses(family, interfaces) : [info.address]);
    if (wildcard && family === "IPv6") add(byFamily.get("IPv4")!, interfaceAddresses("IPv4", interfaces));
  }
}

function add(plan: FamilyPlan, found: readonly string[]): void {
  for (const address of found) if (!plan.addresses.includes(address)) plan.addresses.push(address);
}

function isLinkLocal(address: string, family: Family): boolean {
  return family === "IPv4" ? address.startsWith("169.254.") : /^fe[89ab]/i.test(address);
}

/** Every non-internal, non-link-local address of `family` in `interfaces` (the wildcard default). */
export function interfaceAddresses(family: Family, interfaces: Interfaces = networkInterfaces()): string[] {
  const out: string[] = [];
  for (const list of Object.values(interfaces)) {
    for (const info of list ?? []) {
      if (info.internal || info.family !== family || isLinkLocal(info.address, family)) continue;
      if (!out.includes(info.address)) out.push(info.address);
    }
  }
  return out;
}

/** How a mux bound to `listen` is described in an error: `0.0.0.0 (udp4)`, `:: (dual stack)`. */
export function describeListen(listen: readonly AddressInfo[]): string {
  return listen
    .map((l) =>
      l.family === "IPv6" && isWildcard(l.address)
        ? `${l.address} (dual stack: IPv6 and IPv4)`
        : `${l.address} (${l.family} only)`,
    )
    .join(", ");
}

/**
 * The families a TCP mux listening on `listen` takes connections in, with the agent's announced addresses:
 * a wildcard IPv6 listen is taken as dual-stack (as `TCPMux.listen()` makes it by default).
 * @throws TypeError `ERR_INVALID_ARG_VALUE`: no announced family is one the TCP mux listens in.
 */
export function resolveTcpPlans(families: readonly FamilyPlan[], listen: readonly AddressInfo[]): TcpPlan[] {
  const ports = new Map<Family, number>();
  for (const info of listen) {
    const family = info.family as Family;
    if (!ports.has(family)) ports.set(family, info.port);
    if (family === "IPv6" && isWildcard(info.address) && !ports.has("IPv4")) ports.set("IPv4", info.port);
  }
  const plans = families
    .filter((plan) => ports.has(plan.family))
    .map((plan) => ({ family: plan.family, port: ports.get(plan.family)!, addresses: plan.addresses }));
  if (plans.length === 0) {
    throw invalidArgValue(
      "options.tcpMux",
      `a TCP mux listening in a family the agent announces (${families.map((p) => p.family)})`,
      listen.map((a) => `${a.address}:${a.port}`).join(", "),
    );
  }
  return plans;
}

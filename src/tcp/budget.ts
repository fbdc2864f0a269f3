/**
 * TcpBudget: how many TCP connections the mux holds, and who may have another — the descriptor bounds of
 * `TCPMux`, as plain bookkeeping with no socket in it (generic over what a connection is, so it is tested
 * with plain objects; see `test/tcp/budget.test.ts`).
 *
 * - *Pending* connections (accepted, no first frame yet) are what an attacker makes for free: at most
 *   `maxPendingConnections` in total, the oldest evicted when a new one needs room (idle connections can't
 *   keep a real check out), and at most `maxPendingPerAddress` per source, beyond which a new one is refused.
 * - *Routed* connections (their first frame was a check, admitted): at most `maxTcpConnections` in total; at
 *   most `maxUnverifiedPerAddress` per source while their check was not verified by MESSAGE-INTEGRITY; at most
 *   `maxAddressesPerUfrag` per conn, and one while nobody has claimed the conn.
 *
 * A source is an IPv4 address or an IPv6 /64 (`sourceKey()`), so one host's many IPv6 addresses count once.
 * The caller says when a connection starts waiting ({@link pend}), stops waiting ({@link settle}), is routed
 * ({@link addRouted}) and goes away ({@link removeRouted}); the budget only decides and counts.
 */
import { Tally } from "../core/tally.js";

/** What the budget needs to know of a connection: which source it counts under. */
export interface Sourced {
  /** The IPv4 address, or the IPv6 /64 (`sourceKey()`). */
  readonly source: string;
}

/** The bounds the budget keeps (the `TCPMux` options of the same names). */
export interface BudgetLimits {
  readonly maxPendingConnections: number;
  readonly maxPendingPerAddress: number;
  readonly maxUnverifiedPerAddress: number;
  readonly maxTcpConnections: number;
  readonly maxAddressesPerUfrag: number;
}

/**
 * What {@link TcpBudget.admitConnection} decided for a new connection: take it; take it after evicting the
 * oldest pending one (`evict`, still counted until the caller {@link TcpBudget.settle}s it); or refuse it.
 */
export type ConnectionAdmission<L> = "ok" | { readonly evict: L } | "pending-limit-per-address";

/** Why a first frame can't route its connection (counted under the same names as drop reasons). */
export type RouteRefusal = "connection-limit" | "unverified-limit" | "address-cap";

/** The conn a check was admitted to, as {@link TcpBudget.refuseRoute} sees it. */
export interface RouteTarget {
  /** Claimed by `getConn()` or `accept()`; an unclaimed conn takes one connection. */
  readonly claimed: boolean;
  /** Connections routed to it now. */
  readonly links: number;
  /** It holds a connection from the same address and port already (which the new one replaces). */
  readonly replacing: boolean;
}

export class TcpBudget<L extends Sourced> {
  readonly #limits: BudgetLimits;
  /** Waiting for their first frame, oldest first (insertion order): the first is the one evicted. */
  readonly #pending = new Set<L>();
  readonly #pendingPerSource = new Tally();
  /** Routed connections whose check was not verified, per source. */
  readonly #unverifiedPerSource = new Tally();
  #routed = 0;

  constructor(limits: BudgetLimits) {
    this.#limits = limits;
  }

  /** Connections waiting for their first frame. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Connections routed to a conn. */
  get routedCount(): number {
    return this.#routed;
  }

  /** Pending connections from `source`. */
  pendingFrom(source: string): number {
    return this.#pendingPerSource.get(source);
  }

  /** Routed, unverified connections from `source`. */
  unverifiedFrom(source: string): number {
    return this.#unverifiedPerSource.get(source);
  }

  /** A new connection from `source`: may it wait for its first frame, and whom must it evict? */
  admitConnection(source: string): ConnectionAdmission<L> {
    if (this.#pendingPerSource.get(source) >= this.#limits.maxPendingPerAddress) {
      return "pending-limit-per-address";
    }
    if (this.#pending.size >= this.#limits.maxPendingConnections) {
      const oldest = this.#pending.values().next().value;
      if (oldest !== undefined) return { evict: oldest };
    }
    return "ok";
  }

  /** `link` was admitted and waits for its first frame (the newest pending). */
  pend(link: L): void {
    if (this.#pending.has(link)) return;
    this.#pending.add(link);
    this.#pendingPerSource.increment(link.source);
  }

  /** `link` no longer waits (routed, rejected or gone). Returns whether it was pending; harmless if not. */
  settle(link: L): boolean {
    if (!this.#pending.delete(link)) return false;
    this.#pendingPerSource.decrement(link.source);
    return true;
  }

  /** Every pending connection, oldest first, forgotten (the mux is closing). */
  takePending(): L[] {
    const links = [...this.#pending];
    for (const link of links) this.settle(link);
    return links;
  }

  /**
   * A first frame from `source` parsed as a check for a conn that exists (`ufragKnown`) or not: why it is
   * refused before its check is looked at — the total is full, or the source's unverified share is full
   * and the check would be first contact (never verified: refused before it makes a conn).
   */
  refuseFirstFrame(source: string, ufragKnown: boolean): RouteRefusal | undefined {
    if (this.#routed >= this.#limits.maxTcpConnections) return "connection-limit";
    if (!ufragKnown && this.#sourceFull(source)) return "unverified-limit";
    return undefined;
  }

  /**
   * The check was admitted to `target`, `verified` or not: why its connection can't be routed there — an
   * unverified one from a source whose unverified share is full, or one more than the conn may hold
   * (`maxAddressesPerUfrag`, one while unclaimed) unless it replaces one from the same address and port.
   */
  refuseRoute(source: string, verified: boolean, target: RouteTarget): RouteRefusal | undefined {
    if (!verified && this.#sourceFull(source)) return "unverified-limit";
    const cap = target.claimed ? this.#limits.maxAddressesPerUfrag : 1;
    if (target.links >= cap && !target.replacing) return "address-cap";
    return undefined;
  }

  /** A connection from `source` was routed (no longer pending: {@link settle} it too). */
  addRouted(source: string, verified: boolean): void {
    this.#routed++;
    if (!verified) this.#unverifiedPerSource.increment(source);
  }

  /** A routed connection from `source` went away: its room is free again. */
  removeRouted(source: string, verified: boolean): void {
    this.#routed--;
    if (!verified) this.#unverifiedPerSource.decrement(source);
  }

  #sourceFull(source: string): boolean {
    return this.#unverifiedPerSource.get(source) >= this.#limits.maxUnverifiedPerAddress;
  }
}

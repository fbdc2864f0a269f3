/**
 * Associations: which owner (a UDP mux's conn record) a remote address belongs to, and how sure the mux is.
 * Pure bookkeeping over an injected clock — every method that reads the time takes `now` (monotonic ms,
 * `clock.ts`) — so the ownership rules are tested as a table of transitions, without sockets or timers.
 *
 * Ownership (README "Ownership rules"; what spoofing can't break):
 * - an association made by a check whose MESSAGE-INTEGRITY verified against the owner's password is
 *   {@link STRONG}; one made by an unverified check, or by the owner's own send, is {@link WEAK};
 * - a free address is taken by any check (up to `maxPerOwner` addresses per owner), or by the owner's own
 *   send (undone if that send fails);
 * - only a verified check moves an address to another owner: a weak association at once, a strong one only
 *   once its owner has had no verified check from the address for `idleMs` (data doesn't count: anyone can
 *   spoof a source);
 * - what unverified checks gave an owner (weak, `byCheck`) goes when the owner gets its first password.
 *
 * The per-datagram lookup is {@link Associations.get}: two map reads (`address → port → association`, no key
 * built), and the association holds its conn directly. Each owner lists its own associations (an array:
 * ~40 bytes against a Set's ~150), so removing an owner touches only what it had.
 */
import { AddressMap } from "../address.js";

/** Made by an unverified check or by the owner's own send. */
export const WEAK = 1;
/** Made (or confirmed) by a check verified against the owner's password. */
export const STRONG = 2;
export type Strength = typeof WEAK | typeof STRONG;

/** What an association's owner keeps: its conn, and the list of what it owns. */
export interface AssociationOwner<C = unknown, V = unknown> {
  readonly conn: C;
  /**
   * Associations owned, at most `maxPerOwner`: an exact-size array, replaced (never mutated) on every
   * change, starting from {@link NO_ASSOCIATIONS}. Most owners have one address, and an array grown by
   * `push` holds 17 slots (~100 B per owner). Changes come with a new address or a forgotten one, never
   * per datagram.
   */
  addresses: readonly Association<AssociationOwner<C, V>, V>[];
}

/** An owner's list before its first association (shared, never mutated). */
export const NO_ASSOCIATIONS: readonly never[] = [];

/**
 * One remote address's owner. `V` is the path the address is reached by besides the mux's own socket (an
 * ingress: a relay, a TLS stream), `undefined` for the socket.
 */
export interface Association<O extends AssociationOwner = AssociationOwner, V = unknown> {
  readonly owner: O;
  /** `owner.conn`, one hop closer for the per-datagram path. */
  readonly conn: O["conn"];
  readonly address: string;
  readonly port: number;
  strength: Strength;
  /**
   * Made by an unverified check (not by the owner's own send): what a peer that merely knows or guesses
   * the ufrag can create, dropped by {@link Associations.dropUnverified}.
   */
  readonly byCheck: boolean;
  /**
   * Time of the association's creation or of the last verified check from it to its owner. Only verified
   * checks count: any datagram from a spoofed source would otherwise keep an address "busy".
   */
  lastSeen: number;
  /** Where datagrams to the address go: `undefined` for the socket, else the ingress they came through. */
  via: V | undefined;
}

/** What {@link Associations.onCheck} did, for the routing's log and the transition tests. */
export type CheckOutcome =
  /** A free address was associated (strong if the check was verified, else weak). */
  | "taken"
  /** The owner's own association, confirmed by a verified check: strong, `lastSeen` now. */
  | "confirmed"
  /** Moved from another owner to this one (strong). */
  | "moved"
  /** Nothing changed: an unverified check for an owned address, or a strong owner not idle long enough. */
  | "kept"
  /** Nothing changed: the owner already has `maxPerOwner` addresses. */
  | "capped";

export interface AssociationLimits {
  /** Addresses one owner may hold (`maxAddressesPerUfrag`). */
  readonly maxPerOwner: number;
  /** Silence after which a verified check for another owner may take a strong association (`addressIdleMs`). */
  readonly idleMs: number;
}

export class Associations<O extends AssociationOwner<unknown, V>, V = unknown> {
  readonly #limits: AssociationLimits;
  readonly #map = new AddressMap<Association<O, V>>();

  constructor(limits: AssociationLimits) {
    this.#limits = limits;
  }

  /** Associated addresses. */
  get size(): number {
    return this.#map.size;
  }

  /** The per-datagram lookup: the association of `address:port`, if any. Allocates nothing. */
  get(address: string, port: number): Association<O, V> | undefined {
    return this.#map.get(address, port);
  }

  /**
   * Apply the ownership rules to a check for `owner` from `address:port` (`verified`: its MESSAGE-INTEGRITY
   * held against the owner's password) that arrived through `via` at `now`.
   */
  onCheck(owner: O, address: string, port: number, verified: boolean, now: number, via?: V): CheckOutcome {
    const existing = this.#map.get(address, port);
    if (existing === undefined) {
      const added = this.#add(owner, address, port, verified ? STRONG : WEAK, !verified, now, via);
      return added === undefined ? "capped" : "taken";
    }
    if (existing.owner === owner) {
      if (!verified) return "kept";
      existing.strength = STRONG;
      existing.lastSeen = now;
      existing.via = via; // the peer proved itself over this path: answer it there
      return "confirmed";
    }
    if (!verified) return "kept";
    if (existing.strength === STRONG && now - existing.lastSeen < this.#limits.idleMs) return "kept";
    if (owner.addresses.length >= this.#limits.maxPerOwner) return "capped";
    this.remove(existing);
    this.#add(owner, address, port, STRONG, false, now, via);
    return "moved";
  }

  /**
   * `owner` is about to send to `address:port`: a free address becomes its (weak) association, returned so
   * that a failed send can {@link undoSend} it. An owned address (anyone's) is left as it is.
   */
  onSend(owner: O, address: string, port: number, now: number): Association<O, V> | undefined {
    if (this.#map.get(address, port) !== undefined) return undefined;
    return this.#add(owner, address, port, WEAK, false, now, undefined);
  }

  /** The send that made `association` failed: a failed send claims no address (unless it changed since). */
  undoSend(association: Association<O, V>): void {
    if (this.#map.get(association.address, association.port) === association) this.remove(association);
  }

  /** `owner` got its first password: the addresses unverified checks gave it go; its own sends keep theirs. */
  dropUnverified(owner: O): void {
    for (const a of owner.addresses as readonly Association<O, V>[]) {
      if (a.strength === WEAK && a.byCheck) this.remove(a);
    }
  }

  /** Forget everything `owner` has (it is going away). */
  removeOwner(owner: O): void {
    for (const a of owner.addresses) this.#map.delete(a.address, a.port);
    owner.addresses = NO_ASSOCIATIONS;
  }

  /** Forget every association reached through `via` (that path closed). O(associations): paths close rarely. */
  removeVia(via: V): void {
    const gone: Association<O, V>[] = [];
    for (const a of this.#map.values()) if (a.via === via) gone.push(a);
    for (const a of gone) this.remove(a);
  }

  remove(association: Association<O, V>): void {
    const owner = association.owner;
    const i = owner.addresses.indexOf(association);
    if (i !== -1)
      owner.addresses = owner.addresses.length === 1 ? NO_ASSOCIATIONS : owner.addresses.toSpliced(i, 1);
    this.#map.delete(association.address, association.port);
  }

  /** Forget everything (the mux closed). Owners' lists are left to their owners. */
  clear(): void {
    this.#map.clear();
  }

  #add(
    owner: O,
    address: string,
    port: number,
    strength: Strength,
    byCheck: boolean,
    now: number,
    via: V | undefined,
  ): Association<O, V> | undefined {
    if (owner.addresses.length >= this.#limits.maxPerOwner) return undefined;
    const association: Association<O, V> = {
      owner,
      conn: owner.conn,
      address,
      port,
      strength,
      byCheck,
      lastSeen: now,
      via,
    };
    owner.addresses = owner.addresses.concat(association); // exact size (see AssociationOwner)
    this.#map.set(address, port, association);
    return association;
  }
}

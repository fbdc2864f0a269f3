/**
 * ConnTable: the transport-free half of a mux — which conn owns which local ufrag, the conns nobody has
 * claimed yet, and the candidates waiting for `accept()`. `UDPMux` and `TCPMux` each keep one; what a
 * transport adds per conn (UDP's address associations and transactions, TCP's connections) lives in its
 * own record type, which extends {@link ConnRecord}.
 *
 * Bounds: at most `maxConnections` records; at most `acceptQueueSize` waiting candidates; a record nobody
 * claims (by `getConn()` or `accept()`) within `acceptTimeoutMs` is expired by {@link ConnTable.expire}.
 */
import type { Family } from "../address.js";
import { ConnectionLimitError, invalidArgType, MuxClosedError } from "../errors.js";
import { verifyFingerprint, verifyMessageIntegrity } from "../integrity.js";
import type { DropReason, MuxedConnection } from "../muxed-connection.js";
import { BoundedQueue } from "../queue.js";
import type { BindingRequest } from "../stun.js";
import {
  validateIpAddress,
  validateObject,
  validatePassword,
  validateSignal,
  validateUfrag,
} from "../validate.js";
import { enqueueWaiter, takeWaiter, type Waiter } from "../waiters.js";

/** A new remote peer, learned from its first connectivity check for an unknown local ufrag. */
export interface Candidate {
  /** Our ufrag, as the peer named it (the part of USERNAME before ':'). */
  localUfrag: string;
  /** The peer's ufrag (the part after ':'). */
  remoteUfrag: string;
  address: string;
  port: number;
  family: Family;
}

/** What every mux keeps per conn. */
export interface ConnRecord {
  readonly conn: MuxedConnection;
  /** Claimed by `getConn()` or `accept()`; unclaimed conns expire after `acceptTimeoutMs`. */
  claimed: boolean;
  /** On the monotonic clock (`clock.ts`), as `expire()`'s `now`: a wall-clock step moves no expiry. */
  readonly createdAt: number;
}

export interface ConnTableLimits {
  readonly maxConnections: number;
  readonly acceptQueueSize: number;
  readonly acceptTimeoutMs: number;
}

/**
 * What {@link ConnTable.admitCheck} decided: the record a check goes to — `verified` when its
 * MESSAGE-INTEGRITY held against the conn's password, `candidate` when it was first contact — or why not.
 */
export type Admission<R> =
  | { readonly record: R; readonly verified: boolean; readonly candidate: Candidate | undefined }
  | DropReason;

interface PendingCandidate<R> {
  readonly candidate: Candidate;
  readonly record: R;
}

export class ConnTable<R extends ConnRecord> {
  readonly #limits: ConnTableLimits;
  readonly #make: (localUfrag: string, family: Family) => R;
  readonly #records = new Map<MuxedConnection, R>();
  readonly #ufragsV4 = new Map<string, R>();
  readonly #ufragsV6 = new Map<string, R>();
  /** Unclaimed records, oldest first (insertion order is creation order). */
  readonly #unclaimed = new Set<R>();
  readonly #acceptQueue: BoundedQueue<PendingCandidate<R>>;
  readonly #acceptWaiters = new Set<Waiter<Candidate>>();

  /** @param make builds a record (and its conn) for a new `(ufrag, family)`. */
  constructor(limits: ConnTableLimits, make: (localUfrag: string, family: Family) => R) {
    this.#limits = limits;
    this.#make = make;
    this.#acceptQueue = new BoundedQueue(limits.acceptQueueSize);
  }

  /** Live conns. */
  get size(): number {
    return this.#records.size;
  }

  /** Candidates waiting for `accept()`. */
  get acceptQueueLength(): number {
    return this.#acceptQueue.length;
  }

  get(conn: MuxedConnection): R | undefined {
    return this.#records.get(conn);
  }

  /** The record of `localUfrag` in `family` (the routing's lookup for a check). */
  byUfrag(localUfrag: string, family: Family): R | undefined {
    return (family === "IPv4" ? this.#ufragsV4 : this.#ufragsV6).get(localUfrag);
  }

  values(): IterableIterator<R> {
    return this.#records.values();
  }

  /**
   * Either mux's `getConn(localUfrag, addr?, { password }?)`, arguments validated: the conn of `localUfrag`
   * in the family of `addr` (else `family`), created if missing and claimed, its password set if given.
   */
  getConn(
    localUfrag: string,
    addr: { address: string } | undefined,
    options: { password?: string } | undefined,
    family: Family,
    closed: boolean,
  ): MuxedConnection {
    validateUfrag(localUfrag, "localUfrag");
    if (addr !== undefined) {
      validateObject(addr, "addr");
      family = validateIpAddress(addr.address, "addr.address").family;
    }
    if (options !== undefined) validateObject(options, "options");
    const password =
      options?.password === undefined ? undefined : validatePassword(options.password, "options.password");
    if (closed) throw new MuxClosedError();
    const record = this.getOrCreate(localUfrag, family);
    if (password !== undefined) record.conn.setPassword(password);
    return record.conn;
  }

  /** Either mux's `accept({ signal }?)`: the next candidate; rejects on a bad argument, a closed mux, an abort. */
  acceptChecked(options: { signal?: AbortSignal } | undefined, closed: boolean): Promise<Candidate> {
    let signal: AbortSignal | undefined;
    try {
      signal = validateSignal(options);
    } catch (err) {
      return Promise.reject(err);
    }
    if (closed) return Promise.reject(new MuxClosedError());
    if (signal?.aborted) return Promise.reject(signal.reason);
    return this.accept(signal);
  }

  /** Either mux's `removeConnByUfrag()`: close the conns of `localUfrag` in both families. */
  removeByUfrag(localUfrag: string): void {
    if (typeof localUfrag !== "string") throw invalidArgType("localUfrag", "a string", localUfrag);
    this.#ufragsV4.get(localUfrag)?.conn.close();
    this.#ufragsV6.get(localUfrag)?.conn.close();
  }

  /** `getConn()`: the record of `(localUfrag, family)`, created if missing, and claimed. */
  getOrCreate(localUfrag: string, family: Family): R {
    let record = this.byUfrag(localUfrag, family);
    if (record === undefined) {
      if (this.#records.size >= this.#limits.maxConnections) {
        throw new ConnectionLimitError(this.#limits.maxConnections);
      }
      record = this.#create(localUfrag, family);
    }
    this.claim(record);
    return record;
  }

  /** Why a check for an unknown ufrag can't become a candidate now, if it can't. */
  refuseFirstContact(): DropReason | undefined {
    if (this.#records.size >= this.#limits.maxConnections) return "cap-reached";
    if (this.#acceptWaiters.size === 0 && this.#acceptQueue.length >= this.#limits.acceptQueueSize) {
      return "accept-queue-full";
    }
    return undefined;
  }

  /**
   * The admission of a parsed connectivity check from `from`, the same for every transport: its
   * FINGERPRINT must hold (RFC 5389 §15.5); a check for a conn with a password must carry a valid
   * MESSAGE-INTEGRITY (RFC 8445 §7.3); a check for an unknown ufrag is first contact, which makes an
   * unclaimed record and a candidate for `accept()` when the bounds allow. Returns the record with whether
   * the check was verified (and the candidate to {@link offer} once the transport has routed the check), or
   * why the check is dropped. Nothing is allocated before the check passed.
   */
  admitCheck(
    msg: Uint8Array,
    req: BindingRequest,
    from: Omit<Candidate, "localUfrag" | "remoteUfrag">,
  ): Admission<R> {
    if (!verifyFingerprint(msg, req)) return "integrity-failed";
    const record = this.byUfrag(req.localUfrag, from.family);
    if (record !== undefined) {
      const password = record.conn.password;
      if (password === undefined) return { record, verified: false, candidate: undefined };
      if (!verifyMessageIntegrity(msg, req, password)) return "integrity-failed";
      return { record, verified: true, candidate: undefined };
    }
    const refused = this.refuseFirstContact();
    if (refused !== undefined) return refused;
    const candidate: Candidate = {
      localUfrag: req.localUfrag,
      remoteUfrag: req.remoteUfrag,
      address: from.address,
      port: from.port,
      family: from.family,
    };
    return { record: this.createUnclaimed(req.localUfrag, from.family), verified: false, candidate };
  }

  /** A new unclaimed record, for a first contact {@link refuseFirstContact} admitted. */
  createUnclaimed(localUfrag: string, family: Family): R {
    return this.#create(localUfrag, family);
  }

  /** Hand `candidate` to a waiting `accept()` (which claims its record), or queue it. */
  offer(record: R, candidate: Candidate): void {
    const waiter = takeWaiter(this.#acceptWaiters);
    if (waiter !== undefined) {
      this.claim(record);
      waiter.resolve(candidate);
    } else {
      this.#acceptQueue.push({ candidate, record }); // refuseFirstContact() made room
    }
  }

  /** The next candidate (claimed), now or when one comes. The caller checked `signal` and closed-ness. */
  accept(signal: AbortSignal | undefined): Promise<Candidate> {
    const pending = this.#acceptQueue.shift();
    if (pending !== undefined) {
      this.claim(pending.record);
      return Promise.resolve(pending.candidate);
    }
    return enqueueWaiter(this.#acceptWaiters, signal);
  }

  /**
   * `record` is the application's now (`getConn()` or `accept()`): it no longer expires, and its candidate,
   * if still waiting, leaves the accept queue — `accept()` never yields a conn someone already holds.
   */
  claim(record: R): void {
    if (record.claimed) return;
    record.claimed = true;
    this.#unclaimed.delete(record);
    if (this.#acceptQueue.length > 0) this.#acceptQueue.removeWhere((p) => p.record === record);
  }

  /** Forget `conn`'s record everywhere: ufrag, unclaimed set, waiting candidate. Returns it, if it was here. */
  remove(conn: MuxedConnection): R | undefined {
    const record = this.#records.get(conn);
    if (record === undefined) return undefined;
    this.#records.delete(conn);
    const ufrags = conn.family === "IPv4" ? this.#ufragsV4 : this.#ufragsV6;
    if (ufrags.get(conn.localUfrag) === record) ufrags.delete(conn.localUfrag);
    this.#unclaimed.delete(record);
    if (this.#acceptQueue.length > 0) this.#acceptQueue.removeWhere((p) => p.record === record);
    return record;
  }

  /** Call `onExpired` for every record unclaimed for `acceptTimeoutMs` at `now` (it should close the conn). */
  expire(now: number, onExpired: (record: R) => void): void {
    for (const record of this.#unclaimed) {
      if (now - record.createdAt < this.#limits.acceptTimeoutMs) break;
      onExpired(record);
      this.#unclaimed.delete(record); // in case onExpired didn't remove it
    }
  }

  /** Reject every pending `accept()` with `err` and forget the waiting candidates. Records stay. */
  closeAccepts(err: Error): void {
    for (const waiter of this.#acceptWaiters) waiter.reject(err);
    this.#acceptWaiters.clear();
    this.#acceptQueue.drain();
  }

  #create(localUfrag: string, family: Family): R {
    const record = this.#make(localUfrag, family);
    this.#records.set(record.conn, record);
    (family === "IPv4" ? this.#ufragsV4 : this.#ufragsV6).set(localUfrag, record);
    this.#unclaimed.add(record);
    return record;
  }
}

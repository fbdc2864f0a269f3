/**
 * Transactions: the STUN requests owners (a UDP mux's conn records) sent, by transaction ID, so that a
 * response goes to the owner that asked — and only a response from the address the request went to
 * (RFC 5389 §7.3.3: a spoofed source can't answer for the server). Pure bookkeeping over an injected clock
 * (`now`, monotonic ms, `clock.ts`).
 *
 * Bounds: every transaction lives `timeoutMs` (insertion order is expiry order, so a sweep stops at the
 * first live one); an owner has at most `maxPerOwner`, the oldest forgotten for a new one.
 */

/** What a transaction's owner keeps: its outstanding keys, oldest first. */
export interface TransactionOwner {
  /**
   * Outstanding transaction keys, oldest first. Made by a request sent while the owner has none
   * outstanding, and given up for the shared {@link NO_TRANSACTIONS} once its last is answered or
   * forgotten: a Set is ~180 bytes (32 B and its hash table), most conns of a server never send a
   * request, and a connected peer connection's are all answered between its checks (issue 16: the empty
   * Set was ~180 of the ~2 KiB an attached connected pc cost over one on its own socket).
   */
  transactions: ReadonlySet<string> | undefined;
}

/** Every owner's empty set of keys once its requests were answered: shared, never added to. */
const NO_TRANSACTIONS: ReadonlySet<string> = new Set<string>();

export interface TransactionLimits {
  /** Outstanding transactions per owner (`maxTransactionsPerConn`). */
  readonly maxPerOwner: number;
  /** How long a transaction routes responses (`transactionTimeoutMs`). */
  readonly timeoutMs: number;
}

interface Transaction<O> {
  readonly owner: O;
  readonly address: string;
  readonly port: number;
  readonly expiresAt: number;
}

export class Transactions<O extends TransactionOwner> {
  readonly #limits: TransactionLimits;
  /** Insertion order is expiry order: every transaction lives `timeoutMs`. */
  readonly #byKey = new Map<string, Transaction<O>>();

  constructor(limits: TransactionLimits) {
    this.#limits = limits;
  }

  /** Outstanding transactions. */
  get size(): number {
    return this.#byKey.size;
  }

  /**
   * `owner` sent a request with transaction `key` to `address:port` at `now`. A retransmission (the same
   * key) is refreshed; an owner at `maxPerOwner` forgets its oldest.
   */
  add(owner: O, key: string, address: string, port: number, now: number): void {
    const old = this.#byKey.get(key);
    if (old !== undefined) this.#forget(key, old);
    let keys = owner.transactions as Set<string> | undefined;
    if (keys === undefined || keys === NO_TRANSACTIONS) {
      keys = new Set();
      owner.transactions = keys;
    } else if (keys.size >= this.#limits.maxPerOwner) {
      const oldest = keys.values().next().value as string;
      const tx = this.#byKey.get(oldest);
      if (tx !== undefined) this.#byKey.delete(oldest); // not #forget: the Set stays, a key goes in next
      keys.delete(oldest);
    }
    this.#byKey.set(key, { owner, address, port, expiresAt: now + this.#limits.timeoutMs });
    keys.add(key);
  }

  /**
   * The owner of the request a response with transaction `key` from `address:port` answers, if it went
   * there and has not expired at `now`. A matching response forgets the transaction (one answer each); one
   * from elsewhere changes nothing.
   */
  take(key: string, address: string, port: number, now: number): O | undefined {
    const tx = this.#byKey.get(key);
    if (tx === undefined || tx.address !== address || tx.port !== port) return undefined;
    this.#forget(key, tx);
    return tx.expiresAt > now ? tx.owner : undefined;
  }

  /** Forget `key` if `owner` still has it (its request was never sent: no answer will come). */
  forget(key: string, owner: O): void {
    const tx = this.#byKey.get(key);
    if (tx !== undefined && tx.owner === owner) this.#forget(key, tx);
  }

  /** Forget what expired at `now`. */
  sweep(now: number): void {
    for (const [key, tx] of this.#byKey) {
      if (tx.expiresAt > now) break; // insertion order is expiry order
      this.#forget(key, tx);
    }
  }

  /** Forget everything `owner` has (it is going away). */
  removeOwner(owner: O): void {
    for (const key of owner.transactions ?? []) this.#byKey.delete(key);
    owner.transactions = undefined;
  }

  /** Forget everything (the mux closed). */
  clear(): void {
    this.#byKey.clear();
  }

  #forget(key: string, tx: Transaction<O>): void {
    this.#byKey.delete(key);
    const keys = tx.owner.transactions as Set<string> | undefined;
    if (keys === undefined || keys === NO_TRANSACTIONS) return;
    keys.delete(key);
    if (keys.size === 0) tx.owner.transactions = NO_TRANSACTIONS;
  }
}

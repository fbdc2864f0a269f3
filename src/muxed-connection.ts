/**
 * MuxedConnection: one ICE agent's view of the shared socket — a PacketConn shaped like `dgram.Socket`.
 *
 * Two ways to receive, chosen by the reader:
 * - **push**: while the conn has a `'message'` listener, each datagram is emitted synchronously as it
 *   arrives, with `(msg, rinfo)` exactly as `dgram.Socket` emits them: no queue, no promise per packet.
 *   Datagrams queued before the first listener came are emitted first, in order, in a microtask.
 * - **pull**: otherwise datagrams wait in a bounded queue for `readFrom()` or `for await`.
 */
import { EventEmitter } from "node:events";
import type { AddressInfo } from "node:net";
import type { Family, RemoteInfo } from "./address.js";
import { ConnClosedError, MuxClosedError } from "./errors.js";
import { PacketQueue, type QueuedPacket } from "./packet-queue.js";
import { validateDestination, validatePassword, validateSignal } from "./validate.js";
import { enqueueWaiter, iterateUntil, takeWaiter, type Waiter } from "./waiters.js";

/** A datagram as `readFrom()` returns it. */
export interface Packet {
  data: Buffer;
  address: string;
  port: number;
  family: Family;
}

/**
 * What a conn needs from its mux: the mux implements it, the conn sees nothing else of it.
 * @internal
 */
export interface ConnHost {
  readonly closed: boolean;
  send(conn: MuxedConnection, data: Uint8Array, address: string, port: number): Promise<number>;
  /** `send` for a caller that waits for nothing: the outcome goes to `callback`, no promise is made. */
  sendNoWait(
    conn: MuxedConnection,
    data: Uint8Array,
    address: string,
    port: number,
    callback: SendCallback,
  ): void;
  /** Forget the conn: its ufrag, addresses, transactions and waiting candidate. */
  release(conn: MuxedConnection): void;
  localAddress(family: Family): AddressInfo;
  countDelivered(): void;
  countDropped(reason: DropReason, count?: number): void;
  /** Log a throwing user listener (rate-limited: a peer's datagrams trigger it). */
  logListenerError(ufrag: string, err: unknown): void;
  /**
   * Flow control: stop (`true`) or resume (`false`) reading the transport link from `address:port` on the
   * conn's behalf. A stream transport (TCP) pauses the socket, so the peer's sender is slowed by TCP flow
   * control; a datagram transport has nothing to pause and ignores it.
   */
  setPaused(conn: MuxedConnection, address: string, port: number, paused: boolean): void;
  /** The pull queue gave up a packet (a reader took it): a transport that paused for it may resume. */
  queueShrunk(conn: MuxedConnection): void;
  /**
   * The conn was given its first password: everything unauthenticated first contact put in it (besides the
   * queued packets, which the conn drops itself) must go — weak associations made by unverified checks,
   * connections whose check was not verified. Counted by the host.
   */
  dropUnverified(conn: MuxedConnection): void;
}

/**
 * The outcome of a send that nobody awaits: `null` once the datagram went out, else why it didn't.
 * @internal
 */
export type SendCallback = (err: Error | null) => void;

/** Why the mux dropped a datagram, as counted in `stats().droppedByReason`. */
export type DropReason =
  | "not-stun"
  | "bad-username"
  | "integrity-failed"
  | "unknown-address"
  | "queue-full"
  | "accept-queue-full"
  | "cap-reached"
  | "expired"
  | "conn-closed"
  /** UDP, `serveStun`: a STUN server query beyond `maxStunResponsesPerSecond`. */
  | "stun-rate-limited"
  /** TCP: a connection's first frame was STUN but not a Binding Request. */
  | "not-a-check"
  /** TCP: the conn already holds `maxAddressesPerUfrag` TCP connections (one, while nobody claimed it). */
  | "address-cap"
  /** TCP: `maxTcpConnections` TCP connections were routed already. */
  | "connection-limit"
  /** TCP: `maxUnverifiedPerAddress` unverified connections from the same source were routed already. */
  | "unverified-limit"
  /**
   * Put in the conn by unauthenticated first contact, and dropped when the conn was given a password
   * (claimed with one, or `setPassword`) before anything of it was delivered: a check for a ufrag the
   * sender could only guess (squatting).
   */
  | "unverified";

type MessageListener = (msg: Buffer, rinfo: RemoteInfo) => void;

/** The conn's hook for its own listener bookkeeping (module-private: not part of the API). */
const kListenersChanged = Symbol("listenersChanged");

export interface MuxedConnectionEvents {
  message: [msg: Buffer, rinfo: RemoteInfo];
  close: [];
  error: [err: Error];
}

export class MuxedConnection extends EventEmitter<MuxedConnectionEvents> {
  readonly #host: ConnHost;
  /** Datagrams waiting for a reader; made by the first one (in push mode most conns never need it). */
  #queue: PacketQueue | undefined;
  readonly #maxQueued: number;
  /** Pending `readFrom()` calls; made by the first one (a conn read in push mode never needs it). */
  #readers: Set<Waiter<Packet>> | undefined;
  #closed = false;
  #flushScheduled = false;
  #password: string | undefined;
  /**
   * The `'message'` listener when there is exactly one (the usual case: an ICE agent's transport), called
   * directly on the hot path instead of through `emit()`; `undefined` when there are none or several.
   * Refreshed lazily after the listeners change.
   */
  #soleListener: MessageListener | undefined;
  #listenersChanged = false;

  /**
   * `'message'` listeners changed (see {@link trackMessageListeners}); `added`: one came, so datagrams
   * queued before it are flushed to it.
   * @internal
   */
  [kListenersChanged](added: boolean): void {
    this.#listenersChanged = true;
    if (added && this.#queue !== undefined && this.#queue.length > 0) this.#scheduleFlush();
  }

  /** @internal Conns are made by `UDPMux.getConn()` and by inbound checks, never directly. */
  constructor(
    host: ConnHost,
    /** The local ICE ufrag this conn receives checks for. */
    readonly localUfrag: string,
    /** The IP family of the remote addresses this conn talks to. */
    readonly family: Family,
    maxQueuedPackets: number,
  ) {
    super();
    this.#host = host;
    this.#maxQueued = maxQueuedPackets;
  }

  /** As `EventEmitter`'s, and the conn's push-mode bookkeeping hears of it. */
  override removeAllListeners(
    event?: Parameters<EventEmitter<MuxedConnectionEvents>["removeAllListeners"]>[0],
  ): this {
    // EventEmitter counts its arguments: removeAllListeners(undefined) would remove nothing.
    if (event === undefined) super.removeAllListeners();
    else super.removeAllListeners(event);
    this.#listenersChanged = true;
    return this;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The ICE password that inbound checks must be signed with, if one was set. For the mux's routing.
   * @internal
   */
  get password(): string | undefined {
    return this.#password;
  }

  /**
   * Require MESSAGE-INTEGRITY (HMAC-SHA1 keyed with `password`, RFC 5389 §15.4) on every Binding Request
   * for this conn from now on; unsigned or badly signed checks are dropped (`integrity-failed`).
   */
  setPassword(password: string): void {
    const first = this.#password === undefined;
    this.#password = validatePassword(password, "password");
    if (first && !this.#closed) this.#dropUnverified();
  }

  /**
   * Before its first password the conn took whatever checked in for its ufrag, signed or not; from now on
   * only verified checks count. What came before is dropped, not delivered: a peer that guessed (or
   * squatted) the ufrag first must not reach the agent it belongs to.
   */
  #dropUnverified(): void {
    const dropped = this.#queue?.drain() ?? 0;
    if (dropped > 0) {
      this.#host.countDropped("unverified", dropped);
      this.#host.queueShrunk(this);
    }
    this.#host.dropUnverified(this);
  }

  /**
   * Bytes waiting in the pull queue (for a transport's flow control).
   * @internal
   */
  get queuedBytes(): number {
    return this.#queue?.bytes ?? 0;
  }

  /**
   * Packets waiting in the pull queue.
   * @internal
   */
  get queuedPackets(): number {
    return this.#queue?.length ?? 0;
  }

  /**
   * Flow control for a consumer that queues what it receives (the werift adapter's ICE-TCP side): stop
   * reading what `address:port` sends on this conn until {@link resumeFrom}. On TCP the mux stops reading
   * that connection (and frames already read wait, bounded, in the mux); on UDP it does nothing.
   * @internal
   */
  pauseFrom(address: string, port: number): void {
    if (!this.#closed) this.#host.setPaused(this, address, port, true);
  }

  /**
   * Undo {@link pauseFrom}.
   * @internal
   */
  resumeFrom(address: string, port: number): void {
    if (!this.#closed) this.#host.setPaused(this, address, port, false);
  }

  /**
   * Hand a datagram to the reader. Called by the mux on the hot path.
   * @internal
   */
  deliver(data: Buffer, rinfo: RemoteInfo): void {
    if (this.#queue === undefined || this.#queue.length === 0) {
      if (this.#listenersChanged) this.#refreshSoleListener();
      const listener = this.#soleListener;
      if (listener !== undefined) {
        // What emit() would do for a single listener, without its per-call bookkeeping.
        try {
          listener.call(this, data, rinfo);
        } catch (err) {
          this.#listenerThrew(err);
        }
        this.#host.countDelivered();
        return;
      }
      if (this.#emitMessage(data, rinfo)) return;
      const reader = takeWaiter(this.#readers);
      if (reader !== undefined) {
        this.#host.countDelivered();
        reader.resolve(toPacket(data, rinfo));
        return;
      }
    }
    this.#queue ??= new PacketQueue(this.#maxQueued);
    if (!this.#queue.push(data, rinfo)) this.#host.countDropped("queue-full");
  }

  /** The oldest queued datagram, taken out of the queue; the host hears the queue shrank. */
  #shiftQueued(): QueuedPacket | undefined {
    const item = this.#queue?.shift();
    if (item !== undefined) this.#host.queueShrunk(this);
    return item;
  }

  /** Emit one datagram; `false` when nobody listens. A throwing listener is logged, never fatal to routing. */
  #emitMessage(data: Buffer, rinfo: RemoteInfo): boolean {
    let listened: boolean;
    try {
      listened = this.emit("message", data, rinfo);
    } catch (err) {
      this.#host.countDelivered();
      this.#listenerThrew(err);
      return true;
    }
    if (listened) this.#host.countDelivered();
    return listened;
  }

  #listenerThrew(err: unknown): void {
    this.#host.logListenerError(this.localUfrag, err);
    if (this.listenerCount("error") === 0) return;
    try {
      this.emit("error", err as Error);
    } catch (errorListenerErr) {
      // Not even an 'error' listener may break routing for the other conns.
      this.#host.logListenerError(this.localUfrag, errorListenerErr);
    }
  }

  #refreshSoleListener(): void {
    this.#listenersChanged = false;
    const listeners = this.rawListeners("message");
    this.#soleListener = listeners.length === 1 ? (listeners[0] as MessageListener) : undefined;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      const queue = this.#queue;
      while (queue !== undefined && queue.length > 0 && this.listenerCount("message") > 0) {
        const item = this.#shiftQueued()!;
        this.#emitMessage(item.data, item.rinfo);
      }
    });
  }

  /** The next datagram. Rejects with `ERR_CONN_CLOSED` once the conn is closed, or `signal.reason`. */
  readFrom(options?: { signal?: AbortSignal }): Promise<Packet> {
    let signal: AbortSignal | undefined;
    try {
      signal = validateSignal(options);
    } catch (err) {
      return Promise.reject(err);
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    const queued = this.#shiftQueued();
    if (queued !== undefined) {
      this.#host.countDelivered();
      return Promise.resolve(toPacket(queued.data, queued.rinfo));
    }
    if (this.#closed) return Promise.reject(new ConnClosedError());
    this.#readers ??= new Set();
    return enqueueWaiter(this.#readers, signal);
  }

  /** Datagrams until the conn closes (then the iteration ends). Breaking out stops the pending read. */
  [Symbol.asyncIterator](): AsyncIterableIterator<Packet> {
    return iterateUntil(
      (signal) => this.readFrom({ signal }),
      (err) => err instanceof ConnClosedError,
    );
  }

  /**
   * Send `data` to `to` from the mux's socket; resolves with the bytes sent. Sending associates `to` with
   * this conn (unless it is a STUN server query), so the peer's answers find their way back.
   */
  writeTo(data: Uint8Array, to: { address: string; port: number }): Promise<number> {
    let address: string;
    try {
      address = validateDestination(data, to);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#host.closed) return Promise.reject(new MuxClosedError());
    if (this.#closed) return Promise.reject(new ConnClosedError());
    return this.#host.send(this, data, address, to.port);
  }

  /**
   * `writeTo` for a per-datagram path that waits for nothing (the werift adapter's transport): no promise,
   * and when `to` is associated already and `data` is no STUN request, no allocation by the mux either.
   * The caller validated the arguments as `writeTo` would: `address` canonical (`canonicalAddress`) and an
   * IP literal, `port` an integer from 1 to 65535. `callback` gets the outcome, `null` once sent (possibly
   * synchronously, for a closed conn or mux).
   * @internal
   */
  sendTo(data: Uint8Array, address: string, port: number, callback: SendCallback): void {
    if (this.#host.closed) return callback(new MuxClosedError());
    if (this.#closed) return callback(new ConnClosedError());
    this.#host.sendNoWait(this, data, address, port, callback);
  }

  /** The mux's socket address for this conn's family. */
  localAddress(): AddressInfo {
    return this.#host.localAddress(this.family);
  }

  /**
   * Close the conn and remove it from the mux (its ufrag, addresses and transactions). Pending reads reject
   * with `ERR_CONN_CLOSED`; datagrams still queued are dropped and counted. Idempotent; emits `'close'` once.
   */
  close(): void {
    this.closeDropping("conn-closed");
  }

  /**
   * Close, counting datagrams still queued under `reason`; pending reads reject with `ERR_CONN_CLOSED`
   * carrying `cause` (why the mux went away, when it did).
   * @internal
   */
  closeDropping(reason: DropReason, cause?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#host.release(this);
    const dropped = this.#queue?.drain() ?? 0;
    if (dropped > 0) this.#host.countDropped(reason, dropped);
    const err = new ConnClosedError(cause === undefined ? undefined : { cause });
    for (const reader of this.#readers ?? []) reader.reject(err);
    this.#readers?.clear();
    process.nextTick(() => this.emit("close"));
  }
}

function toPacket(data: Buffer, rinfo: RemoteInfo): Packet {
  return { data, address: rinfo.address, port: rinfo.port, family: rinfo.family };
}

/**
 * `'message'` listeners are tracked by the conn's own adding and removing methods (on the prototype: no
 * listener of its own per conn, ~90 bytes each), so push mode knows its sole listener and datagrams
 * queued before the first listener are flushed to it. `once` and `prependOnceListener` add through `on`
 * and `prependListener`, and their wrappers remove through `removeListener`; `removeAllListeners` is
 * overridden in the class.
 */
function trackMessageListeners(proto: Record<string, unknown>): void {
  type Method = (
    this: EventEmitter,
    event: string | symbol,
    listener: (...args: unknown[]) => void,
  ) => unknown;
  const wrap = (
    name: "on" | "addListener" | "prependListener" | "off" | "removeListener",
    added: boolean,
  ) => {
    const base = EventEmitter.prototype[name] as Method;
    proto[name] = function (
      this: MuxedConnection,
      event: string | symbol,
      listener: (...a: unknown[]) => void,
    ) {
      base.call(this, event, listener);
      if (event === "message") this[kListenersChanged](added);
      return this;
    };
  };
  for (const name of ["on", "addListener", "prependListener"] as const) wrap(name, true);
  for (const name of ["off", "removeListener"] as const) wrap(name, false);
}
trackMessageListeners(MuxedConnection.prototype as unknown as Record<string, unknown>);

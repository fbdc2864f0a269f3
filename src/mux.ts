/**
 * UDPMux: every ICE agent of a process on one UDP socket.
 *
 * ICE (RFC 8445) gives each agent a local username fragment (ufrag). A connectivity check is a STUN
 * Binding Request whose USERNAME is `receiver:sender` (RFC 8445 §7.2.2), so the part before ':' names the
 * local agent a check is for. The mux keeps two maps:
 *
 * - `(ufrag, IP family) → conn`: where checks go. A check for an unknown ufrag creates a conn and queues a
 *   {@link Candidate} for `accept()` (a server learns of a new peer this way).
 * - `remote address → conn`: where everything else goes (DTLS, SRTP, SCTP carry no ufrag). An address is
 *   associated with a conn by the first check from it, or by the conn sending to it.
 *
 * Ownership (what spoofing can't break): an association made by an unverified check is weak; one made by a
 * check whose MESSAGE-INTEGRITY verified against the conn's ICE password is strong. Only a verified check
 * can move an address to another conn, and a strong association only once its owner has had no verified
 * check from the address for `addressIdleMs`. STUN responses are routed by the transaction ID of the request a conn
 * sent, and only from the address it was sent to.
 *
 * Both ends of an ICE session on the same mux (two agents in one process) would see every packet come
 * from the mux's own address; such "hairpin" traffic never touches the kernel: it is routed in-process by
 * ufrag for checks, and then by the link those checks established.
 */

import { createSocket, type Socket } from "node:dgram";
import { EventEmitter, once } from "node:events";
import type { AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import type { Family, RemoteInfo } from "./address.js";
import { AddressMap, canonicalAddress, canonicalRemote, familyOf, isWildcard, sourceKey } from "./address.js";
import * as clock from "./core/clock.js";
import { type Candidate, type ConnRecord, ConnTable } from "./core/conn-table.js";
import { type CounterStats, Counters } from "./core/counters.js";
import { invalidArgType, invalidArgValue, MuxClosedError } from "./errors.js";
import type { IceMux } from "./ice-mux.js";
import { KernelDropCounter } from "./kernel-drops.js";
import { connLog, log, RateLimitedLog } from "./log.js";
import type { ConnHost, DropReason, SendCallback } from "./muxed-connection.js";
import { MuxedConnection } from "./muxed-connection.js";
import type { ResolvedOptions, UDPMuxOptions } from "./options.js";
import { resolveOptions } from "./options.js";
import {
  checkCallerRecvBuffer,
  DEFAULT_RECV_BUFFER_SIZE,
  reportedSize,
  requestRecvBufferSize,
} from "./recv-buffer.js";
import type { BindingRequest, MappedAddress } from "./stun.js";
import {
  BINDING_REQUEST,
  classOf,
  hasUsername,
  isStunMessage,
  messageType,
  parseBindingRequest,
  transactionKey,
} from "./stun.js";
import { encodeBindingSuccess, isServerBindingRequest, StunResponder } from "./stun-server.js";
import {
  validateIpAddress,
  validateObject,
  validatePort,
  validatePositiveInteger,
  validateSignal,
  validateTimeout,
} from "./validate.js";
import { iterateUntil } from "./waiters.js";
import { XorMappedAddressClient } from "./xor-mapped.js";

export type { Candidate } from "./core/conn-table.js";

/**
 * Counters and sizes of {@link UDPMux.stats}. `received` counts datagrams received since start, including
 * in-process hairpin ones.
 */
export interface UDPMuxStats extends CounterStats {
  /** Live conns. */
  connections: number;
  /** Remote addresses associated with a conn. */
  addresses: number;
  /** Candidates waiting for `accept()`. */
  acceptQueue: number;
  /** Outstanding STUN transactions (conns' requests and `getXorMappedAddress()` queries). */
  transactions: number;
  /**
   * Datagrams the kernel dropped at the socket since the mux was made, because its receive buffer was full:
   * they never reached the mux and are not in `received`. `undefined` where the platform can't tell
   * (Linux counts them per socket in `/proc/net/udp{,6}`).
   *
   * As of the last read of that file, never read by `stats()` itself: every `kernelDropsIntervalMs` (1 s)
   * from `start()`, or on demand with {@link UDPMux.refreshKernelDrops}. The first read begins when the mux
   * is made and is where counting starts; until it completes (within milliseconds), 0.
   */
  kernelDrops: number | undefined;
  /** Datagrams the `onUnrouted` handler took (returned `true` for): not in `dropped`. */
  unrouted: number;
  /** STUN server queries answered (`serveStun`); over the rate limit they are dropped (`stun-rate-limited`). */
  stunServed: number;
  /**
   * The socket's receive buffer now, as the kernel reports it (`socket.getRecvBufferSize()`; Linux reports
   * twice the size that was set).
   */
  recvBufferSize: number;
}

/** Options of {@link UDPMux.bind}. */
export interface BindOptions extends UDPMuxOptions {
  /** @default 0 (any free port) */
  port?: number;
  /** @default "0.0.0.0" for udp4, "::" for udp6 */
  address?: string;
  /** @default "udp6" when `address` is IPv6, else "udp4" */
  type?: "udp4" | "udp6";
  /** For udp6: refuse IPv4 (no dual stack). @default false */
  ipv6Only?: boolean;
  /**
   * The socket's receive buffer (SO_RCVBUF), in bytes. One socket takes every peer's bursts, and what
   * doesn't fit is dropped by the kernel (`stats().kernelDrops`), so the mux asks for at least 4 MiB: the OS
   * default is kept only when it is larger. When the kernel grants less (Linux caps it at
   * `net.core.rmem_max`), a `UDPMuxWarning` with code `UDPMUX_RECV_BUFFER_SMALL` names the sysctl to raise.
   * @default 4194304 (4 MiB), or the OS default when that is larger
   */
  recvBufferSize?: number;
  /** The socket's send buffer (SO_SNDBUF), in bytes. @default the OS default */
  sendBufferSize?: number;
}

/** How sure the mux is that an address belongs to its conn (see the class comment). */
const WEAK = 1;
const STRONG = 2;

/** How often the mux sweeps expired entries and refreshes its coarse clock. */
const SWEEP_INTERVAL_MS = 1000;

/** The mux's bookkeeping for one conn: the table's record plus what only UDP has. */
interface UdpConnRecord extends ConnRecord {
  /** Associations owned, at most `maxAddressesPerUfrag` (an array: ~40 bytes against a Set's ~150). */
  readonly addresses: Association[];
  /**
   * Outstanding transaction keys, oldest first, at most `maxTransactionsPerConn`. Made by the conn's first
   * request: an empty Set is ~180 bytes, and most conns of a server never send one.
   */
  transactions: Set<string> | undefined;
  /** The other end of a hairpin session on this same mux, once a check linked them. */
  hairpinPeer: UdpConnRecord | undefined;
}

interface Association {
  readonly owner: UdpConnRecord;
  /** `owner.conn`, one hop closer for the per-datagram path. */
  readonly conn: MuxedConnection;
  readonly address: string;
  readonly port: number;
  strength: typeof WEAK | typeof STRONG;
  /**
   * Made by an unverified check (not by the conn's own send): what a peer that merely knows or guesses the
   * ufrag can create, dropped when the conn gets its first password.
   */
  readonly byCheck: boolean;
  /**
   * Coarse time of the association's creation or of the last verified check from it to its owner. Only
   * verified checks count: any datagram from a spoofed source would otherwise keep an address "busy".
   */
  lastSeen: number;
}

interface Transaction {
  readonly owner: UdpConnRecord;
  readonly address: string;
  readonly port: number;
  readonly expiresAt: number;
}

/** Events of {@link UDPMux}. */
export interface UDPMuxEvents {
  /** The mux finished closing: every conn closed, the socket (if owned) released. */
  close: [];
}

export class UDPMux extends EventEmitter<UDPMuxEvents> implements IceMux, AsyncIterable<Candidate> {
  readonly #socket: Socket;
  readonly #options: ResolvedOptions;
  readonly #ownsSocket: boolean;
  readonly #localPort: number;
  readonly #socketFamily: Family;
  /** Addresses that reach this socket, for hairpin detection. */
  readonly #ownAddresses: Set<string>;
  readonly #dualStack: boolean;

  readonly #conns: ConnTable<UdpConnRecord>;
  readonly #addresses = new AddressMap<Association>();
  /** Insertion order is expiry order: every transaction lives `transactionTimeoutMs`. */
  readonly #transactions = new Map<string, Transaction>();
  readonly #stun: XorMappedAddressClient;
  /**
   * Rejecters of sends not yet called back. `dgram` never calls back a send that was still resolving its
   * destination when the socket closed, so without this a closed socket would leave those writes hanging.
   */
  readonly #pendingSends = new Set<(err: unknown) => void>();

  #started = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #socketClosed = false;
  #sweepTimer: NodeJS.Timeout | undefined;
  /**
   * Coarse clock (monotonic ms, `clock.ts`), refreshed every sweep: the hot path reads a field, not a clock,
   * and a wall-clock step moves no expiry.
   */
  #now = clock.now();

  readonly #counters = new Counters();
  #lastRecvBufferSize = 0;
  /** Datagrams `onUnrouted` took. */
  #unroutedTaken = 0;
  /** Answers STUN server queries when `serveStun` is on. */
  readonly #stunResponder: StunResponder | undefined;
  readonly #dropLog = new RateLimitedLog(log);
  readonly #listenerLog = new RateLimitedLog(connLog);
  readonly #kernelDrops: KernelDropCounter;

  /** Sockets whose receive buffer `bind()` sized (and warned about); a caller's socket is only checked. */
  static readonly #sized = new WeakSet<Socket>();

  /** Binds a socket and returns a started mux that owns it (and always closes it). */
  static override async bind(options: BindOptions = {}): Promise<UDPMux> {
    validateObject<BindOptions>(options, "options");
    const { port = 0, address, ipv6Only = false, recvBufferSize, sendBufferSize } = options;
    if (recvBufferSize !== undefined) validatePositiveInteger(recvBufferSize, "recvBufferSize");
    if (sendBufferSize !== undefined) validatePositiveInteger(sendBufferSize, "sendBufferSize");
    validatePort(port, "port", { allowZero: true });
    const family = address === undefined ? undefined : validateIpAddress(address, "address").family;
    const type = options.type ?? (family === "IPv6" ? "udp6" : "udp4");
    if (type !== "udp4" && type !== "udp6") throw invalidArgValue("type", '"udp4" or "udp6"', type);
    const mux = resolveOptions(options); // validate the mux options before binding anything
    const socket = createSocket({ type, ipv6Only, sendBufferSize });
    try {
      const listening = once(socket, "listening");
      socket.bind({ port, address: address ?? (type === "udp6" ? "::" : "0.0.0.0"), exclusive: true });
      await listening;
      if (recvBufferSize !== undefined) requestRecvBufferSize(socket, recvBufferSize);
      else if (socket.getRecvBufferSize() < reportedSize(DEFAULT_RECV_BUFFER_SIZE)) {
        requestRecvBufferSize(socket, DEFAULT_RECV_BUFFER_SIZE);
      }
    } catch (err) {
      socket.close();
      throw err;
    }
    UDPMux.#sized.add(socket);
    const instance = new UDPMux(socket, { ...mux, closeSocket: true });
    instance.start();
    return instance;
  }

  /**
   * Wrap a bound socket. Call {@link start} to begin reading. `close()` closes the socket unless
   * `closeSocket: false`.
   */
  constructor(socket: Socket, options?: UDPMuxOptions) {
    super();
    if (socket === null || typeof socket !== "object" || typeof socket.send !== "function") {
      throw invalidArgType("socket", "a dgram.Socket", socket);
    }
    let bound: AddressInfo;
    try {
      bound = socket.address();
    } catch {
      throw invalidArgValue("socket", "a bound dgram.Socket", socket);
    }
    this.#options = resolveOptions(options);
    this.#socket = socket;
    this.#ownsSocket = this.#options.closeSocket;
    this.#localPort = bound.port;
    this.#socketFamily = bound.family === "IPv6" ? "IPv6" : "IPv4";
    // A udp6 socket on "::" reaches IPv4 peers through v4-mapped addresses (unless it is ipv6Only, and
    // then such a send fails and rejects that one write).
    this.#dualStack = this.#socketFamily === "IPv6" && isWildcard(bound.address);
    this.#ownAddresses = ownAddresses(bound.address, this.#dualStack);
    this.#conns = new ConnTable(this.#options, (ufrag, family) => this.#createRecord(ufrag, family));
    this.#stun = new XorMappedAddressClient(
      { sendRaw: (data, address, port) => this.#rawSend(data, address, port) },
      this.#options.xorMappedAddressTtlMs,
    );
    this.#stunResponder = this.#options.serveStun
      ? new StunResponder(
          this.#options.maxStunResponsesPerSecond,
          this.#options.maxStunResponsesPerSecondPerSource,
          this.#now,
        )
      : undefined;
    this.#kernelDrops = new KernelDropCounter(
      this.#socketFamily,
      bound.port,
      this.#options.kernelDropsIntervalMs,
    );
    this.#recvBufferSize();
    if (!UDPMux.#sized.has(socket)) checkCallerRecvBuffer(socket);
    socket.on("error", this.#onSocketError);
    socket.on("close", this.#onSocketClose);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Begin reading datagrams. Idempotent. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#socket.on("message", this.#onMessage);
    this.#sweepTimer = setInterval(this.#sweep, SWEEP_INTERVAL_MS);
    this.#sweepTimer.unref();
    this.#kernelDrops.start();
  }

  /** The socket's address (one entry; a wildcard bind reports the wildcard). */
  getListenAddresses(): AddressInfo[] {
    const { address, family, port } = this.#socket.address();
    return [{ address, family, port }];
  }

  /**
   * The conn for `localUfrag` and the IP family of `addr` (default: the socket's family), created if
   * missing. `addr` only picks the family: it is not associated with the conn. Throws `ERR_CONNECTION_LIMIT`
   * when creating it would exceed `maxConnections`.
   */
  getConn(localUfrag: string, addr?: { address: string }, options?: { password?: string }): MuxedConnection {
    return this.#conns.getConn(localUfrag, addr, options, this.#socketFamily, this.#closed);
  }

  /** The next candidate: a conn created by a first check for an unknown ufrag. */
  accept(options?: { signal?: AbortSignal }): Promise<Candidate> {
    return this.#conns.acceptChecked(options, this.#closed);
  }

  /** Candidates as they come; ends when the mux closes. */
  [Symbol.asyncIterator](): AsyncIterableIterator<Candidate> {
    return iterateUntil(
      (signal) => this.accept({ signal }),
      (err) => err instanceof MuxClosedError,
    );
  }

  /** Close and forget the conns of `localUfrag` (both families): addresses, transactions, waiting candidate. */
  removeConnByUfrag(localUfrag: string): void {
    this.#conns.removeByUfrag(localUfrag);
  }

  /**
   * The server-reflexive address of the shared socket as `server` sees it (a STUN Binding Request through
   * the mux), cached for `xorMappedAddressTtlMs` from the response's arrival.
   * Rejects with `ERR_STUN_TIMEOUT`, `ERR_STUN_ERROR_RESPONSE`, `ERR_MUX_CLOSED` or `signal.reason`.
   */
  getXorMappedAddress(
    server: { address: string; port: number },
    options: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<MappedAddress> {
    try {
      validateObject(server, "server");
      const { address } = validateIpAddress(server.address, "server.address");
      validatePort(server.port, "server.port");
      const signal = validateSignal(options);
      const { timeoutMs = 5000 } = options;
      validateTimeout(timeoutMs, "timeoutMs");
      if (this.#closed) throw new MuxClosedError();
      return this.#stun.get(address, server.port, timeoutMs, signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Counters and sizes; see {@link UDPMuxStats}. */
  stats(): UDPMuxStats {
    return {
      ...this.#counters.snapshot(),
      connections: this.#conns.size,
      addresses: this.#addresses.size,
      acceptQueue: this.#conns.acceptQueueLength,
      transactions: this.#transactions.size + this.#stun.pending,
      unrouted: this.#unroutedTaken,
      stunServed: this.#stunResponder?.served ?? 0,
      kernelDrops: this.#kernelDrops.read(),
      recvBufferSize: this.#recvBufferSize(),
    };
  }

  /**
   * Read the kernel's drop count now (asynchronously: one read of `/proc/net/udp{,6}` in flight at a time,
   * begun after this call) and resolve with it; `stats().kernelDrops` shows it from then on. Between calls
   * it is refreshed every `kernelDropsIntervalMs`. `undefined` where the platform can't tell; after
   * `close()`, the last count read. Rejects only with `signal.reason` (or a `TypeError` for a bad argument).
   */
  refreshKernelDrops(options?: { signal?: AbortSignal }): Promise<number | undefined> {
    try {
      return this.#kernelDrops.refresh(validateSignal(options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Close every conn (each emits `'close'`), reject pending accepts and STUN queries with `ERR_MUX_CLOSED`,
   * clear every map and timer, and close the socket if the mux owns it. Idempotent. Resolves once a
   * `kernelDrops` read in flight has stopped (at its next page), possibly a loop turn after the rejections.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown(undefined);
    return this.#closing;
  }

  // ---- routing -------------------------------------------------------------------------------------

  readonly #onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
    this.#route(msg, canonicalRemote(rinfo), undefined);
  };

  /**
   * Where a datagram from `src` goes. `hairpin` is the sending conn when the datagram was written by a
   * conn of this mux to the mux's own address (then "the source address" says nothing: links do).
   */
  #route(msg: Buffer, src: RemoteInfo, hairpin: UdpConnRecord | undefined): void {
    this.#counters.received++;
    if (isStunMessage(msg)) {
      const type = messageType(msg);
      // 1. A connectivity check: USERNAME names the receiving agent first (RFC 8445 §7.2.2).
      if (type === BINDING_REQUEST) {
        const req = parseBindingRequest(msg); // undefined on anything malformed; never throws
        if (req !== undefined) return this.#routeCheck(msg, src, req, hairpin);
        // 1b. No USERNAME at all: a query for a STUN server (RFC 8489 §6.3), if the mux serves STUN.
        if (this.#stunResponder !== undefined && hairpin === undefined && isServerBindingRequest(msg)) {
          return this.#serveStun(msg, src);
        }
        // No valid `L:R` USERNAME: nothing to route by, so only an established path may take it (step 3).
      }
      // 2. A response to a request we sent: same transaction ID, from where we sent it (RFC 5389 §7.3.3).
      const cls = classOf(type);
      if (cls === "success" || cls === "error") {
        const owner = this.#takeTransaction(msg, src);
        if (owner !== undefined) return this.#deliver(owner, msg, src);
        if (this.#stun.handleResponse(msg, src)) return this.#countDelivered();
      }
    }
    // 3. An established path: the conn this address is associated with, or the hairpin link.
    const association = hairpin === undefined ? this.#addresses.get(src.address, src.port) : undefined;
    if (association !== undefined) return association.conn.deliver(msg, src);
    if (hairpin?.hairpinPeer !== undefined) return this.#deliver(hairpin.hairpinPeer, msg, src);
    // 4. Nobody's.
    this.#unrouted(dropReason(msg), msg, src);
  }

  /**
   * Step 1: a parsed Binding Request, admitted as every transport admits one (`ConnTable.admitCheck`:
   * FINGERPRINT, MESSAGE-INTEGRITY for a conn with a password, first contact within bounds); then the
   * address (or the hairpin link) is associated and the check delivered. A first contact's candidate is
   * queued for `accept()` after its check was delivered, so the conn's reader finds it.
   */
  #routeCheck(msg: Buffer, src: RemoteInfo, req: BindingRequest, hairpin: UdpConnRecord | undefined): void {
    const admitted = this.#conns.admitCheck(msg, req, src);
    if (typeof admitted === "string") return this.#unrouted(admitted, msg, src);
    const { record, verified, candidate } = admitted;
    if (hairpin !== undefined) this.#link(hairpin, record);
    else this.#associateByCheck(record, src, verified);
    this.#deliver(record, msg, src);
    if (candidate !== undefined) this.#conns.offer(record, candidate);
  }

  /**
   * Associate `src` with `record` after a check from it. A free address is taken (up to the per-conn cap);
   * an owned one moves only for a verified check, and away from a strong owner only once that owner has
   * had no verified check from it for `addressIdleMs` (data doesn't count: anyone could spoof it).
   */
  #associateByCheck(record: UdpConnRecord, src: RemoteInfo, verified: boolean): void {
    const existing = this.#addresses.get(src.address, src.port);
    if (existing === undefined) {
      this.#addAssociation(record, src.address, src.port, verified ? STRONG : WEAK, !verified);
      return;
    }
    if (existing.owner === record) {
      if (verified) {
        existing.strength = STRONG;
        existing.lastSeen = this.#now;
      }
      return;
    }
    if (!verified) return;
    if (existing.strength === STRONG && this.#now - existing.lastSeen < this.#options.addressIdleMs) return;
    if (record.addresses.length >= this.#options.maxAddressesPerUfrag) return;
    this.#unassociate(existing);
    this.#addAssociation(record, src.address, src.port, STRONG, false);
  }

  #unassociate(association: Association): void {
    const owned = association.owner.addresses;
    owned.splice(owned.indexOf(association), 1);
    this.#addresses.delete(association.address, association.port);
  }

  #addAssociation(
    record: UdpConnRecord,
    address: string,
    port: number,
    strength: Association["strength"],
    byCheck: boolean,
  ): Association | undefined {
    if (record.addresses.length >= this.#options.maxAddressesPerUfrag) return undefined;
    const association: Association = {
      owner: record,
      conn: record.conn,
      address,
      port,
      strength,
      byCheck,
      lastSeen: this.#now,
    };
    record.addresses.push(association);
    this.#addresses.set(address, port, association);
    return association;
  }

  /** Step 2: the conn that sent the request this response answers, if it went to `src`. Forgets the ID. */
  #takeTransaction(msg: Buffer, src: RemoteInfo): UdpConnRecord | undefined {
    if (this.#transactions.size === 0) return undefined;
    const key = transactionKey(msg);
    const tx = this.#transactions.get(key);
    if (tx === undefined || tx.address !== src.address || tx.port !== src.port) return undefined;
    this.#forgetTransaction(key, tx);
    return tx.expiresAt > this.#now ? tx.owner : undefined;
  }

  #link(a: UdpConnRecord, b: UdpConnRecord): void {
    a.hairpinPeer = b;
    b.hairpinPeer = a;
  }

  #deliver(record: UdpConnRecord, msg: Buffer, src: RemoteInfo): void {
    record.conn.deliver(msg, src);
  }

  /** Nobody's: the `onUnrouted` handler's if it takes it, else dropped for `reason`. */
  #unrouted(reason: DropReason, msg: Buffer, src: RemoteInfo): void {
    const handler = this.#options.onUnrouted;
    if (handler !== undefined) {
      try {
        if (handler(msg, src) === true) {
          this.#unroutedTaken++;
          return;
        }
      } catch (err) {
        this.#listenerLog.log("onUnrouted threw: %O", err);
      }
    }
    this.#drop(reason, src);
  }

  #drop(reason: DropReason, src: RemoteInfo): void {
    this.#countDropped(reason);
    this.#dropLog.log("drop (%s) from %s:%d", reason, src.address, src.port);
  }

  /** Step 1b: a STUN server query; answered within its source's and the total rate (see `stun-server.ts`). */
  #serveStun(msg: Buffer, src: RemoteInfo): void {
    if (!this.#stunResponder!.take(sourceKey(src.address), this.#now)) {
      return this.#drop("stun-rate-limited", src);
    }
    const answer = encodeBindingSuccess(msg, src.address, src.port, src.family);
    this.#rawSend(answer, src.address, src.port).catch((err: unknown) => {
      this.#dropLog.log("STUN answer to %s:%d failed: %O", src.address, src.port, err);
    });
  }

  // ---- sending -------------------------------------------------------------------------------------

  #send(record: UdpConnRecord, data: Uint8Array, address: string, port: number): Promise<number> {
    if (this.#closed) return Promise.reject(new MuxClosedError());
    if (port === this.#localPort && this.#ownAddresses.has(address)) {
      return this.#sendHairpin(record, data, address);
    }
    let associate = true;
    let transaction: string | undefined;
    if (isStunMessage(data) && classOf(messageType(data)) === "request") {
      transaction = transactionKey(data);
      this.#addTransaction(record, transaction, address, port);
      // A query to a STUN server (no USERNAME) must not capture the server's address.
      associate = hasUsername(data);
    }
    // Associated (and the transaction recorded) before the send, so that an answer can't beat it back.
    const created =
      associate && this.#addresses.get(address, port) === undefined
        ? this.#addAssociation(record, address, port, WEAK, false)
        : undefined;
    const sent = this.#rawSend(data, address, port);
    if (created === undefined && transaction === undefined) return sent; // the common case: nothing to undo
    return sent.catch((err: unknown) => {
      // Nothing left: a failed send claims no address and waits for no answer.
      if (created !== undefined && this.#addresses.get(address, port) === created) this.#unassociate(created);
      const tx = transaction === undefined ? undefined : this.#transactions.get(transaction);
      if (tx !== undefined && tx.owner === record) this.#forgetTransaction(transaction!, tx);
      throw err;
    });
  }

  #rawSend(data: Uint8Array, address: string, port: number): Promise<number> {
    const to = this.#dualStack && familyOf(address) === "IPv4" ? `::ffff:${address}` : address;
    return new Promise<number>((resolve, reject) => {
      this.#pendingSends.add(reject);
      try {
        this.#socket.send(data, port, to, (err, bytes) => {
          this.#pendingSends.delete(reject);
          if (err) reject(err);
          else resolve(bytes);
        });
      } catch (err) {
        this.#pendingSends.delete(reject);
        reject(err); // e.g. ERR_SOCKET_DGRAM_NOT_RUNNING: only this write fails
      }
    });
  }

  /**
   * `#send` for a caller that waits for nothing (`MuxedConnection.sendTo`). The common case of a peer
   * connection's traffic — no STUN request, to an address associated already, not hairpin — goes straight
   * to the socket: nothing to record first or undo after, and `callback` is dgram's own send callback, so
   * the mux allocates nothing. Anything else takes `#send`. (A send still resolving its destination when
   * the socket closes is never called back by dgram; nobody waits for it, and the mux is closing.)
   */
  #sendNoWait(
    record: UdpConnRecord,
    data: Uint8Array,
    address: string,
    port: number,
    callback: SendCallback,
  ): void {
    if (this.#closed) return callback(new MuxClosedError());
    if (
      (port === this.#localPort && this.#ownAddresses.has(address)) ||
      (isStunMessage(data) && classOf(messageType(data)) === "request") ||
      this.#addresses.get(address, port) === undefined
    ) {
      this.#send(record, data, address, port).then(() => callback(null), callback);
      return;
    }
    const to = this.#dualStack && familyOf(address) === "IPv4" ? `::ffff:${address}` : address;
    try {
      this.#socket.send(data, port, to, callback);
    } catch (err) {
      callback(err as Error); // e.g. ERR_SOCKET_DGRAM_NOT_RUNNING: only this write fails
    }
  }

  /** Deliver in-process, as the kernel would, but on the next turn of the event loop. */
  #sendHairpin(record: UdpConnRecord, data: Uint8Array, address: string): Promise<number> {
    const copy = Buffer.from(data); // the caller may reuse its buffer once the write resolves
    const family = familyOf(address) ?? this.#socketFamily;
    if (isStunMessage(copy) && classOf(messageType(copy)) === "request") {
      this.#addTransaction(record, transactionKey(copy), address, this.#localPort);
    }
    const src: RemoteInfo = { address, family, port: this.#localPort, size: copy.length };
    setImmediate(() => {
      if (this.#closed) return;
      if (this.#conns.get(record.conn) !== record) {
        // The sender closed before its datagram "arrived": nobody may be linked to it any more.
        this.#counters.received++;
        return this.#countDropped("conn-closed");
      }
      this.#route(copy, src, record);
    });
    return Promise.resolve(copy.length);
  }

  #addTransaction(record: UdpConnRecord, key: string, address: string, port: number): void {
    const old = this.#transactions.get(key);
    if (old !== undefined) this.#forgetTransaction(key, old); // a retransmission: refresh
    record.transactions ??= new Set();
    const keys = record.transactions;
    if (keys.size >= this.#options.maxTransactionsPerConn) {
      const oldest = keys.values().next().value as string;
      const tx = this.#transactions.get(oldest);
      if (tx !== undefined) this.#forgetTransaction(oldest, tx);
    }
    const expiresAt = this.#now + this.#options.transactionTimeoutMs;
    this.#transactions.set(key, { owner: record, address, port, expiresAt });
    keys.add(key);
  }

  #forgetTransaction(key: string, tx: Transaction): void {
    this.#transactions.delete(key);
    tx.owner.transactions?.delete(key);
  }

  // ---- conn bookkeeping ----------------------------------------------------------------------------

  /** A record for the conn table (which files it under its ufrag). */
  #createRecord(localUfrag: string, family: Family): UdpConnRecord {
    const conn = new MuxedConnection(this.#host, localUfrag, family, this.#options.maxQueuedPackets);
    return {
      conn,
      addresses: [],
      transactions: undefined,
      claimed: false,
      createdAt: this.#now,
      hairpinPeer: undefined,
    };
  }

  /** Forget a closing conn everywhere. Called (only) by `MuxedConnection.close()`. */
  #release(conn: MuxedConnection): void {
    const record = this.#conns.remove(conn);
    if (record === undefined) return;
    for (const a of record.addresses) this.#addresses.delete(a.address, a.port);
    record.addresses.length = 0;
    for (const key of record.transactions ?? []) this.#transactions.delete(key);
    record.transactions = undefined;
    if (record.hairpinPeer?.hairpinPeer === record) record.hairpinPeer.hairpinPeer = undefined;
    record.hairpinPeer = undefined;
  }

  /** The conns' window on the mux (see `ConnHost`). */
  readonly #host: ConnHost = ((mux: UDPMux): ConnHost => ({
    get closed(): boolean {
      return mux.#closed;
    },
    send: (conn, data, address, port) => {
      const record = this.#conns.get(conn);
      if (record === undefined) return Promise.reject(new MuxClosedError());
      return this.#send(record, data, address, port);
    },
    sendNoWait: (conn, data, address, port, callback) => {
      const record = this.#conns.get(conn);
      if (record === undefined) return callback(new MuxClosedError());
      this.#sendNoWait(record, data, address, port, callback);
    },
    release: (conn) => this.#release(conn),
    localAddress: (family) => this.#localAddress(family),
    countDelivered: () => this.#countDelivered(),
    countDropped: (reason, count) => this.#countDropped(reason, count),
    logListenerError: (ufrag, err) => this.#listenerLog.log("ufrag %s: a listener threw: %O", ufrag, err),
    setPaused: () => {}, // a datagram socket has no per-peer reading to pause
    queueShrunk: () => {},
    dropUnverified: (conn) => this.#dropUnverified(conn),
  }))(this);

  /**
   * `conn` got its first password: the addresses unverified checks gave it go (the conn's own sends keep
   * theirs; see `MuxedConnection.setPassword`).
   */
  #dropUnverified(conn: MuxedConnection): void {
    const record = this.#conns.get(conn);
    if (record === undefined) return;
    for (const a of [...record.addresses]) {
      if (a.strength === WEAK && a.byCheck) this.#unassociate(a);
    }
  }

  #localAddress(family: Family): AddressInfo {
    const { address, port } = this.#socket.address();
    if (family === "IPv4" && this.#dualStack) return { address: "0.0.0.0", family, port };
    return { address: canonicalAddress(address), family, port };
  }

  /** The socket's receive buffer as reported; the last known size once the socket is closed. */
  #recvBufferSize(): number {
    if (!this.#socketClosed) {
      try {
        this.#lastRecvBufferSize = this.#socket.getRecvBufferSize();
      } catch (err) {
        log("getRecvBufferSize failed: %O", err);
      }
    }
    return this.#lastRecvBufferSize;
  }

  #countDelivered(): void {
    this.#counters.delivered++;
  }

  #countDropped(reason: DropReason, count = 1): void {
    this.#counters.drop(reason, count);
  }

  // ---- time and lifecycle --------------------------------------------------------------------------

  readonly #sweep = (): void => {
    const now = clock.now();
    this.#now = now;
    for (const [key, tx] of this.#transactions) {
      if (tx.expiresAt > now) break; // insertion order is expiry order
      this.#forgetTransaction(key, tx);
    }
    this.#conns.expire(now, (record) => {
      log("ufrag %s: unclaimed for %d ms, removed", record.conn.localUfrag, now - record.createdAt);
      record.conn.closeDropping("expired"); // releases it, and its waiting candidate
    });
    this.#stun.sweep(now);
    this.#stunResponder?.sweep(now);
  };

  readonly #onSocketError = (err: Error): void => {
    log("socket error: %O", err);
  };

  readonly #onSocketClose = (): void => {
    this.#socketClosed = true;
    if (!this.#closed) {
      const cause = new Error("the UDP socket was closed under the mux");
      this.#closing ??= this.#shutdown(cause);
    }
  };

  async #shutdown(cause: Error | undefined): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
    const kernelDropsRead = this.#kernelDrops.close(); // stops its timer; a read in flight is awaited below
    this.#socket.off("message", this.#onMessage);
    const err = new MuxClosedError(cause === undefined ? undefined : { cause });
    this.#conns.closeAccepts(err);
    this.#stun.close(err);
    for (const record of [...this.#conns.values()]) record.conn.closeDropping("conn-closed", cause);
    this.#addresses.clear();
    this.#transactions.clear();
    if (this.#ownsSocket && !this.#socketClosed) {
      await new Promise<void>((resolve) => {
        try {
          this.#socket.close(() => resolve());
        } catch (closeErr) {
          // Closed by someone else in this same tick (its 'close' event is still on its way): gone all the same.
          log("socket already closed: %O", closeErr);
          this.#socketClosed = true;
          resolve();
        }
      });
    }
    if (this.#socketClosed) {
      for (const fail of this.#pendingSends) fail(err);
      this.#pendingSends.clear();
    }
    await kernelDropsRead; // no file read outlives close(); one in flight stops at its next 4 KiB page
    this.#socket.off("error", this.#onSocketError);
    this.#socket.off("close", this.#onSocketClose);
    this.emit("close");
  }
}

/** The destination addresses that reach a socket bound to `bound` (for hairpin detection). */
function ownAddresses(bound: string, dualStack: boolean): Set<string> {
  const out = new Set<string>();
  if (!isWildcard(bound)) {
    out.add(canonicalAddress(bound));
    return out;
  }
  const v6 = bound === "::";
  if (!v6 || dualStack) out.add("127.0.0.1");
  if (v6) out.add("::1");
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) {
      if (info.family === "IPv6" && v6) out.add(canonicalAddress(info.address));
      if (info.family === "IPv4" && (!v6 || dualStack)) out.add(info.address);
    }
  }
  return out;
}

/** Why nobody took a datagram (step 4 of the routing). */
function dropReason(msg: Buffer): DropReason {
  if (!isStunMessage(msg)) return "not-stun";
  return messageType(msg) === BINDING_REQUEST ? "bad-username" : "unknown-address";
}

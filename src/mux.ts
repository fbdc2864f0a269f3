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
 *
 * This file is the shell: the socket's lifecycle, the routing decision (`#route`, whose numbered steps call
 * the transport-free core) and the conns' window on the mux. The decisions live in `core/` — first-contact
 * admission (`conn-table.ts`, shared with TCP), the ownership rules (`associations.ts`), transactions
 * (`transactions.ts`) — and the writing in `udp/send.ts`. Datagrams that did not come from the socket (a
 * relay, a TLS stream) enter through an ingress (`udp/ingress.ts`, internal) and are routed the same way.
 */

import type { Socket } from "node:dgram";
import type { AddressInfo } from "node:net";
import type { Family, RemoteInfo } from "./address.js";
import { canonicalRemote, sourceKey } from "./address.js";
import { ConnTableMux } from "./conn-table-mux.js";
import { CoarseClock } from "./core/clock.js";
import type { Candidate } from "./core/conn-table.js";
import { type CounterStats, Counters } from "./core/counters.js";
import { MuxClosedError } from "./errors.js";
import type { IceMux } from "./ice-mux.js";
import type { UDPMuxOptions } from "./options.js";
import { resolveOptions } from "./options.js";
import { checkCallerRecvBuffer } from "./recv-buffer.js";
import type { BindingRequest, MappedAddress } from "./stun.js";
import {
  BINDING_REQUEST,
  classOf,
  isStunMessage,
  messageType,
  parseBindingRequest,
  transactionKey,
} from "./stun.js";
import { encodeBindingSuccess, isServerBindingRequest, StunResponder } from "./stun-server.js";
import { type BindOptions, bindSocket } from "./udp/bind.js";
import { UdpConns } from "./udp/conns.js";
import { type Ingress, type IngressPath, type IngressSend, kIngress, openIngress } from "./udp/ingress.js";
import { link, type UdpConnRecord } from "./udp/record.js";
import { socketAddressing } from "./udp/send.js";
import { boundAddress, MuxSocket } from "./udp/socket.js";
import { dropReason, Unrouted } from "./udp/unrouted.js";
import { XorMappedAddressClient } from "./xor-mapped.js";

export type { Candidate } from "./core/conn-table.js";
export type { BindOptions } from "./udp/bind.js";

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

/** How often the mux sweeps expired entries and refreshes its coarse clock. */
const SWEEP_INTERVAL_MS = 1000;

/** Events of {@link UDPMux}. */
export interface UDPMuxEvents {
  /** The mux finished closing: every conn closed, the socket (if owned) released. */
  close: [];
}

export class UDPMux extends ConnTableMux<UDPMuxEvents> implements IceMux, AsyncIterable<Candidate> {
  readonly #socket: Socket;
  readonly #ownsSocket: boolean;
  readonly #socketFamily: Family;

  /** The conns and what UDP keeps per conn (`udp/conns.ts`): the core's tables, and the sender. */
  readonly #udpConns: UdpConns;
  /** `#udpConns.table`, one hop closer. */
  readonly #conns: UdpConns["table"];
  /** `#udpConns.associations`, one hop closer for the per-datagram path. */
  readonly #associations: UdpConns["associations"];
  readonly #stun: XorMappedAddressClient;
  /** Answers STUN server queries when `serveStun` is on. */
  readonly #stunResponder: StunResponder | undefined;
  /** Coarse monotonic time, refreshed every sweep: the hot path reads a field, not a clock. */
  readonly #clock = new CoarseClock();
  readonly #counters = new Counters();
  readonly #unrouted: Unrouted;
  /** Whether the socket closed, closing it, and its kernel gauges. */
  readonly #socketState: MuxSocket;

  #started = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;

  /** Sockets whose receive buffer `bind()` sized (and warned about); a caller's socket is only checked. */
  static readonly #sized = new WeakSet<Socket>();

  /** Binds a socket and returns a started mux that owns it (and always closes it). */
  static override async bind(options: BindOptions = {}): Promise<UDPMux> {
    const bound = await bindSocket(options);
    UDPMux.#sized.add(bound.socket);
    const instance = new UDPMux(bound.socket, bound.options);
    instance.start();
    return instance;
  }

  /**
   * Wrap a bound socket. Call {@link start} to begin reading. `close()` closes the socket unless
   * `closeSocket: false`.
   */
  constructor(socket: Socket, options?: UDPMuxOptions) {
    super();
    const bound = boundAddress(socket); // a TypeError unless a bound dgram.Socket
    const o = resolveOptions(options);
    this.#ownsSocket = o.closeSocket;
    this.#socket = socket;
    const addressing = socketAddressing(bound);
    this.#socketFamily = addressing.family;
    this.#udpConns = new UdpConns(socket, addressing, o, this.#clock, this.#counters, (r, d, src) =>
      this.#loopback(r, d, src),
    );
    this.#conns = this.#udpConns.table;
    this.#associations = this.#udpConns.associations;
    this.#stun = new XorMappedAddressClient(
      { sendRaw: (d, a, p) => this.#udpConns.sender.raw(d, a, p) },
      o.xorMappedAddressTtlMs,
    );
    this.#stunResponder = o.serveStun
      ? new StunResponder(o.maxStunResponsesPerSecond, o.maxStunResponsesPerSecondPerSource, this.#clock.now)
      : undefined;
    this.#unrouted = new Unrouted(this.#counters, o.onUnrouted);
    this.#socketState = new MuxSocket(socket, addressing, o.kernelDropsIntervalMs, this.#onSocketClose);
    if (!UDPMux.#sized.has(socket)) checkCallerRecvBuffer(socket);
  }

  override get closed(): boolean {
    return this.#closed;
  }

  /** @internal */
  protected override get connTable(): UdpConns["table"] {
    return this.#conns;
  }

  /** @internal */
  protected override get defaultFamily(): Family {
    return this.#socketFamily;
  }

  /** Begin reading datagrams. Idempotent. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#socket.on("message", this.#onMessage);
    this.#sweepTimer = setInterval(this.#sweep, SWEEP_INTERVAL_MS);
    this.#sweepTimer.unref();
    this.#socketState.start();
  }

  /**
   * The socket's address (one entry; a wildcard bind reports the wildcard). Throws `ERR_MUX_CLOSED` once
   * the mux closed (its socket may be closed too, or no longer the mux's).
   */
  getListenAddresses(): AddressInfo[] {
    if (this.#closed) throw new MuxClosedError();
    return [this.#socketState.address()]; // ERR_MUX_CLOSED too if the socket closed under the mux
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
    return this.#stun.query(server, options, this.#closed);
  }

  /** Counters and sizes; see {@link UDPMuxStats}. */
  stats(): UDPMuxStats {
    return {
      ...this.#counters.snapshot(),
      connections: this.#conns.size,
      addresses: this.#associations.size,
      acceptQueue: this.#conns.acceptQueueLength,
      transactions: this.#udpConns.transactions.size + this.#stun.pending,
      unrouted: this.#unrouted.taken,
      stunServed: this.#stunResponder?.served ?? 0,
      kernelDrops: this.#socketState.kernelDrops(),
      recvBufferSize: this.#socketState.recvBufferSize(),
    };
  }

  /**
   * Read the kernel's drop count now (asynchronously: one read of `/proc/net/udp{,6}` in flight at a time,
   * begun after this call) and resolve with it; `stats().kernelDrops` shows it from then on. Between calls
   * it is refreshed every `kernelDropsIntervalMs`. `undefined` where the platform can't tell; after
   * `close()`, the last count read. Rejects only with `signal.reason` (or a `TypeError` for a bad argument).
   */
  refreshKernelDrops(options?: { signal?: AbortSignal }): Promise<number | undefined> {
    return this.#socketState.refreshKernelDrops(options);
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

  /**
   * A path for datagrams that do not come from the socket (`udp/ingress.ts`); replies to the addresses
   * learned through it go out through `send`.
   * @internal
   */
  [kIngress](send: IngressSend): Ingress {
    return openIngress(this.#ingressHost, send);
  }

  // ---- routing -------------------------------------------------------------------------------------

  readonly #onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
    this.#route(msg, canonicalRemote(rinfo), undefined, undefined);
  };

  /**
   * Where a datagram from `src` goes. `hairpin` is the sending conn when the datagram was written by a
   * conn of this mux to the mux's own address (then "the source address" says nothing: links do); `via`
   * the ingress it came through, when not the socket.
   */
  #route(
    msg: Buffer,
    src: RemoteInfo,
    hairpin: UdpConnRecord | undefined,
    via: IngressPath | undefined,
  ): void {
    this.#counters.received++;
    if (isStunMessage(msg)) {
      const type = messageType(msg);
      // 1. A connectivity check: USERNAME names the receiving agent first (RFC 8445 §7.2.2).
      if (type === BINDING_REQUEST) {
        const req = parseBindingRequest(msg); // undefined on anything malformed; never throws
        if (req !== undefined) return this.#routeCheck(msg, src, req, hairpin, via);
        // 1b. No USERNAME at all: a query for a STUN server (RFC 8489 §6.3), if the mux serves STUN.
        if (this.#stunResponder !== undefined && hairpin === undefined && isServerBindingRequest(msg)) {
          return this.#serveStun(msg, src, via);
        }
        // No valid `L:R` USERNAME: nothing to route by, so only an established path may take it (step 3).
      }
      // 2. A response to a request we sent: same transaction ID, from where we sent it (RFC 5389 §7.3.3).
      const cls = classOf(type);
      if (cls === "success" || cls === "error") {
        const owner = this.#takeTransaction(msg, src);
        if (owner !== undefined) return owner.conn.deliver(msg, src);
        if (via === undefined && this.#stun.handleResponse(msg, src)) return void this.#counters.delivered++;
      }
    }
    // 3. An established path: the conn this address is associated with, or the hairpin link.
    const association = hairpin === undefined ? this.#associations.get(src.address, src.port) : undefined;
    if (association !== undefined) return association.conn.deliver(msg, src);
    if (hairpin?.hairpinPeer !== undefined) return hairpin.hairpinPeer.conn.deliver(msg, src);
    // 4. Nobody's: the `onUnrouted` handler's if it takes it, else dropped.
    this.#unrouted.offer(dropReason(msg), msg, src);
  }

  /**
   * Step 1: a parsed Binding Request, admitted as every transport admits one (`ConnTable.admitCheck`:
   * FINGERPRINT, MESSAGE-INTEGRITY for a conn with a password, first contact within bounds); then the
   * address is associated by the ownership rules (`Associations.onCheck`), or the hairpin link made, and
   * the check delivered. A first contact's candidate is queued for `accept()` after its check was
   * delivered, so the conn's reader finds it.
   */
  #routeCheck(
    msg: Buffer,
    src: RemoteInfo,
    req: BindingRequest,
    hairpin: UdpConnRecord | undefined,
    via: IngressPath | undefined,
  ): void {
    const admitted = this.#conns.admitCheck(msg, req, src);
    if (typeof admitted === "string") return this.#unrouted.offer(admitted, msg, src);
    const { record, verified, candidate } = admitted;
    if (hairpin !== undefined) link(hairpin, record);
    else this.#associations.onCheck(record, src.address, src.port, verified, this.#clock.now, via);
    record.conn.deliver(msg, src);
    if (candidate !== undefined) this.#conns.offer(record, candidate);
  }

  /** Step 2: the conn that sent the request this response answers, if it went to `src`. Forgets the ID. */
  #takeTransaction(msg: Buffer, src: RemoteInfo): UdpConnRecord | undefined {
    if (this.#udpConns.transactions.size === 0) return undefined;
    return this.#udpConns.transactions.take(transactionKey(msg), src.address, src.port, this.#clock.now);
  }

  /** Step 1b: a STUN server query; answered within its source's and the total rate (see `stun-server.ts`). */
  #serveStun(msg: Buffer, src: RemoteInfo, via: IngressPath | undefined): void {
    if (!this.#stunResponder!.take(sourceKey(src.address), this.#clock.now)) {
      return this.#unrouted.drop("stun-rate-limited", src);
    }
    const answer = encodeBindingSuccess(msg, src.address, src.port, src.family);
    this.#udpConns.sender.raw(answer, src.address, src.port, via).catch((err: unknown) => {
      this.#unrouted.log("STUN answer to %s:%d failed: %O", src.address, src.port, err);
    });
  }

  /** A hairpin datagram `record` wrote arrives (`UdpSender`): routed as from the socket, linked by `record`. */
  #loopback(record: UdpConnRecord, data: Buffer, src: RemoteInfo): void {
    if (this.#closed) return;
    if (this.#conns.get(record.conn) !== record) {
      // The sender closed before its datagram "arrived": nobody may be linked to it any more.
      this.#counters.received++;
      return this.#counters.drop("conn-closed");
    }
    this.#route(data, src, record, undefined);
  }

  /** What an ingress sees of the mux. */
  readonly #ingressHost = ((mux: UDPMux) => ({
    get closed(): boolean {
      return mux.#closed;
    },
    route: (msg: Buffer, src: RemoteInfo, path: IngressPath) => this.#route(msg, src, undefined, path),
    forget: (path: IngressPath) => this.#associations.removeVia(path),
  }))(this);

  // ---- time and lifecycle --------------------------------------------------------------------------

  readonly #sweep = (): void => {
    const now = this.#clock.tick();
    this.#udpConns.sweep(now);
    this.#stun.sweep(now);
    this.#stunResponder?.sweep(now);
  };

  readonly #onSocketClose = (): void => {
    if (!this.#closed) {
      const cause = new Error("the UDP socket was closed under the mux");
      this.#closing ??= this.#shutdown(cause);
    }
  };

  async #shutdown(cause: Error | undefined): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
    const kernelDropsRead = this.#socketState.stop(); // stops its timer; a read in flight is awaited below
    this.#socket.off("message", this.#onMessage);
    const err = new MuxClosedError(cause === undefined ? undefined : { cause });
    this.#udpConns.close(err, cause); // writes fail, accepts reject, conns close, maps empty
    this.#stun.close(err);
    if (this.#ownsSocket) await this.#socketState.close();
    if (this.#socketState.closed) this.#udpConns.sender.failPending(err);
    await kernelDropsRead; // no file read outlives close(); one in flight stops at its next 4 KiB page
    this.#socketState.detach();
    this.emit("close");
  }
}

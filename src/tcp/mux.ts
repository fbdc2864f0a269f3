/**
 * TCPMux: every ICE-TCP connection of a process on one listening TCP port (RFC 6544, passive candidates).
 *
 * A peer that can't use UDP opens a TCP connection to the port and speaks RFC 4571 frames (a 16-bit length
 * before each packet). Its first frame must be a connectivity check — a STUN Binding Request whose USERNAME
 * is `receiver:sender` (RFC 8445 §7.2.2) — and the part before ':' names the local agent, exactly as
 * `UDPMux` routes a check: same parser, same FINGERPRINT and MESSAGE-INTEGRITY rules for conns with a
 * password, same accept queue for unknown ufrags (the {@link ConnTable} both muxes share). From then on
 * the TCP connection belongs to that conn: every frame on it is the conn's (`'message'` / `readFrom()`, with
 * the connection's remote address as `rinfo`), and `conn.writeTo(data, address)` frames `data` onto the
 * connection from that address. A passive side never dials: `writeTo` an address with no connection
 * rejects with `ERR_NO_TCP_CONNECTION`.
 *
 * Before its first frame a connection is *pending*, and pending connections are what an attacker can make
 * for free; so they are bounded in number (in total, the oldest evicted when a new one comes, and per
 * source: an IPv4 address or an IPv6 /64), in time (a deadline from accept that dripping bytes don't
 * extend) and in size (the first frame's length is checked as soon as its header arrives). Routed
 * connections are bounded too: in total, one per conn nobody has claimed yet, and per source while their
 * check was not verified by MESSAGE-INTEGRITY. So one source without credentials holds at most
 * `maxPendingPerAddress + maxUnverifiedPerAddress` descriptors (64 by default).
 *
 * Memory is counted in bytes. A frame is assembled in one buffer allocated when its length is known (a
 * drip of one byte per segment costs what the frame costs), and must complete within `frameTimeoutMs` of
 * its first byte. Frames waiting for a reader are bounded per conn (`maxQueuedBytes`), and a consumer that
 * queues frames itself (the werift adapter) pauses the connections it can't keep up with: either way the
 * mux stops reading the socket (TCP flow control slows the sender) instead of queueing or dropping, and
 * reads on once the backlog drains. A connection that breaks a rule is destroyed and counted in
 * `stats().rejectedByReason`.
 */
import { EventEmitter, once } from "node:events";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import type { Family } from "../address.js";
import { AddressMap, canonicalAddress, familyOf, isWildcard, sourceKey } from "../address.js";
import { now } from "../core/clock.js";
import { type Candidate, type ConnRecord, ConnTable } from "../core/conn-table.js";
import { type CounterStats, Counters } from "../core/counters.js";
import { Tally } from "../core/tally.js";
import { invalidArgType, invalidArgValue, MuxClosedError, NoTcpConnectionError } from "../errors.js";
import type { IceMux } from "../ice-mux.js";
import { connLog, tcpLog as log, RateLimitedLog } from "../log.js";
import type { ConnHost, DropReason } from "../muxed-connection.js";
import { MuxedConnection } from "../muxed-connection.js";
import { BINDING_REQUEST, isStunMessage, messageType, parseBindingRequest } from "../stun.js";
import { validateIpAddress, validateObject, validatePort } from "../validate.js";
import { iterateUntil } from "../waiters.js";
import { FrameReader, frame, MAX_FRAME_SIZE, type PushResult } from "./framing.js";
import { type ResolvedTCPMuxOptions, resolveTCPMuxOptions, type TCPMuxOptions } from "./options.js";

/** Why a TCP connection was closed before (or at) its first frame, as counted in `stats().rejectedByReason`. */
export type TcpRejectReason =
  /** No complete first frame within `firstFrameTimeoutMs` of accept. */
  | "first-frame-timeout"
  /** The first frame's header announced more than `maxFirstFrameSize` bytes. */
  | "first-frame-too-large"
  /** Waiting for its first frame, the oldest of `maxPendingConnections`, when a new connection came. */
  | "pending-evicted"
  /** `maxPendingPerAddress` connections from the same source (IPv4 address, IPv6 /64) were already waiting. */
  | "pending-limit-per-address"
  /** A frame after the first did not complete within `frameTimeoutMs` of its first byte. */
  | "frame-timeout"
  /** The first frame arrived and was dropped: the reason is the frame's (see `droppedByReason`). */
  | DropReason;

/** Counters and sizes of {@link TCPMux.stats}. `received` counts frames. */
export interface TCPMuxStats extends CounterStats {
  /** Live conns. */
  connections: number;
  /** TCP connections routed to a conn. */
  tcpConnections: number;
  /** TCP connections waiting for their first frame. */
  pendingConnections: number;
  /** Routed TCP connections whose reading is paused: their conn's reader is behind (flow control). */
  pausedConnections: number;
  /** Candidates waiting for `accept()`. */
  acceptQueue: number;
  /** TCP connections accepted since start. */
  accepted: number;
  /** TCP connections closed by the mux before or at their first frame. */
  rejected: number;
  /** `rejected`, by reason; reasons that never happened are absent. */
  rejectedByReason: Partial<Record<TcpRejectReason, number>>;
  /** Frames `writeTo` dropped because the connection had `maxWriteBufferBytes` waiting to be written. */
  writeDrops: number;
}

/** Options of {@link TCPMux.listen}. */
export interface ListenOptions extends TCPMuxOptions {
  /** @default 0 (any free port) */
  port?: number;
  /** @default "::" (dual stack) when IPv6 is available to Node, else "0.0.0.0" — as `net.Server.listen` */
  address?: string;
  /** With an IPv6 `address`: refuse IPv4 (no dual stack). @default false */
  ipv6Only?: boolean;
}

/** Events of {@link TCPMux}. */
export interface TCPMuxEvents {
  /** The mux finished closing: every conn and TCP connection closed, the server (if owned) closed. */
  close: [];
}

/** One accepted TCP connection: pending until its first frame routes it to a record. */
interface Link {
  readonly socket: Socket;
  readonly reader: FrameReader;
  readonly address: string;
  readonly port: number;
  readonly family: Family;
  /** What per-source limits count it under: the IPv4 address, or the IPv6 /64. */
  readonly source: string;
  /** `(frame) => mux.#onFrame(link, frame)`, made once per connection. */
  readonly onFrame: (frame: Buffer) => FrameVerdict;
  /** Set by the first frame; `undefined` while pending. */
  record: TcpConnRecord | undefined;
  /** Its check verified by MESSAGE-INTEGRITY; unverified connections count against their source. */
  verified: boolean;
  /** The first-frame deadline, while pending. */
  timer: NodeJS.Timeout | undefined;
  /** Frames read so far (tells a frame still in progress from the next one). */
  frames: number;
  /** When the frame in progress began, and which frame it is (`frames` then); see `frameTimeoutMs`. */
  frameStartedAt: number;
  frameIndex: number;
  /** Reading stopped for the consumer (`MuxedConnection.pauseFrom`) or for the conn's full queue. */
  consumerPaused: boolean;
  queuePaused: boolean;
  /** A resume is scheduled for the next turn of the event loop. */
  resumeScheduled: boolean;
}

/** What `#onFrame` tells the reader: go on, stop for good, or pause (keeping the unread rest). */
type FrameVerdict = undefined | "stop" | "pause";

/** The mux's bookkeeping for one conn: the table's record plus its TCP connections. */
interface TcpConnRecord extends ConnRecord {
  /** Routed connections by remote address, at most `maxAddressesPerUfrag` (one while unclaimed). */
  readonly links: AddressMap<Link>;
  /** Links paused until the conn's queue drains. */
  queuePaused: number;
}

/** How often the mux expires unclaimed conns. */
const SWEEP_INTERVAL_MS = 1000;

export class TCPMux extends EventEmitter<TCPMuxEvents> implements IceMux, AsyncIterable<Candidate> {
  readonly #server: Server;
  readonly #options: ResolvedTCPMuxOptions;
  readonly #ownsServer: boolean;
  readonly #family: Family;
  /** The server's address, read once: a closed server has none. */
  readonly #listenAddress: AddressInfo;
  readonly #conns: ConnTable<TcpConnRecord>;
  /** Connections waiting for their first frame, oldest first (the one evicted when a new one needs room). */
  readonly #pending = new Set<Link>();
  /** Pending connections per source. */
  readonly #pendingPerSource = new Tally();
  /** Routed connections whose check was not verified, per source. */
  readonly #unverifiedPerSource = new Tally();
  /** Routed connections with a frame in progress, oldest start first (for `frameTimeoutMs`). */
  readonly #partial = new Set<Link>();
  #paused = 0;
  readonly #counters = new Counters();
  readonly #rejectedByReason: Partial<Record<TcpRejectReason, number>> = {};
  readonly #dropLog = new RateLimitedLog(log);
  readonly #listenerLog = new RateLimitedLog(connLog);
  #accepted = 0;
  #rejected = 0;
  #writeDrops = 0;
  #tcpConnections = 0;
  #started = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;

  /** Listen on a new server and return a started mux that owns it (and always closes it). */
  static async listen(options: ListenOptions = {}): Promise<TCPMux> {
    validateObject<ListenOptions>(options, "options");
    const { port = 0, address, ipv6Only = false } = options;
    validatePort(port, "port", { allowZero: true });
    if (address !== undefined) validateIpAddress(address, "address");
    if (typeof ipv6Only !== "boolean") throw invalidArgType("ipv6Only", "a boolean", ipv6Only);
    const resolved = resolveTCPMuxOptions(options); // validate before listening
    const server = createServer({ noDelay: true });
    try {
      const listening = once(server, "listening");
      server.listen({ port, host: address, ipv6Only, exclusive: true });
      await listening;
    } catch (err) {
      server.close();
      throw err;
    }
    const mux = new TCPMux(server, { ...resolved, closeServer: true });
    mux.start();
    return mux;
  }

  /**
   * Wrap a **listening** `net.Server`. Call {@link start} to begin taking its connections (every connection
   * the server accepts from then on is the mux's). `close()` closes the server unless `closeServer: false`.
   */
  constructor(server: Server, options?: TCPMuxOptions) {
    super();
    if (server === null || typeof server !== "object" || typeof server.listen !== "function") {
      throw invalidArgType("server", "a net.Server", server);
    }
    const bound = server.address();
    if (bound === null || typeof bound !== "object") {
      throw invalidArgValue("server", "a listening net.Server (on an IP address, not a pipe)", server);
    }
    this.#options = resolveTCPMuxOptions(options);
    this.#server = server;
    this.#ownsServer = this.#options.closeServer;
    this.#family = bound.family === "IPv6" ? "IPv6" : "IPv4";
    this.#listenAddress = { address: bound.address, family: bound.family, port: bound.port };
    this.#conns = new ConnTable(this.#options, (ufrag, family) => this.#createRecord(ufrag, family));
    server.on("error", this.#onServerError);
    server.on("close", this.#onServerClose);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * `maxQueuedBytes`: what a consumer that queues frames itself (the werift adapter) may hold per TCP
   * connection before it pauses it (`MuxedConnection.pauseFrom`).
   * @internal
   */
  get maxQueuedBytes(): number {
    return this.#options.maxQueuedBytes;
  }

  /** Begin taking connections. Idempotent. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#server.on("connection", this.#onConnection);
    this.#sweepTimer = setInterval(this.#sweep, SWEEP_INTERVAL_MS);
    this.#sweepTimer.unref();
  }

  /** The server's address (one entry; a wildcard listen reports the wildcard). */
  getListenAddresses(): AddressInfo[] {
    return [{ ...this.#listenAddress }];
  }

  /**
   * The conn for `localUfrag` and the IP family of `addr` (default: the server's), created if missing.
   * Throws `ERR_CONNECTION_LIMIT` when creating it would exceed `maxConnections`.
   */
  getConn(localUfrag: string, addr?: { address: string }, options?: { password?: string }): MuxedConnection {
    return this.#conns.getConn(localUfrag, addr, options, this.#family, this.#closed);
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

  /** Close the conns of `localUfrag` (both families) and their TCP connections. */
  removeConnByUfrag(localUfrag: string): void {
    this.#conns.removeByUfrag(localUfrag);
  }

  /** Counters and sizes; see {@link TCPMuxStats}. */
  stats(): TCPMuxStats {
    return {
      ...this.#counters.snapshot(),
      connections: this.#conns.size,
      tcpConnections: this.#tcpConnections,
      pendingConnections: this.#pending.size,
      pausedConnections: this.#paused,
      acceptQueue: this.#conns.acceptQueueLength,
      accepted: this.#accepted,
      rejected: this.#rejected,
      rejectedByReason: { ...this.#rejectedByReason },
      writeDrops: this.#writeDrops,
    };
  }

  /**
   * Destroy every TCP connection (pending ones too), close every conn, reject pending accepts with
   * `ERR_MUX_CLOSED`, and close the server if the mux owns it. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  // ---- accepting -----------------------------------------------------------------------------------

  readonly #onConnection = (socket: Socket): void => {
    this.#accepted++;
    const address = canonicalAddress(socket.remoteAddress ?? "");
    const family = familyOf(address);
    if (this.#closed || family === undefined || socket.remotePort === undefined) {
      socket.destroy(); // closing, or the peer is already gone (no address)
      return;
    }
    const source = sourceKey(address);
    if (this.#pendingPerSource.get(source) >= this.#options.maxPendingPerAddress) {
      return this.#refuse(socket, "pending-limit-per-address", address);
    }
    if (this.#pending.size >= this.#options.maxPendingConnections) {
      // Evict the oldest rather than refuse the newest: idle connections can't keep a real check out.
      const oldest = this.#pending.values().next().value as Link;
      this.#reject(oldest, "pending-evicted");
    }
    const link: Link = {
      socket,
      reader: new FrameReader(this.#options.maxFirstFrameSize),
      address,
      port: socket.remotePort,
      family,
      source,
      onFrame: (data) => this.#onFrame(link, data),
      record: undefined,
      verified: false,
      timer: undefined,
      frames: 0,
      frameStartedAt: 0,
      frameIndex: -1,
      consumerPaused: false,
      queuePaused: false,
      resumeScheduled: false,
    };
    this.#pending.add(link);
    this.#pendingPerSource.increment(source);
    link.timer = setTimeout(
      () => this.#reject(link, "first-frame-timeout"),
      this.#options.firstFrameTimeoutMs,
    );
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.#afterRead(link, link.reader.push(chunk, link.onFrame)));
    socket.on("error", (err) => log("connection from %s:%d: %s", address, link.port, err.message));
    socket.on("close", () => this.#onLinkClosed(link));
  };

  /** What the reader did with the bytes it had: pause the socket, or track the frame in progress. */
  #afterRead(link: Link, result: PushResult): void {
    if (result === "oversized") {
      if (link.record === undefined) this.#reject(link, "first-frame-too-large");
      else link.socket.destroy(); // cannot happen: after the first frame every 16-bit length is allowed
      return;
    }
    if (result === "stopped" || link.socket.destroyed) return;
    if (result === "paused") {
      link.socket.pause();
      this.#partial.delete(link); // the peer can't finish a frame we don't read
      return;
    }
    if (link.record === undefined) return; // pending: the first-frame deadline covers it
    if (!link.reader.started) {
      this.#partial.delete(link);
    } else if (link.frameIndex !== link.frames) {
      // A new frame began: its deadline runs from now, and it is the newest in the set.
      link.frameIndex = link.frames;
      link.frameStartedAt = now();
      this.#partial.delete(link);
      this.#partial.add(link);
    }
  }

  /** One frame of `link`. */
  #onFrame(link: Link, data: Buffer): FrameVerdict {
    this.#counters.received++;
    if (link.socket.destroyed) {
      this.#counters.drop("conn-closed"); // its conn closed it while this chunk was being read
      return "stop";
    }
    link.frames++;
    const record = link.record;
    if (record === undefined) return this.#routeFirstFrame(link, data);
    record.conn.deliver(data, {
      address: link.address,
      family: link.family,
      port: link.port,
      size: data.length,
    });
    return this.#backpressure(link, record);
  }

  /**
   * After a delivery: pause reading `link` if its consumer asked to (`pauseFrom`, during the delivery) or
   * its conn's queue reached a bound; the reader keeps the rest of the chunk for later.
   */
  #backpressure(link: Link, record: TcpConnRecord): FrameVerdict {
    if (link.consumerPaused) return "pause";
    const conn = record.conn;
    if (
      conn.queuedBytes < this.#options.maxQueuedBytes &&
      conn.queuedPackets < this.#options.maxQueuedPackets
    ) {
      return undefined;
    }
    link.queuePaused = true;
    record.queuePaused++;
    this.#paused++;
    return "pause";
  }

  /**
   * A pending connection's first frame: a check, admitted as every transport admits one
   * (`ConnTable.admitCheck`), then held to the TCP bounds — routed connections in total, one per conn
   * nobody claimed yet, and per source while unverified; anything else rejects the connection. Validated
   * before anything is looked up or allocated.
   */
  #routeFirstFrame(link: Link, data: Buffer): FrameVerdict {
    if (!isStunMessage(data)) return this.#dropFirst(link, "not-stun");
    if (messageType(data) !== BINDING_REQUEST) return this.#dropFirst(link, "not-a-check");
    const req = parseBindingRequest(data); // undefined on anything malformed; never throws
    if (req === undefined) return this.#dropFirst(link, "bad-username");
    if (this.#tcpConnections >= this.#options.maxTcpConnections) {
      return this.#dropFirst(link, "connection-limit");
    }
    const sourceFull = this.#unverifiedPerSource.get(link.source) >= this.#options.maxUnverifiedPerAddress;
    // First contact is never verified: refuse it before it makes a conn.
    if (sourceFull && this.#conns.byUfrag(req.localUfrag, link.family) === undefined) {
      return this.#dropFirst(link, "unverified-limit");
    }
    const admitted = this.#conns.admitCheck(data, req, link);
    if (typeof admitted === "string") return this.#dropFirst(link, admitted);
    const { record, verified, candidate } = admitted;
    if (!verified && sourceFull) return this.#dropFirst(link, "unverified-limit");
    const cap = record.claimed ? this.#options.maxAddressesPerUfrag : 1;
    if (record.links.size >= cap && record.links.get(link.address, link.port) === undefined) {
      return this.#dropFirst(link, "address-cap");
    }
    this.#route(link, record, verified);
    link.reader.maxFrameSize = MAX_FRAME_SIZE;
    record.conn.deliver(data, {
      address: link.address,
      family: link.family,
      port: link.port,
      size: data.length,
    });
    if (candidate !== undefined) this.#conns.offer(record, candidate);
    return this.#backpressure(link, record);
  }

  /** Give a pending connection to `record`. */
  #route(link: Link, record: TcpConnRecord, verified: boolean): void {
    this.#settle(link);
    link.record = record;
    link.verified = verified;
    if (!verified) this.#unverifiedPerSource.increment(link.source);
    // An older connection from the same address and port is gone (its close event may still be on its way).
    record.links.get(link.address, link.port)?.socket.destroy();
    record.links.set(link.address, link.port, link);
    this.#tcpConnections++;
  }

  /** No longer pending: forget the deadline and the per-source count. */
  #settle(link: Link): void {
    if (!this.#pending.delete(link)) return;
    clearTimeout(link.timer);
    link.timer = undefined;
    this.#pendingPerSource.decrement(link.source);
  }

  #dropFirst(link: Link, reason: DropReason): "stop" {
    this.#counters.drop(reason);
    this.#reject(link, reason);
    return "stop";
  }

  #reject(link: Link, reason: TcpRejectReason): void {
    this.#settle(link);
    this.#countRejected(reason);
    this.#dropLog.log("closed connection from %s:%d (%s)", link.address, link.port, reason);
    link.socket.destroy();
  }

  #refuse(socket: Socket, reason: TcpRejectReason, address: string): void {
    this.#countRejected(reason);
    this.#dropLog.log("refused connection from %s (%s)", address, reason);
    socket.destroy();
  }

  #countRejected(reason: TcpRejectReason): void {
    this.#rejected++;
    this.#rejectedByReason[reason] = (this.#rejectedByReason[reason] ?? 0) + 1;
  }

  #onLinkClosed(link: Link): void {
    this.#settle(link);
    this.#partial.delete(link);
    link.reader.clear();
    const record = link.record;
    if (record === undefined) return;
    if (record.links.get(link.address, link.port) === link) record.links.delete(link.address, link.port);
    if (link.queuePaused) {
      link.queuePaused = false;
      record.queuePaused--;
      this.#paused--;
    } else if (link.consumerPaused) {
      this.#paused--;
    }
    if (!link.verified) this.#unverifiedPerSource.decrement(link.source);
    link.record = undefined;
    this.#tcpConnections--;
  }

  // ---- flow control --------------------------------------------------------------------------------

  /** The consumer of `conn` (the werift adapter) can't take more from `address:port` now, or can again. */
  #setPaused(conn: MuxedConnection, address: string, port: number, paused: boolean): void {
    const link = this.#conns.get(conn)?.links.get(address, port);
    if (link === undefined || link.consumerPaused === paused) return;
    link.consumerPaused = paused;
    if (paused) {
      if (!link.queuePaused) this.#paused++;
      // Inside the read loop `#onFrame` pauses the reader; outside it, stop the socket now.
      link.socket.pause();
      this.#partial.delete(link);
    } else {
      if (!link.queuePaused) this.#paused--;
      this.#scheduleResume(link);
    }
  }

  /** `conn`'s reader took a packet: resume its paused links once the queue is down to half its bounds. */
  #queueShrunk(conn: MuxedConnection): void {
    const record = this.#conns.get(conn);
    if (record === undefined || record.queuePaused === 0) return;
    if (conn.queuedBytes > this.#options.maxQueuedBytes / 2) return;
    if (conn.queuedPackets > this.#options.maxQueuedPackets / 2) return;
    for (const link of record.links.values()) {
      if (!link.queuePaused) continue;
      link.queuePaused = false;
      record.queuePaused--;
      if (!link.consumerPaused) this.#paused--;
      this.#scheduleResume(link);
    }
  }

  /** Read on, next turn (never inside a reader's or consumer's call): first what was kept, then the socket. */
  #scheduleResume(link: Link): void {
    if (link.resumeScheduled) return;
    link.resumeScheduled = true;
    setImmediate(() => {
      link.resumeScheduled = false;
      if (link.consumerPaused || link.queuePaused || link.socket.destroyed || link.record === undefined)
        return;
      const result = link.reader.paused ? link.reader.resume(link.onFrame) : "ok";
      this.#afterRead(link, result);
      if (result === "ok") link.socket.resume();
    });
  }

  /**
   * `conn` got its first password: its TCP connections whose check was not verified are closed (counted
   * as `unverified`) — a squatter's connection must not stay attached to the agent that claimed the ufrag.
   */
  #dropUnverified(conn: MuxedConnection): void {
    const record = this.#conns.get(conn);
    if (record === undefined) return;
    for (const link of [...record.links.values()]) {
      if (link.verified) continue;
      this.#countRejected("unverified");
      this.#dropLog.log("closed unverified connection from %s:%d", link.address, link.port);
      link.socket.destroy();
    }
  }

  // ---- sending -------------------------------------------------------------------------------------

  /**
   * Frame `data` onto the TCP connection from `address:port`: the bytes taken (0 when the write buffer was
   * full and the frame dropped), or why not. Synchronous: the socket queues what the kernel can't take yet.
   */
  #write(record: TcpConnRecord, data: Uint8Array, address: string, port: number): number | Error {
    if (this.#closed) return new MuxClosedError();
    const link = record.links.get(address, port);
    if (link === undefined || link.socket.destroyed) return new NoTcpConnectionError(address, port);
    const framed = frame(data);
    if (framed === undefined)
      return invalidArgValue("data", "at most 65,535 bytes (an RFC 4571 frame)", data);
    if (link.socket.writableLength + framed.length > this.#options.maxWriteBufferBytes) {
      this.#writeDrops++;
      this.#dropLog.log("write buffer of %s:%d full: frame dropped", address, port);
      return 0;
    }
    link.socket.write(framed);
    return data.length;
  }

  // ---- conn bookkeeping ----------------------------------------------------------------------------

  #createRecord(localUfrag: string, family: Family): TcpConnRecord {
    const conn = new MuxedConnection(this.#host, localUfrag, family, this.#options.maxQueuedPackets);
    return { conn, claimed: false, createdAt: now(), links: new AddressMap(), queuePaused: 0 };
  }

  /** Forget a closing conn and destroy its TCP connections. Called (only) by `MuxedConnection.close()`. */
  #release(conn: MuxedConnection): void {
    const record = this.#conns.remove(conn);
    if (record === undefined) return;
    for (const link of [...record.links.values()]) link.socket.destroy();
  }

  /** The conns' window on the mux (see `ConnHost`). */
  readonly #host: ConnHost = ((mux: TCPMux): ConnHost => ({
    get closed(): boolean {
      return mux.#closed;
    },
    send: (conn, data, address, port) => {
      const record = this.#conns.get(conn);
      const result = record === undefined ? new MuxClosedError() : this.#write(record, data, address, port);
      return result instanceof Error ? Promise.reject(result) : Promise.resolve(result);
    },
    sendNoWait: (conn, data, address, port, callback) => {
      const record = this.#conns.get(conn);
      const result = record === undefined ? new MuxClosedError() : this.#write(record, data, address, port);
      callback(result instanceof Error ? result : null);
    },
    release: (conn) => this.#release(conn),
    localAddress: (family) => this.#localAddress(family),
    countDelivered: () => {
      this.#counters.delivered++;
    },
    countDropped: (reason, count) => this.#counters.drop(reason, count),
    logListenerError: (ufrag, err) => this.#listenerLog.log("ufrag %s: a listener threw: %O", ufrag, err),
    setPaused: (conn, address, port, paused) => this.#setPaused(conn, address, port, paused),
    queueShrunk: (conn) => this.#queueShrunk(conn),
    dropUnverified: (conn) => this.#dropUnverified(conn),
  }))(this);

  #localAddress(family: Family): AddressInfo {
    const { address, port } = this.#listenAddress;
    if (family === "IPv4" && this.#family === "IPv6" && isWildcard(address)) {
      return { address: "0.0.0.0", family, port };
    }
    return { address: canonicalAddress(address), family, port };
  }

  // ---- time and lifecycle --------------------------------------------------------------------------

  readonly #sweep = (): void => {
    const at = now();
    this.#conns.expire(at, (record) => {
      log("ufrag %s: unclaimed for %d ms, removed", record.conn.localUfrag, at - record.createdAt);
      record.conn.closeDropping("expired");
    });
    for (const link of this.#partial) {
      if (at - link.frameStartedAt < this.#options.frameTimeoutMs) break; // oldest start first
      this.#partial.delete(link);
      this.#reject(link, "frame-timeout");
    }
  };

  readonly #onServerError = (err: Error): void => {
    log("server error: %O", err);
  };

  readonly #onServerClose = (): void => {
    if (!this.#closed) this.#closing ??= this.#shutdown();
  };

  async #shutdown(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
    this.#server.off("connection", this.#onConnection);
    const err = new MuxClosedError();
    this.#conns.closeAccepts(err);
    for (const link of [...this.#pending]) {
      this.#settle(link);
      link.socket.destroy();
    }
    this.#partial.clear();
    for (const record of [...this.#conns.values()]) record.conn.closeDropping("conn-closed");
    if (this.#ownsServer && this.#server.listening) {
      await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    }
    this.#server.off("error", this.#onServerError);
    this.#server.off("close", this.#onServerClose);
    this.emit("close");
  }
}

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
 * for free; so they are bounded in number (in total and per remote IP), in time (a deadline from accept
 * that dripping bytes don't extend) and in size (the first frame's length is checked as soon as its header
 * arrives). A connection that breaks a rule is destroyed and counted in `stats().rejectedByReason`.
 */
import { EventEmitter, once } from "node:events";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import type { Family } from "../address.js";
import { AddressMap, canonicalAddress, familyOf, isWildcard } from "../address.js";
import { type Candidate, type ConnRecord, ConnTable } from "../conn-table.js";
import { type CounterStats, Counters } from "../counters.js";
import { invalidArgType, invalidArgValue, MuxClosedError, NoTcpConnectionError } from "../errors.js";
import type { IceMux } from "../ice-mux.js";
import { verifyFingerprint, verifyMessageIntegrity } from "../integrity.js";
import { connLog, tcpLog as log, RateLimitedLog } from "../log.js";
import type { ConnHost, DropReason } from "../muxed-connection.js";
import { MuxedConnection } from "../muxed-connection.js";
import { BINDING_REQUEST, isStunMessage, messageType, parseBindingRequest } from "../stun.js";
import { validateIpAddress, validateObject, validatePort } from "../validate.js";
import { iterateUntil } from "../waiters.js";
import { FrameReader, frame, MAX_FRAME_SIZE } from "./framing.js";
import { type ResolvedTCPMuxOptions, resolveTCPMuxOptions, type TCPMuxOptions } from "./options.js";

/** Why a TCP connection was closed before (or at) its first frame, as counted in `stats().rejectedByReason`. */
export type TcpRejectReason =
  /** No complete first frame within `firstFrameTimeoutMs` of accept. */
  | "first-frame-timeout"
  /** The first frame's header announced more than `maxFirstFrameSize` bytes. */
  | "first-frame-too-large"
  /** `maxPendingConnections` connections were already waiting for their first frame. */
  | "pending-limit"
  /** `maxPendingPerAddress` connections from the same IP were already waiting. */
  | "pending-limit-per-address"
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
  /** Set by the first frame; `undefined` while pending. */
  record: TcpConnRecord | undefined;
  /** The first-frame deadline, while pending. */
  timer: NodeJS.Timeout | undefined;
}

/** The mux's bookkeeping for one conn: the table's record plus its TCP connections. */
interface TcpConnRecord extends ConnRecord {
  /** Routed connections by remote address, at most `maxAddressesPerUfrag`. */
  readonly links: AddressMap<Link>;
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
  readonly #pending = new Set<Link>();
  /** Pending connections per remote IP; an entry exists only while its count is above zero. */
  readonly #pendingPerAddress = new Map<string, number>();
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
    if (this.#pending.size >= this.#options.maxPendingConnections) {
      return this.#refuse(socket, "pending-limit", address);
    }
    const fromAddress = this.#pendingPerAddress.get(address) ?? 0;
    if (fromAddress >= this.#options.maxPendingPerAddress) {
      return this.#refuse(socket, "pending-limit-per-address", address);
    }
    const link: Link = {
      socket,
      reader: new FrameReader(this.#options.maxFirstFrameSize),
      address,
      port: socket.remotePort,
      family,
      record: undefined,
      timer: undefined,
    };
    this.#pending.add(link);
    this.#pendingPerAddress.set(address, fromAddress + 1);
    link.timer = setTimeout(
      () => this.#reject(link, "first-frame-timeout"),
      this.#options.firstFrameTimeoutMs,
    );
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.#onData(link, chunk));
    socket.on("error", (err) => log("connection from %s:%d: %s", address, link.port, err.message));
    socket.on("close", () => this.#onLinkClosed(link));
  };

  #onData(link: Link, chunk: Buffer): void {
    const result = link.reader.push(chunk, (f) => this.#onFrame(link, f));
    if (result === "oversized") {
      if (link.record === undefined) this.#reject(link, "first-frame-too-large");
      else link.socket.destroy(); // cannot happen: after the first frame every 16-bit length is allowed
    }
  }

  /** One frame of `link`; `false` stops reading it (it was rejected). */
  #onFrame(link: Link, data: Buffer): boolean {
    this.#counters.received++;
    const record = link.record;
    if (link.socket.destroyed) return false; // its conn closed it while this chunk was being read
    if (record !== undefined) {
      record.conn.deliver(data, {
        address: link.address,
        family: link.family,
        port: link.port,
        size: data.length,
      });
      return true;
    }
    return this.#routeFirstFrame(link, data);
  }

  /**
   * A pending connection's first frame: a check, routed by the local ufrag as `UDPMux` routes one;
   * anything else rejects the connection. Validated before anything is looked up or allocated.
   */
  #routeFirstFrame(link: Link, data: Buffer): boolean {
    if (!isStunMessage(data)) return this.#dropFirst(link, "not-stun");
    if (messageType(data) !== BINDING_REQUEST) return this.#dropFirst(link, "not-a-check");
    const req = parseBindingRequest(data); // undefined on anything malformed; never throws
    if (req === undefined) return this.#dropFirst(link, "bad-username");
    if (!verifyFingerprint(data, req)) return this.#dropFirst(link, "integrity-failed"); // RFC 5389 §15.5
    let record = this.#conns.byUfrag(req.localUfrag, link.family);
    let candidate: Candidate | undefined;
    if (record !== undefined) {
      const password = record.conn.password;
      if (password !== undefined && !verifyMessageIntegrity(data, req, password)) {
        return this.#dropFirst(link, "integrity-failed");
      }
      if (record.links.size >= this.#options.maxAddressesPerUfrag)
        return this.#dropFirst(link, "address-cap");
    } else {
      const refused = this.#conns.refuseFirstContact();
      if (refused !== undefined) return this.#dropFirst(link, refused);
      record = this.#conns.createUnclaimed(req.localUfrag, link.family);
      candidate = {
        localUfrag: req.localUfrag,
        remoteUfrag: req.remoteUfrag,
        address: link.address,
        port: link.port,
        family: link.family,
      };
    }
    this.#route(link, record);
    link.reader.maxFrameSize = MAX_FRAME_SIZE;
    record.conn.deliver(data, {
      address: link.address,
      family: link.family,
      port: link.port,
      size: data.length,
    });
    if (candidate !== undefined) this.#conns.offer(record, candidate);
    return true;
  }

  /** Give a pending connection to `record`. */
  #route(link: Link, record: TcpConnRecord): void {
    this.#settle(link);
    link.record = record;
    // An older connection from the same address and port is gone (its close event may still be on its way).
    record.links.get(link.address, link.port)?.socket.destroy();
    record.links.set(link.address, link.port, link);
    this.#tcpConnections++;
  }

  /** No longer pending: forget the deadline and the per-address count. */
  #settle(link: Link): void {
    if (!this.#pending.delete(link)) return;
    clearTimeout(link.timer);
    link.timer = undefined;
    const left = (this.#pendingPerAddress.get(link.address) ?? 1) - 1;
    if (left > 0) this.#pendingPerAddress.set(link.address, left);
    else this.#pendingPerAddress.delete(link.address);
  }

  #dropFirst(link: Link, reason: DropReason): false {
    this.#counters.drop(reason);
    this.#reject(link, reason);
    return false;
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
    const record = link.record;
    if (record === undefined) return;
    if (record.links.get(link.address, link.port) === link) record.links.delete(link.address, link.port);
    link.record = undefined;
    this.#tcpConnections--;
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
    return { conn, claimed: false, createdAt: Date.now(), links: new AddressMap() };
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
    const now = Date.now();
    this.#conns.expire(now, (record) => {
      log("ufrag %s: unclaimed for %d ms, removed", record.conn.localUfrag, now - record.createdAt);
      record.conn.closeDropping("expired");
    });
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
    for (const record of [...this.#conns.values()]) record.conn.closeDropping("conn-closed");
    if (this.#ownsServer && this.#server.listening) {
      await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    }
    this.#server.off("error", this.#onServerError);
    this.#server.off("close", this.#onServerClose);
    this.emit("close");
  }
}

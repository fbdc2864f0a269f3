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
 *
 * Given a web server (`web`), the mux shares its port with it: a new connection's first bytes say whether
 * it is ICE-TCP — an RFC 4571 frame length that fits a first frame, then a STUN header with the magic
 * cookie (10 bytes at most, `classify.ts`) — or not, and one that is not goes to the web server untouched,
 * the bytes already read pushed back (a TLS ClientHello, an HTTP request line). Until then it is pending,
 * under the same bounds and deadline as any.
 *
 * Layout: this file is the shell (the server, the public API, the conns' `ConnHost`, the sweep and the
 * lifecycle) over the transport-free `ConnTable`, whose public half it shares with `UDPMux`
 * (`conn-table-mux.ts`); `links.ts` does the socket side, with `flow-control.ts` (pausing and resuming
 * reads) and `web.ts` (what is handed to the web server); the decisions are plain code over an injected
 * clock — `budget.ts` (who may connect, who is evicted, per-source counts), `deadlines.ts`
 * (`frameTimeoutMs`), `link.ts` (when a connection pauses and resumes).
 */
import { once } from "node:events";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import type { Family } from "../address.js";
import { AddressMap, canonicalAddress, isWildcard } from "../address.js";
import { ConnTableMux } from "../conn-table-mux.js";
import { now } from "../core/clock.js";
import { type Candidate, ConnTable } from "../core/conn-table.js";
import { type CounterStats, Counters } from "../core/counters.js";
import { invalidArgType, invalidArgValue, MuxClosedError } from "../errors.js";
import type { IceMux } from "../ice-mux.js";
import { connLog, tcpLog as log, RateLimitedLog } from "../log.js";
import type { ConnHost } from "../muxed-connection.js";
import { MuxedConnection } from "../muxed-connection.js";
import { validateIpAddress, validateObject, validatePort } from "../validate.js";
import type { TcpConnRecord } from "./link.js";
import { TcpLinks, type TcpRejectReason } from "./links.js";
import { type ResolvedTCPMuxOptions, resolveTCPMuxOptions, type TCPMuxOptions } from "./options.js";
import { announceListening } from "./web.js";

export type { TcpRejectReason } from "./links.js";

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
  /** TCP connections accepted since start (those handed to the web server included). */
  accepted: number;
  /** TCP connections handed to the `web` server: their first bytes were not ICE-TCP. */
  webConnections: number;
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

/** What `TCPMux.listen` takes besides the mux's options (the compiler keeps it complete). */
const LISTEN_ONLY = { port: true, address: true, ipv6Only: true } satisfies Record<
  Exclude<keyof ListenOptions, keyof TCPMuxOptions>,
  true
>;
const LISTEN_ONLY_NAMES: readonly string[] = Object.keys(LISTEN_ONLY);

/** Events of {@link TCPMux}. */
export interface TCPMuxEvents {
  /** The mux finished closing: every conn and TCP connection closed, the server (if owned) closed. */
  close: [];
}

/** How often the mux expires unclaimed conns. */
const SWEEP_INTERVAL_MS = 1000;

export class TCPMux extends ConnTableMux<TCPMuxEvents> implements IceMux, AsyncIterable<Candidate> {
  readonly #server: Server;
  readonly #options: ResolvedTCPMuxOptions;
  readonly #ownsServer: boolean;
  readonly #family: Family;
  /** The server's address, read once: a closed server has none. */
  readonly #listenAddress: AddressInfo;
  readonly #conns: ConnTable<TcpConnRecord>;
  readonly #counters = new Counters();
  /** Every TCP connection: accepted, routed by its first frame, read, paused, written, closed. */
  readonly #links: TcpLinks;
  readonly #listenerLog = new RateLimitedLog(connLog);
  #started = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;

  /** Listen on a new server and return a started mux that owns it (and always closes it). */
  static async listen(options: ListenOptions = {}): Promise<TCPMux> {
    validateObject<ListenOptions>(options, "options");
    const resolved = resolveTCPMuxOptions(options, LISTEN_ONLY_NAMES); // validate before listening
    const { port = 0, address, ipv6Only = false } = options;
    validatePort(port, "port", { allowZero: true });
    if (address !== undefined) validateIpAddress(address, "address");
    if (typeof ipv6Only !== "boolean") throw invalidArgType("ipv6Only", "a boolean", ipv6Only);
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
    if (this.#options.web === server) {
      throw invalidArgValue("web", "a server other than the one the mux takes connections from", server);
    }
    this.#server = server;
    this.#ownsServer = this.#options.closeServer;
    this.#family = bound.family === "IPv6" ? "IPv6" : "IPv4";
    this.#listenAddress = { address: bound.address, family: bound.family, port: bound.port };
    this.#conns = new ConnTable(this.#options, (ufrag, family) => this.#createRecord(ufrag, family));
    this.#links = new TcpLinks(this.#options, this.#conns, this.#counters);
    server.on("error", this.#onServerError);
    server.on("close", this.#onServerClose);
  }

  override get closed(): boolean {
    return this.#closed;
  }

  /** @internal */
  protected override get connTable(): ConnTable<TcpConnRecord> {
    return this.#conns;
  }

  /** @internal */
  protected override get defaultFamily(): Family {
    return this.#family;
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
    if (this.#options.web !== undefined) announceListening(this.#options.web); // once per web server
  }

  /**
   * The server's address (one entry; a wildcard listen reports the wildcard). Throws `ERR_MUX_CLOSED` once
   * the mux closed, as `UDPMux`'s does: a closed mux listens nowhere, and an address read then would be
   * advertised for a port nothing answers.
   */
  getListenAddresses(): AddressInfo[] {
    if (this.#closed) throw new MuxClosedError();
    return [{ ...this.#listenAddress }];
  }

  /** Counters and sizes; see {@link TCPMuxStats}. */
  stats(): TCPMuxStats {
    const links = this.#links.stats();
    return {
      ...this.#counters.snapshot(),
      connections: this.#conns.size,
      tcpConnections: links.tcpConnections,
      pendingConnections: links.pendingConnections,
      pausedConnections: links.pausedConnections,
      acceptQueue: this.#conns.acceptQueueLength,
      accepted: links.accepted,
      webConnections: links.webConnections,
      rejected: links.rejected,
      rejectedByReason: links.rejectedByReason,
      writeDrops: links.writeDrops,
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

  readonly #onConnection = (socket: Socket): void => {
    this.#links.accept(socket);
  };

  // ---- conn bookkeeping ----------------------------------------------------------------------------

  #createRecord(localUfrag: string, family: Family): TcpConnRecord {
    const conn = new MuxedConnection(this.#host, localUfrag, family, this.#options.maxQueuedPackets);
    return { conn, claimed: false, createdAt: now(), links: new AddressMap(), queuePaused: 0 };
  }

  /** `data` framed onto `conn`'s TCP connection from `address:port`: bytes taken, or why not. */
  #write(conn: MuxedConnection, data: Uint8Array, address: string, port: number): number | Error {
    const record = this.#conns.get(conn);
    if (this.#closed || record === undefined) return new MuxClosedError();
    return this.#links.write(record, data, address, port);
  }

  /** Forget a closing conn and destroy its TCP connections. Called (only) by `MuxedConnection.close()`. */
  #release(conn: MuxedConnection): void {
    const record = this.#conns.remove(conn);
    if (record !== undefined) this.#links.destroyAll(record);
  }

  /** The conns' window on the mux (see `ConnHost`). */
  readonly #host: ConnHost = ((mux: TCPMux): ConnHost => ({
    get closed(): boolean {
      return mux.#closed;
    },
    send: (conn, data, address, port) => {
      const result = this.#write(conn, data, address, port);
      return result instanceof Error ? Promise.reject(result) : Promise.resolve(result);
    },
    sendNoWait: (conn, data, address, port, callback) => {
      const result = this.#write(conn, data, address, port);
      callback(result instanceof Error ? result : null);
    },
    release: (conn) => this.#release(conn),
    localAddress: (family) => this.#localAddress(family),
    countDelivered: () => {
      this.#counters.delivered++;
    },
    countDropped: (reason, count) => this.#counters.drop(reason, count),
    logListenerError: (ufrag, err) => this.#listenerLog.log("ufrag %s: a listener threw: %O", ufrag, err),
    setPaused: (conn, address, port, paused) => {
      const record = this.#conns.get(conn);
      if (record !== undefined) this.#links.flow.setPaused(record, address, port, paused);
    },
    queueShrunk: (conn) => {
      const record = this.#conns.get(conn);
      if (record !== undefined) this.#links.flow.queueShrunk(record);
    },
    dropUnverified: (conn) => {
      const record = this.#conns.get(conn);
      if (record !== undefined) this.#links.dropUnverified(record);
    },
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
    this.#links.expireFrames();
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
    this.#conns.closeAccepts(new MuxClosedError());
    this.#links.close();
    for (const record of [...this.#conns.values()]) record.conn.closeDropping("conn-closed");
    if (this.#ownsServer && this.#server.listening) {
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      // The server calls back once every connection it accepted has ended, those handed to the web server
      // too: they are the web server's to close (keep-alive holds them for seconds). Its port is free now.
      if (this.#options.web === undefined) await closed;
    }
    this.#server.off("error", this.#onServerError);
    this.#server.off("close", this.#onServerClose);
    this.emit("close");
  }
}

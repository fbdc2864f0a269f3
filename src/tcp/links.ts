/**
 * TcpLinks: the socket side of `TCPMux` — every TCP connection it accepted, from accept to close. It admits
 * a connection ({@link TcpBudget}), hands it to the web server if its first bytes are not ICE-TCP (with a
 * `web` server: `classifyFirstBytes`), reads RFC 4571 frames off it ({@link FrameReader}), routes it by its
 * first frame (a check, admitted by the shared `ConnTable.admitCheck`, then held to the TCP bounds), delivers
 * every later frame to its conn, pauses and resumes reading for flow control ({@link TcpFlowControl}), closes
 * it at a deadline ({@link FrameDeadlines}), and writes frames onto it. The decisions are the pure classes';
 * what is here reads, calls them and does what they say to the socket.
 */
import type { Socket } from "node:net";
import { canonicalAddress, familyOf, sourceKey } from "../address.js";
import type { ConnTable } from "../core/conn-table.js";
import type { Counters } from "../core/counters.js";
import { invalidArgValue, NoTcpConnectionError } from "../errors.js";
import { tcpLog as log, RateLimitedLog } from "../log.js";
import type { DropReason } from "../muxed-connection.js";
import { BINDING_REQUEST, isStunMessage, messageType, parseBindingRequest } from "../stun.js";
import { TcpBudget } from "./budget.js";
import { classifyFirstBytes } from "./classify.js";
import { FrameDeadlines } from "./deadlines.js";
import { TcpFlowControl } from "./flow-control.js";
import { type FrameAction, FrameReader, frame, MAX_FRAME_SIZE, type PushResult } from "./framing.js";
import { createLink, type Link, type PauseCount, type TcpConnRecord } from "./link.js";
import type { ResolvedTCPMuxOptions } from "./options.js";
import { handOff } from "./web.js";

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

/** The part of `TCPMux.stats()` about TCP connections. */
export interface LinkStats {
  tcpConnections: number;
  pendingConnections: number;
  pausedConnections: number;
  accepted: number;
  webConnections: number;
  rejected: number;
  rejectedByReason: Partial<Record<TcpRejectReason, number>>;
  writeDrops: number;
}

/** A connection's first bytes before any came. */
const NO_BYTES = Buffer.alloc(0);

export class TcpLinks {
  readonly #options: ResolvedTCPMuxOptions;
  readonly #conns: ConnTable<TcpConnRecord>;
  readonly #counters: Counters;
  readonly #budget: TcpBudget<Link>;
  readonly #deadlines: FrameDeadlines<Link>;
  readonly #pauses: PauseCount = { paused: 0 };
  readonly #rejectedByReason: Partial<Record<TcpRejectReason, number>> = {};
  readonly #dropLog = new RateLimitedLog(log);
  #accepted = 0;
  #webConnections = 0;
  #rejected = 0;
  #writeDrops = 0;
  #closed = false;
  /** Pausing and resuming reads (`flow-control.ts`); the mux's conns call it through their `ConnHost`. */
  readonly flow: TcpFlowControl;

  constructor(options: ResolvedTCPMuxOptions, conns: ConnTable<TcpConnRecord>, counters: Counters) {
    this.#options = options;
    this.#conns = conns;
    this.#counters = counters;
    this.#budget = new TcpBudget(options);
    this.#deadlines = new FrameDeadlines(options.frameTimeoutMs);
    this.flow = new TcpFlowControl(options, this.#deadlines, (link, result) => this.#afterRead(link, result));
  }

  stats(): LinkStats {
    return {
      tcpConnections: this.#budget.routedCount,
      pendingConnections: this.#budget.pendingCount,
      pausedConnections: this.#pauses.paused,
      accepted: this.#accepted,
      webConnections: this.#webConnections,
      rejected: this.#rejected,
      rejectedByReason: { ...this.#rejectedByReason },
      writeDrops: this.#writeDrops,
    };
  }

  // ---- accepting, classifying and routing ----------------------------------------------------------

  /** A connection the server accepted: pending until its first frame, if the budget has room. */
  accept(socket: Socket): void {
    this.#accepted++;
    const address = canonicalAddress(socket.remoteAddress ?? "");
    const family = familyOf(address);
    if (this.#closed || family === undefined || socket.remotePort === undefined) {
      socket.destroy(); // closing, or the peer is already gone (no address)
      return;
    }
    const source = sourceKey(address);
    const admission = this.#budget.admitConnection(source);
    if (admission === "pending-limit-per-address") return this.#refuse(socket, admission, address);
    // Full: evict the oldest rather than refuse the newest, so idle connections can't keep a real check out.
    if (admission !== "ok") this.#reject(admission.evict, "pending-evicted");
    const reader = new FrameReader(this.#options.maxFirstFrameSize);
    const link = createLink(
      socket,
      reader,
      { address, port: socket.remotePort, family, source },
      this.#pauses,
      this.#onFrame,
    );
    this.#budget.pend(link);
    link.timer = setTimeout(
      () => this.#reject(link, "first-frame-timeout"),
      this.#options.firstFrameTimeoutMs,
    );
    socket.setNoDelay(true);
    const onData = (chunk: Buffer): void => {
      if (link.head === undefined) this.#afterRead(link, link.reader.push(chunk, link.onFrame));
      else this.#classify(link, chunk);
    };
    const onError = (err: Error): void => log("connection from %s:%d: %s", address, link.port, err.message);
    const onClose = (): void => this.#onClosed(link);
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("close", onClose);
    if (this.#options.web === undefined) return;
    link.head = NO_BYTES; // ICE-TCP or the web: its first bytes will tell
    link.release = () => {
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("close", onClose);
    };
  }

  /**
   * More bytes of a connection that may be the web server's: decide as soon as they allow (see
   * `classifyFirstBytes`), keeping at most the 9 bytes that don't yet.
   */
  #classify(link: Link, chunk: Buffer): void {
    const bytes = link.head!.length === 0 ? chunk : Buffer.concat([link.head!, chunk]);
    const kind = classifyFirstBytes(bytes, this.#options.maxFirstFrameSize);
    if (kind === undefined) {
      link.head = Buffer.from(bytes); // a few bytes of its own, not a view that pins the chunk
      return;
    }
    link.head = undefined;
    if (kind === "web") return this.#handOff(link, bytes);
    this.#afterRead(link, link.reader.push(bytes, link.onFrame));
  }

  /**
   * Give a connection that is not ICE-TCP to the web server (`web.ts`): the mux's listeners and bookkeeping
   * off first (it no longer counts as pending, nor against its source).
   */
  #handOff(link: Link, bytes: Buffer): void {
    this.#settle(link);
    link.release?.();
    link.release = undefined;
    this.#webConnections++;
    handOff(this.#options.web!, link.socket, bytes);
  }

  /** What the reader did with the bytes it had: pause the socket, or time the frame in progress. */
  #afterRead(link: Link, result: PushResult): void {
    if (result === "oversized") {
      if (link.record === undefined) this.#reject(link, "first-frame-too-large");
      else link.socket.destroy(); // cannot happen: after the first frame every 16-bit length is allowed
      return;
    }
    if (result === "stopped" || link.socket.destroyed) return;
    if (result === "paused") {
      link.socket.pause();
      this.#deadlines.pause(link); // the peer can't finish a frame we don't read
      return;
    }
    if (link.record === undefined) return; // pending: the first-frame deadline covers it
    this.#deadlines.read(link, link.frames, link.reader.started);
  }

  /** One frame of `link`. */
  readonly #onFrame = (link: Link, data: Buffer): FrameAction => {
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
    return this.flow.backpressure(link, record);
  };

  /**
   * A pending connection's first frame: a check, admitted as every transport admits one
   * (`ConnTable.admitCheck`), then held to the TCP bounds ({@link TcpBudget}); anything else rejects the
   * connection. Validated before anything is looked up or allocated.
   */
  #routeFirstFrame(link: Link, data: Buffer): FrameAction {
    if (!isStunMessage(data)) return this.#dropFirst(link, "not-stun");
    if (messageType(data) !== BINDING_REQUEST) return this.#dropFirst(link, "not-a-check");
    const req = parseBindingRequest(data); // undefined on anything malformed; never throws
    if (req === undefined) return this.#dropFirst(link, "bad-username");
    const known = this.#conns.byUfrag(req.localUfrag, link.family) !== undefined;
    const early = this.#budget.refuseFirstFrame(link.source, known);
    if (early !== undefined) return this.#dropFirst(link, early);
    const admitted = this.#conns.admitCheck(data, req, link);
    if (typeof admitted === "string") return this.#dropFirst(link, admitted);
    const { record, verified, candidate } = admitted;
    const replacing = record.links.get(link.address, link.port) !== undefined;
    const target = { claimed: record.claimed, links: record.links.size, replacing };
    const refused = this.#budget.refuseRoute(link.source, verified, target);
    if (refused !== undefined) return this.#dropFirst(link, refused);
    this.#route(link, record, verified);
    record.conn.deliver(data, {
      address: link.address,
      family: link.family,
      port: link.port,
      size: data.length,
    });
    if (candidate !== undefined) this.#conns.offer(record, candidate);
    return this.flow.backpressure(link, record);
  }

  /** Give a pending connection to `record`. */
  #route(link: Link, record: TcpConnRecord, verified: boolean): void {
    this.#settle(link);
    link.record = record;
    link.verified = verified;
    link.reader.maxFrameSize = MAX_FRAME_SIZE;
    this.#budget.addRouted(link.source, verified);
    // An older connection from the same address and port is gone (its close event may still be on its way).
    record.links.get(link.address, link.port)?.socket.destroy();
    record.links.set(link.address, link.port, link);
  }

  /** No longer pending: forget the first-frame deadline and the pending count. */
  #settle(link: Link): void {
    if (!this.#budget.settle(link)) return;
    clearTimeout(link.timer);
    link.timer = undefined;
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

  #onClosed(link: Link): void {
    this.#settle(link);
    this.#deadlines.forget(link);
    link.reader.clear();
    const record = link.record;
    link.flow.close(record);
    if (record === undefined) return;
    if (record.links.get(link.address, link.port) === link) record.links.delete(link.address, link.port);
    this.#budget.removeRouted(link.source, link.verified);
    link.record = undefined;
  }

  /**
   * `record`'s conn got its first password: its TCP connections whose check was not verified are closed
   * (counted as `unverified`) — a squatter's connection must not stay attached to the agent that claimed
   * the ufrag.
   */
  dropUnverified(record: TcpConnRecord): void {
    for (const link of [...record.links.values()]) {
      if (link.verified) continue;
      this.#countRejected("unverified");
      this.#dropLog.log("closed unverified connection from %s:%d", link.address, link.port);
      link.socket.destroy();
    }
  }

  // ---- sending, time and closing -------------------------------------------------------------------

  /**
   * Frame `data` onto `record`'s TCP connection from `address:port`: the bytes taken (0 when the write
   * buffer was full and the frame dropped), or why not. Synchronous: the socket queues what the kernel
   * can't take yet.
   */
  write(record: TcpConnRecord, data: Uint8Array, address: string, port: number): number | Error {
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

  /** Close `record`'s connections (its conn is closing). */
  destroyAll(record: TcpConnRecord): void {
    for (const link of [...record.links.values()]) link.socket.destroy();
  }

  /** Close every connection whose frame in progress is past `frameTimeoutMs` (called by the mux's sweep). */
  expireFrames(): void {
    for (const link of this.#deadlines.expire()) this.#reject(link, "frame-timeout");
  }

  /** Take no more connections and close the pending ones; routed ones close with their conns. */
  close(): void {
    this.#closed = true;
    for (const link of this.#budget.takePending()) {
      clearTimeout(link.timer);
      link.timer = undefined;
      link.socket.destroy();
    }
    this.#deadlines.clear();
  }
}

/**
 * TcpBinding: an attached werift agent's ICE-TCP (RFC 6544) on a TCP mux — `tcptype passive` host
 * candidates on the announced addresses with the TCP mux's port, and no TCP listener of werift's own.
 *
 * What it does to the agent (see `internals.ts`, "ICE-TCP", for the seams):
 * 1. Gathering: werift's `getCandidatePromises` runs with `options.useTcp` on (and, in werift 0.25.2,
 *    `tcpPassive` not false), so werift makes its `TcpPassiveProtocol` on the first announced address of
 *    each family. Before werift awaits its `connectionMade` (which would listen), the protocol is taken over
 *    (`hooks.ts`): its `connectionMade` only records the address, its `listeningPort` reads the TCP mux's
 *    port, and its `sendFrame` writes through the mux. The other announced addresses get TCP candidates of their
 *    own, answered by the same protocol. werift's `TcpActiveProtocol` (it dials out, from sockets of its
 *    own, like TURN) is kept only when the caller set `useTcp` (`iceUseTcp`) itself.
 * 2. Routing follows the agent's ufrags as the UDP side does (`ufragRegistered`, from the UDP binding through
 *    the agent's hooks): every registered ufrag
 *    has a conn on the TCP mux per family, with the agent's password (the mux checks the first frame's
 *    MESSAGE-INTEGRITY, which werift never does on TCP).
 * 3. Receiving: frames are delivered synchronously by the mux; werift gets them one per macrotask, in order
 *    (one FIFO per family, across its TCP connections, drained one frame per `setImmediate`). werift
 *    handles every frame of a TCP read in one synchronous loop, and that breaks its DTLS server when
 *    Chromium retransmits a flight (see `internals.ts`); one frame per macrotask lets werift's asynchronous
 *    handling of a frame run before the next frame arrives, as on UDP where each datagram is its own event.
 *    The FIFO is bounded in bytes per TCP connection, by flow control: a connection with the TCP mux's
 *    `maxQueuedBytes` waiting is paused (`MuxedConnection.pauseFrom`: the mux stops reading it, TCP slows
 *    the sender) until werift has taken it down to half; nothing is dropped.
 * 4. Sending goes to the conn that delivered the peer's connection (an ICE restart leaves a TCP connection
 *    with the ufrag it was opened for); a passive side never dials (`ERR_NO_TCP_CONNECTION`).
 * 5. Close, both ways: closing the agent closes its TCP conns (and with them their TCP connections); a conn
 *    closed under the agent (the TCP mux closing) closes the agent's target.
 */

import type { TcpPlan } from "../adapter/address-plan.js";
import { tcpHostCandidate } from "../adapter/candidates.js";
import type { Family, RemoteInfo } from "../address.js";
import { familyOf } from "../address.js";
import { ConnClosedError, NoTcpConnectionError } from "../errors.js";
import type { MuxedConnection } from "../muxed-connection.js";
import { BoundedQueue } from "../queue.js";
import type { TCPMux } from "../tcp/mux.js";
import { type CloseTarget, closeQuietly } from "./agent.js";
import { UnsupportedWeriftError } from "./errors.js";
import type { Binding, Gather, ProtocolOwner } from "./hooks.js";
import { takeOverTcpProtocol } from "./hooks.js";
import type {
  WeriftAddress,
  WeriftCandidate,
  WeriftConnection,
  WeriftTcpPassiveProtocol,
} from "./internals.js";
import {
  afterLocalCandidate,
  callerUseTcp,
  makeCandidate,
  missingTcpProtocolMembers,
  tcpProtocolKind,
} from "./internals.js";
import { weriftLog as log } from "./log.js";

/**
 * What one queued frame costs beyond its bytes, as the per-connection bound counts it: the `Buffer` view
 * the mux hands over (~100 bytes of heap, measured on Node 20) and its two queue slots. So a peer sending
 * empty frames is bounded too (`maxQueuedBytes / 128` frames: 2,048 at the default).
 */
export const FRAME_ENTRY_BYTES = 128;

/**
 * Queue length past which the FIFO's storage is made anew once it drains: a ring never shrinks, and a
 * burst of small frames would otherwise leave its peak size behind for the agent's life.
 */
const RING_RESET_LENGTH = 256;

/** Remote addresses remembered per agent for sending; a peer opens one connection per pair it checks. */
const MAX_ROUTES = 64;

const noop = (): void => {};

/**
 * An agent's ICE-TCP on a TCP mux (see the module comment). Memory: per TCP connection routed to the agent,
 * at most the TCP mux's `maxQueuedBytes` (plus the frame that crossed it) of frames waiting for werift,
 * counted with {@link FRAME_ENTRY_BYTES} per frame; the TCP mux bounds the connections per ufrag.
 */
export class TcpBinding implements Binding, ProtocolOwner {
  readonly #connection: WeriftConnection;
  readonly #mux: TCPMux;
  readonly #plans: TcpPlan[];
  /** What a TCP conn closed under the agent closes: the attached agent, or its peer connection. */
  readonly #target: CloseTarget;
  /** Registered ufrags, oldest first, each with its TCP conns (one per family of {@link #plans}). */
  readonly #ufrags = new Map<string, MuxedConnection[]>();
  readonly #sides: PassiveSide[] = [];
  /** The `'close'` listener of every TCP conn of the agent (`this` is the conn). */
  readonly #connClosed = ((binding: TcpBinding) =>
    function (this: MuxedConnection): void {
      binding.#onConnClosed(this);
    })(this);
  /** A failed send of werift's data path: counted (one function, no closure per send; see `receiverOf`). */
  readonly #onSendError = (
    (binding: TcpBinding) =>
    (err: unknown): void => {
      binding.sendFailed(err);
    }
  )(this);
  /** Whether this gather keeps werift's active TCP candidates (the caller asked for werift's ICE-TCP). */
  #keepActive = false;
  #detached = false;
  #sendErrors = 0;

  constructor(connection: WeriftConnection, mux: TCPMux, plans: TcpPlan[], target: CloseTarget) {
    this.#connection = connection;
    this.#mux = mux;
    this.#plans = plans;
    this.#target = target;
  }

  /** Application data werift sent that the mux could not take. */
  get sendErrors(): number {
    return this.#sendErrors;
  }

  // ---- Binding -------------------------------------------------------------------------------------

  /** Have werift make its passive protocol; keep its active one only if the caller asked for ICE-TCP. */
  beforeGather(gather: Gather): void {
    this.#keepActive = callerUseTcp(this.#connection);
    gather.tcp = true;
  }

  onProtocol(protocol: unknown): void {
    const kind = tcpProtocolKind(protocol);
    if (kind === "passive") {
      const missing = missingTcpProtocolMembers(protocol as object);
      if (missing.length > 0) {
        log("unsupported TcpPassiveProtocol (missing %o): no TCP candidate", missing);
        throw new UnsupportedWeriftError(missing); // werift's gather settles it; the address gets no candidate
      }
      takeOverTcpProtocol(protocol as object, this);
    } else if (kind === "active" && !this.#keepActive) {
      takeOverTcpProtocol(protocol as object, SUPPRESSED_ACTIVE);
    }
  }

  extraCandidates(): Promise<unknown>[] {
    return this.#extraCandidates();
  }

  onClose(): void {
    this.detach();
  }

  // ---- ProtocolOwner (the passive protocols) -------------------------------------------------------

  /** `connectionMade(localIp)`: record the address; never listen. */
  async connectionMade(protocol: object, args: unknown[]): Promise<void> {
    const localIp = String(args[0]);
    if (this.#detached) throw new Error("the agent is closed");
    const family = familyOf(localIp);
    const plan = this.#plans.find((p) => p.family === family);
    if (family === undefined || plan === undefined) {
      throw new Error(`udpmux: the TCP mux takes no connections for ${localIp}`);
    }
    if (this.#side(family) !== undefined) throw new Error(`udpmux: a second ${family} TCP protocol`);
    const side = new PassiveSide(
      family,
      plan.port,
      protocol as WeriftTcpPassiveProtocol,
      this.#mux.maxQueuedBytes,
    );
    this.#sides.push(side);
    for (const conns of this.#ufrags.values()) connOf(conns, family)?.on("message", side.receive);
  }

  listeningPort(protocol: object): number {
    const side = this.#sideOf(protocol);
    if (side === undefined) throw new Error("udpmux: the TCP protocol has no address yet");
    return side.port;
  }

  sendFrame(protocol: object, args: unknown[]): Promise<void> {
    const side = this.#sideOf(protocol);
    if (side === undefined) return Promise.reject(new ConnClosedError());
    return side.send(args[0] as Buffer, args[1] as WeriftAddress);
  }

  /** werift's data path doesn't catch: count a failed send, as the UDP transport does. */
  sendData(protocol: object, args: unknown[]): Promise<void> {
    return this.sendFrame(protocol, args).catch(this.#onSendError);
  }

  /** TCP host candidates for the announced addresses after the first of each family. */
  #extraCandidates(): Promise<WeriftCandidate | undefined>[] {
    const generation = this.#connection.generation;
    const out: Promise<WeriftCandidate | undefined>[] = [];
    for (const plan of this.#plans) {
      for (const [i, address] of plan.addresses.entries()) {
        if (i > 0) out.push(this.#appendWhenReady(plan, address, i, generation));
      }
    }
    return out;
  }

  async #appendWhenReady(
    plan: TcpPlan,
    address: string,
    index: number,
    generation: number,
  ): Promise<WeriftCandidate | undefined> {
    await afterLocalCandidate(); // werift's passive protocol has its candidate (or failed)
    const base = this.#side(plan.family)?.protocol.localCandidate;
    if (this.#detached || base === undefined) return undefined;
    if (this.#connection.generation !== generation) return undefined;
    const spec = tcpHostCandidate(base, address, plan.port, index);
    const candidate = makeCandidate(base, spec, generation, this.#connection.localUsername);
    if (candidate === undefined) return undefined;
    this.#connection.appendLocalCandidate(candidate);
    return candidate;
  }

  #sideOf(protocol: object): PassiveSide | undefined {
    for (const side of this.#sides) if (side.protocol === protocol) return side;
    return undefined;
  }

  #side(family: Family): PassiveSide | undefined {
    for (const side of this.#sides) if (side.family === family) return side;
    return undefined;
  }

  // ---- the agent's ufrags (from the UDP binding) ----------------------------------------------------

  ufragRegistered(ufrag: string, password: string): void {
    if (this.#detached || this.#ufrags.has(ufrag)) return;
    const conns: MuxedConnection[] = [];
    try {
      for (const plan of this.#plans) {
        conns.push(this.#mux.getConn(ufrag, { address: plan.addresses[0]! }, { password }));
      }
    } catch (err) {
      for (const conn of conns) conn.close();
      log("ufrag %s: cannot register on the TCP mux (%O); closing the agent", ufrag, err);
      this.#scheduleClose();
      return;
    }
    this.#ufrags.set(ufrag, conns);
    for (const conn of conns) {
      conn.on("close", this.#connClosed);
      const side = this.#side(conn.family);
      if (side !== undefined) conn.on("message", side.receive);
    }
  }

  ufragUnregistered(ufrag: string): void {
    const conns = this.#ufrags.get(ufrag);
    if (conns === undefined) return;
    this.#ufrags.delete(ufrag); // first: the conns' 'close' then reads as ours
    for (const conn of conns) this.#release(conn);
  }

  passwordChanged(ufrag: string, password: string): void {
    for (const conn of this.#ufrags.get(ufrag) ?? []) conn.setPassword(password);
  }

  #release(conn: MuxedConnection): void {
    const side = this.#side(conn.family);
    if (side !== undefined) {
      conn.off("message", side.receive);
      side.forget(conn);
    }
    conn.close();
  }

  /** A TCP conn of ours closed. If we didn't close it, the TCP mux did (or someone removed our ufrag). */
  #onConnClosed(conn: MuxedConnection): void {
    if (this.#detached || this.#ufrags.get(conn.localUfrag)?.includes(conn) !== true) return;
    log("ufrag %s: TCP conn closed under the agent (mux closed: %s)", conn.localUfrag, this.#mux.closed);
    this.#scheduleClose();
  }

  #scheduleClose(): void {
    if (this.#detached) return;
    queueMicrotask(() => closeQuietly(this.#target));
  }

  // ---- for the sides -------------------------------------------------------------------------------

  sendFailed(err: unknown): void {
    this.#sendErrors++;
    log("TCP send failed: %O", err);
  }

  /** Forget every ufrag and close the TCP conns (and so their TCP connections). Idempotent. */
  detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    for (const side of this.#sides) side.close();
    for (const ufrag of [...this.#ufrags.keys()]) {
      const conns = this.#ufrags.get(ufrag)!;
      this.#ufrags.delete(ufrag);
      for (const conn of conns) this.#release(conn);
    }
  }
}

/**
 * One TCP connection routed to the agent, as the side sees it: where werift's replies go, and what its
 * frames waiting for werift cost (the bound is counted per connection). Queued frames point to it, so it
 * outlives its route while they wait.
 */
interface Flow {
  readonly conn: MuxedConnection;
  readonly address: string;
  readonly port: number;
  /** Bytes of its frames in the FIFO, {@link FRAME_ENTRY_BYTES} more per frame. */
  queued: number;
  /** The side paused the connection (`conn.pauseFrom`) and has not resumed it yet. */
  paused: boolean;
}

/**
 * One family's passive protocol on the TCP mux: the FIFO from the conns to werift, and the route back.
 *
 * The FIFO is one queue across the family's TCP connections, in arrival order, drained one frame per
 * macrotask (see the module comment). It is bounded per connection, in bytes: when a connection has
 * `maxQueuedBytes` waiting (counting {@link FRAME_ENTRY_BYTES} per frame), the side pauses it
 * (`conn.pauseFrom`: the TCP mux stops reading it right after the current frame, and TCP flow control
 * slows the sender) and resumes it once werift has taken it down to half. Nothing is dropped. A frame the
 * mux hands over may be a view of a larger read that it keeps alive; frames spanning reads are copies, so
 * what the views pin beyond the count is at most about as much again.
 */
class PassiveSide {
  /** Frames for werift, oldest first, each with its connection at the same place in {@link #flows}. */
  #frames = new BoundedQueue<Buffer>(Number.POSITIVE_INFINITY); // bounded per connection, by pausing it
  #flows = new BoundedQueue<Flow>(Number.POSITIVE_INFINITY);
  /** The FIFO's longest since its storage was made (see {@link RING_RESET_LENGTH}). */
  #peak = 0;
  /** Remote `address|port` → its connection, oldest first. */
  readonly #routes = new Map<string, Flow>();
  /** The last frame's connection: a route is looked up only when the sender changes. */
  #last: Flow | undefined;
  #scheduled = false;
  #closed = false;

  constructor(
    readonly family: Family,
    /** The TCP mux's port: the candidate's. */
    readonly port: number,
    readonly protocol: WeriftTcpPassiveProtocol,
    /** Per TCP connection: the TCP mux's `maxQueuedBytes`. */
    private readonly maxQueuedBytes: number,
  ) {}

  /** The conns' `'message'` listener (`this` is the conn): queue the frame for werift. */
  readonly receive = ((side: PassiveSide) =>
    function (this: MuxedConnection, frame: Buffer, rinfo: RemoteInfo): void {
      side.#enqueue(this, frame, rinfo);
    })(this);

  #enqueue(conn: MuxedConnection, frame: Buffer, rinfo: RemoteInfo): void {
    if (this.#closed) return;
    let flow = this.#last;
    if (
      flow === undefined ||
      rinfo.port !== flow.port ||
      rinfo.address !== flow.address ||
      conn !== flow.conn
    ) {
      flow = this.#route(conn, rinfo);
    }
    this.#frames.push(frame);
    this.#flows.push(flow);
    if (this.#frames.length > this.#peak) this.#peak = this.#frames.length;
    flow.queued += frame.length + FRAME_ENTRY_BYTES;
    // Every frame over the bound pauses again: after the first only the tail of a read gets here, and a
    // new TCP connection from the same address and port (the old one closed) must be paused too.
    if (flow.queued >= this.maxQueuedBytes) {
      flow.paused = true;
      conn.pauseFrom(flow.address, flow.port);
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#drain);
    }
  }

  /** The connection of `conn` from `rinfo`, made the newest route. */
  #route(conn: MuxedConnection, rinfo: RemoteInfo): Flow {
    const key = routeKey(rinfo.address, rinfo.port);
    let flow = this.#routes.get(key);
    this.#routes.delete(key); // re-inserted as the newest
    if (flow === undefined || flow.conn !== conn) {
      flow = { conn, address: rinfo.address, port: rinfo.port, queued: 0, paused: false };
    }
    this.#routes.set(key, flow);
    if (this.#routes.size > MAX_ROUTES) this.#routes.delete(this.#routes.keys().next().value as string);
    this.#last = flow;
    return flow;
  }

  /** One frame to werift per macrotask, in arrival order (made by a call: see `receiverOf` in transport.ts). */
  readonly #drain = ((side: PassiveSide) => (): void => {
    side.#drainOne();
  })(this);

  #drainOne(): void {
    this.#scheduled = false;
    if (this.#closed) return;
    const frame = this.#frames.shift();
    const flow = this.#flows.shift();
    if (frame === undefined || flow === undefined) return;
    flow.queued -= frame.length + FRAME_ENTRY_BYTES;
    if (flow.paused && flow.queued <= this.maxQueuedBytes / 2) {
      flow.paused = false;
      if (!flow.conn.closed) flow.conn.resumeFrom(flow.address, flow.port);
    }
    if (this.#frames.length > 0) {
      this.#scheduled = true;
      setImmediate(this.#drain);
    } else if (this.#peak > RING_RESET_LENGTH) {
      this.#frames = new BoundedQueue<Buffer>(Number.POSITIVE_INFINITY);
      this.#flows = new BoundedQueue<Flow>(Number.POSITIVE_INFINITY);
      this.#peak = 0;
    }
    try {
      this.protocol.handleFrame(frame, [flow.address, flow.port]);
    } catch (err) {
      log("werift's handleFrame threw: %O", err); // werift catches its own; a throw here is a werift change
    }
  }

  send(data: Buffer, addr: WeriftAddress): Promise<void> {
    if (this.#closed) return Promise.reject(new ConnClosedError());
    if (!Array.isArray(addr)) return Promise.reject(new NoTcpConnectionError(String(addr), 0));
    const [address, port] = addr;
    const last = this.#last;
    const conn =
      last !== undefined && address === last.address && port === last.port
        ? last.conn
        : this.#routes.get(routeKey(address, port))?.conn;
    if (conn === undefined || conn.closed) return Promise.reject(new NoTcpConnectionError(address, port));
    return conn.writeTo(data, { address, port }).then(noop);
  }

  /**
   * `conn` is going away: forget the routes through it. Its frames still queued go to werift in turn (its
   * closed conn is never resumed).
   */
  forget(conn: MuxedConnection): void {
    for (const [key, flow] of this.#routes) if (flow.conn === conn) this.#routes.delete(key);
    if (this.#last?.conn === conn) this.#last = undefined;
  }

  /** Drop every queued frame and route; nothing is resumed (the agent's conns are closing). */
  close(): void {
    this.#closed = true;
    this.#frames = new BoundedQueue<Buffer>(0);
    this.#flows = new BoundedQueue<Flow>(0);
    this.#peak = 0;
    this.#routes.clear();
    this.#last = undefined;
  }
}

/** Runs a `TcpActiveProtocol` the caller didn't ask for: its gather fails (after the passive candidate). */
const SUPPRESSED_ACTIVE: ProtocolOwner = {
  connectionMade: () =>
    Promise.reject(new Error("udpmux: active TCP candidates need iceUseTcp (useTcp) set by the caller")),
};

function routeKey(address: string, port: number): string {
  return `${address}|${port}`;
}

/** The index of a `MuxedConnection` among one ufrag's conns, by family. */
function connOf(conns: readonly MuxedConnection[], family: Family): MuxedConnection | undefined {
  for (const conn of conns) if (conn.family === family) return conn;
  return undefined;
}

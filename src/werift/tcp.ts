/**
 * TcpBinding: an attached werift agent's ICE-TCP (RFC 6544) on a TCP mux — `tcptype passive` host
 * candidates on the announced addresses with the TCP mux's port, and no TCP listener of werift's own.
 *
 * What it does to the agent (see `internals.ts`, "ICE-TCP", for the seams):
 * 1. Gathering: werift's `getCandidatePromises` runs with `options.useTcp` on (and, in werift 0.25.2,
 *    `tcpPassive` not false), so werift makes its `TcpPassiveProtocol` on the first announced address of
 *    each family. Before werift awaits its `connectionMade` (which would listen), the protocol gets one of
 *    its own that only records the address, a `listeningPort` that reads the TCP mux's port, and a
 *    `sendFrame` that writes through the mux. The other announced addresses get TCP candidates of their
 *    own, answered by the same protocol. werift's `TcpActiveProtocol` (it dials out, from sockets of its
 *    own, like TURN) is kept only when the caller set `useTcp` (`iceUseTcp`) itself.
 * 2. Routing follows the agent's ufrags as the UDP side does ({@link UfragObserver}): every registered ufrag
 *    has a conn on the TCP mux per family, with the agent's password (the mux checks the first frame's
 *    MESSAGE-INTEGRITY, which werift never does on TCP).
 * 3. Receiving: frames are delivered synchronously by the mux; werift gets them one per macrotask, in order
 *    (a bounded FIFO per family drained one frame per `setImmediate`). werift handles every frame of a TCP
 *    read in one synchronous loop, and that breaks its DTLS server when Chromium retransmits a flight (see
 *    `internals.ts`); one frame per macrotask lets werift's asynchronous handling of a frame run before the
 *    next frame arrives, as on UDP where each datagram is its own event.
 * 4. Sending goes to the conn that delivered the peer's connection (an ICE restart leaves a TCP connection
 *    with the ufrag it was opened for); a passive side never dials (`ERR_NO_TCP_CONNECTION`).
 * 5. Close, both ways: closing the agent closes its TCP conns (and with them their TCP connections); a conn
 *    closed under the agent (the TCP mux closing) closes the agent's target.
 */
import { createHash } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { Family, RemoteInfo } from "../address.js";
import { familyOf, isWildcard } from "../address.js";
import { ConnClosedError, invalidArgValue, NoTcpConnectionError } from "../errors.js";
import type { IceMux } from "../ice-mux.js";
import type { MuxedConnection } from "../muxed-connection.js";
import { BoundedQueue } from "../queue.js";
import { UnsupportedWeriftError } from "./errors.js";
import type {
  WeriftAddress,
  WeriftCandidate,
  WeriftConnection,
  WeriftTcpOptions,
  WeriftTcpPassiveProtocol,
} from "./internals.js";
import { candidateConstructorOf, missingTcpProtocolMembers, tcpProtocolKind } from "./internals.js";
import { weriftLog as log } from "./log.js";
import type { FamilyPlan } from "./options.js";

/**
 * Frames one agent's family may have waiting for werift. A TCP read of 64 KiB holds ~45 full-size DTLS
 * records and one frame is handed over per event-loop turn, so a burst fits many times over; 1024 frames
 * (~1.5 MiB at most) bound what a peer that outpaces werift can make the process hold. Overflow is counted
 * ({@link TcpBinding.droppedFrames}) and logged: DTLS and SCTP recover from a lost record as on UDP.
 */
export const MAX_QUEUED_TCP_FRAMES = 1024;

/** Remote addresses remembered per agent for sending; a peer opens one connection per pair it checks. */
const MAX_ROUTES = 64;

/** What the agent binding tells its TCP side about the agent's local ufrags. */
export interface UfragObserver {
  /** `ufrag` is now routed to the agent (with `password`). */
  registered(ufrag: string, password: string): void;
  /** `ufrag` is no longer routed (an old generation beyond the bound). */
  unregistered(ufrag: string): void;
  /** The password of `ufrag` changed (werift assigns the password after the ufrag). */
  passwordChanged(ufrag: string, password: string): void;
}

/** The announced addresses of one family and the TCP mux's port for them. */
export interface TcpPlan {
  readonly family: Family;
  readonly port: number;
  /** Announced addresses of this family: the first gets werift's own passive protocol. */
  readonly addresses: string[];
}

/**
 * The families the TCP mux takes connections in, with the agent's announced addresses: a wildcard IPv6
 * listen is taken as dual-stack (as `TCPMux.listen()` makes it by default).
 * @throws TypeError `ERR_INVALID_ARG_VALUE`: no announced family is one the TCP mux listens in.
 */
export function resolveTcpPlans(families: readonly FamilyPlan[], tcpMux: IceMux): TcpPlan[] {
  const listen = tcpMux.getListenAddresses();
  const ports = new Map<Family, number>();
  for (const info of listen) {
    const family = info.family as Family;
    if (!ports.has(family)) ports.set(family, info.port);
    if (family === "IPv6" && isWildcard(info.address) && !ports.has("IPv4")) ports.set("IPv4", info.port);
  }
  const plans = families
    .filter((plan) => ports.has(plan.family))
    .map((plan) => ({ family: plan.family, port: ports.get(plan.family)!, addresses: plan.addresses }));
  if (plans.length === 0) {
    throw invalidArgValue(
      "options.tcpMux",
      `a TCP mux listening in a family the agent announces (${families.map((p) => p.family)})`,
      describe(listen),
    );
  }
  return plans;
}

function describe(listen: AddressInfo[]): string {
  return listen.map((a) => `${a.address}:${a.port}`).join(", ");
}

const noop = (): void => {};

export class TcpBinding implements UfragObserver {
  readonly #connection: WeriftConnection;
  readonly #mux: IceMux;
  readonly #plans: TcpPlan[];
  readonly #closeTarget: () => void;
  /** Registered ufrags, oldest first, each with its TCP conns (one per family of {@link #plans}). */
  readonly #ufrags = new Map<string, MuxedConnection[]>();
  readonly #sides: PassiveSide[] = [];
  /** The `'close'` listener of every TCP conn of the agent (`this` is the conn). */
  readonly #connClosed = ((binding: TcpBinding) =>
    function (this: MuxedConnection): void {
      binding.#onConnClosed(this);
    })(this);
  /** Whether this gather keeps werift's active TCP candidates (the caller asked for werift's ICE-TCP). */
  #keepActive = false;
  #detached = false;
  #droppedFrames = 0;
  #sendErrors = 0;

  constructor(connection: WeriftConnection, mux: IceMux, plans: TcpPlan[], closeTarget: () => void) {
    this.#connection = connection;
    this.#mux = mux;
    this.#plans = plans;
    this.#closeTarget = closeTarget;
    this.#hook();
  }

  /** Frames dropped because werift had {@link MAX_QUEUED_TCP_FRAMES} waiting. */
  get droppedFrames(): number {
    return this.#droppedFrames;
  }

  /** Application data werift sent that the mux could not take. */
  get sendErrors(): number {
    return this.#sendErrors;
  }

  // ---- hooks (over the agent binding's: this is called after it hooked the agent) -------------------

  #hook(): void {
    const c = this.#connection;
    const options = (c as unknown as { options: WeriftTcpOptions }).options;

    const ensureProtocol = c.ensureProtocol;
    c.ensureProtocol = (protocol: unknown): void => {
      ensureProtocol.call(c, protocol);
      const kind = tcpProtocolKind(protocol);
      if (kind === "passive") this.#takeOver(protocol as WeriftTcpPassiveProtocol);
      else if (kind === "active" && !this.#keepActive) suppressActive(protocol as WeriftTcpPassiveProtocol);
    };

    const getCandidatePromises = c.getCandidatePromises;
    c.getCandidatePromises = (addresses: string[], timeout?: number): Promise<unknown>[] => {
      // werift reads both options synchronously in this call; the caller's values are back right after.
      const { useTcp, tcpPassive } = options;
      this.#keepActive = useTcp === true;
      options.useTcp = true;
      if (tcpPassive === false) options.tcpPassive = undefined;
      let promises: Promise<unknown>[];
      try {
        promises = getCandidatePromises.call(c, addresses, timeout);
      } finally {
        options.useTcp = useTcp;
        if (tcpPassive === false) options.tcpPassive = tcpPassive;
      }
      return [...promises, ...this.#extraCandidates()];
    };

    const close = c.close;
    c.close = (): Promise<void> => {
      this.detach();
      return close.call(c);
    };
  }

  /** Make werift's passive protocol a mux-backed one: it never listens. */
  #takeOver(protocol: WeriftTcpPassiveProtocol): void {
    const missing = missingTcpProtocolMembers(protocol);
    if (missing.length > 0) {
      log("unsupported TcpPassiveProtocol (missing %o): no TCP candidate", missing);
      throw new UnsupportedWeriftError(missing); // werift's gather settles it; the address gets no candidate
    }
    let side: PassiveSide | undefined;
    let port: number | undefined;
    Object.defineProperty(protocol, "listeningPort", {
      configurable: true,
      get(): number {
        if (port === undefined) throw new Error("udpmux: the TCP protocol has no address yet");
        return port;
      },
    });
    protocol.connectionMade = async (localIp: string): Promise<void> => {
      if (this.#detached) throw new Error("the agent is closed");
      const family = familyOf(localIp);
      const plan = this.#plans.find((p) => p.family === family);
      if (family === undefined || plan === undefined) {
        throw new Error(`udpmux: the TCP mux takes no connections for ${localIp}`);
      }
      if (this.#side(family) !== undefined) throw new Error(`udpmux: a second ${family} TCP protocol`);
      side = new PassiveSide(this, family, protocol);
      port = plan.port;
      this.#sides.push(side);
      for (const conns of this.#ufrags.values()) connOf(conns, family)?.on("message", side.receive);
    };
    protocol.sendFrame = (data: Buffer, addr: WeriftAddress): Promise<void> =>
      side === undefined ? Promise.reject(new ConnClosedError()) : side.send(data, addr);
    // werift's data path doesn't catch: count a failed send, as the UDP transport does.
    protocol.sendData = (data: Buffer, addr: WeriftAddress): Promise<void> =>
      protocol.sendFrame(data, addr).catch((err: unknown) => this.sendFailed(err));
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
    // werift gives its passive protocol its candidate in the continuation of connectionMade: a macrotask
    // after gathering began, it has (or the protocol failed).
    await new Promise<void>((resolve) => setImmediate(resolve));
    const base = this.#side(plan.family)?.protocol.localCandidate;
    const Candidate = candidateConstructorOf(base);
    if (this.#detached || base === undefined || Candidate === undefined) return undefined;
    if (this.#connection.generation !== generation) return undefined;
    const candidate = new Candidate(
      tcpFoundation(address),
      base.component,
      "tcp",
      base.priority - index * 2 ** 8, // the next lower local preference (RFC 8445 §5.1.2.1)
      address,
      plan.port,
      "host",
      undefined,
      undefined,
      "passive",
      generation,
      this.#connection.localUsername,
    );
    this.#connection.appendLocalCandidate(candidate);
    return candidate;
  }

  #side(family: Family): PassiveSide | undefined {
    for (const side of this.#sides) if (side.family === family) return side;
    return undefined;
  }

  // ---- UfragObserver -------------------------------------------------------------------------------

  registered(ufrag: string, password: string): void {
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

  unregistered(ufrag: string): void {
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
    queueMicrotask(() => this.#closeTarget());
  }

  // ---- for the sides -------------------------------------------------------------------------------

  frameDropped(family: Family): void {
    this.#droppedFrames++;
    dropLog(family, this.#droppedFrames);
  }

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
 * One family's passive protocol on the TCP mux: the FIFO from the conns to werift, and the route back.
 */
class PassiveSide {
  readonly #frames = new BoundedQueue<Buffer>(MAX_QUEUED_TCP_FRAMES);
  readonly #from = new BoundedQueue<RemoteInfo>(MAX_QUEUED_TCP_FRAMES);
  /** Remote `address|port` → the conn its TCP connection belongs to, oldest first. */
  readonly #routes = new Map<string, MuxedConnection>();
  /** The last frame's sender and conn: a route is written only when they change. */
  #lastAddress = "";
  #lastPort = -1;
  #lastConn: MuxedConnection | undefined;
  #scheduled = false;
  #closed = false;

  constructor(
    private readonly owner: TcpBinding,
    readonly family: Family,
    readonly protocol: WeriftTcpPassiveProtocol,
  ) {}

  /** The conns' `'message'` listener (`this` is the conn): queue the frame for werift. */
  readonly receive = ((side: PassiveSide) =>
    function (this: MuxedConnection, frame: Buffer, rinfo: RemoteInfo): void {
      side.#enqueue(this, frame, rinfo);
    })(this);

  #enqueue(conn: MuxedConnection, frame: Buffer, rinfo: RemoteInfo): void {
    if (this.#closed) return;
    if (rinfo.port !== this.#lastPort || rinfo.address !== this.#lastAddress || conn !== this.#lastConn) {
      this.#route(conn, rinfo);
    }
    if (!this.#frames.push(frame)) {
      this.owner.frameDropped(this.family);
      return;
    }
    this.#from.push(rinfo);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#drain);
    }
  }

  #route(conn: MuxedConnection, rinfo: RemoteInfo): void {
    const key = routeKey(rinfo.address, rinfo.port);
    this.#routes.delete(key); // re-inserted as the newest
    this.#routes.set(key, conn);
    if (this.#routes.size > MAX_ROUTES) this.#routes.delete(this.#routes.keys().next().value as string);
    this.#lastAddress = rinfo.address;
    this.#lastPort = rinfo.port;
    this.#lastConn = conn;
  }

  /** One frame to werift per macrotask, in arrival order. */
  readonly #drain = (): void => {
    this.#scheduled = false;
    if (this.#closed) return;
    const frame = this.#frames.shift();
    const rinfo = this.#from.shift();
    if (frame === undefined || rinfo === undefined) return;
    if (this.#frames.length > 0) {
      this.#scheduled = true;
      setImmediate(this.#drain);
    }
    try {
      this.protocol.handleFrame(frame, [rinfo.address, rinfo.port]);
    } catch (err) {
      log("werift's handleFrame threw: %O", err); // werift catches its own; a throw here is a werift change
    }
  };

  send(data: Buffer, addr: WeriftAddress): Promise<void> {
    if (this.#closed) return Promise.reject(new ConnClosedError());
    if (!Array.isArray(addr)) return Promise.reject(new NoTcpConnectionError(String(addr), 0));
    const [address, port] = addr;
    const conn =
      address === this.#lastAddress && port === this.#lastPort
        ? this.#lastConn
        : this.#routes.get(routeKey(address, port));
    if (conn === undefined || conn.closed) return Promise.reject(new NoTcpConnectionError(address, port));
    return conn.writeTo(data, { address, port }).then(noop);
  }

  /** `conn` is going away: forget the routes through it. */
  forget(conn: MuxedConnection): void {
    for (const [key, routed] of this.#routes) if (routed === conn) this.#routes.delete(key);
    if (this.#lastConn === conn) {
      this.#lastConn = undefined;
      this.#lastAddress = "";
      this.#lastPort = -1;
    }
  }

  close(): void {
    this.#closed = true;
    this.#frames.drain();
    this.#from.drain();
    this.#routes.clear();
    this.#lastConn = undefined;
  }
}

/** A `TcpActiveProtocol` the caller didn't ask for: its gather fails (after the passive candidate). */
function suppressActive(protocol: { connectionMade: (localIp: string) => Promise<void> }): void {
  protocol.connectionMade = () =>
    Promise.reject(new Error("udpmux: active TCP candidates need iceUseTcp (useTcp) set by the caller"));
}

function routeKey(address: string, port: number): string {
  return `${address}|${port}`;
}

/** RFC 8445 §5.1.1.3: same type, transport and base → same foundation. */
function tcpFoundation(address: string): string {
  return createHash("sha256").update(`host|tcp|${address}`).digest("hex").slice(0, 16);
}

/** The index of a `MuxedConnection` among one ufrag's conns, by family. */
function connOf(conns: readonly MuxedConnection[], family: Family): MuxedConnection | undefined {
  for (const conn of conns) if (conn.family === family) return conn;
  return undefined;
}

/** Rate-limited: a peer can make it happen. One line per 100 drops after the first 10. */
function dropLog(family: Family, total: number): void {
  if (total <= 10 || total % 100 === 0) {
    log("%s TCP frames: %d dropped so far (%d waiting for werift)", family, total, MAX_QUEUED_TCP_FRAMES);
  }
}

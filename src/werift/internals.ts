/**
 * The private werift surface the adapter touches — described once here, feature-detected once here.
 *
 * werift has no hook (its maintainer's issue 650 proposes one), and its packages can't be patched at module
 * load: `werift` bundles its own copy of the ICE code (`werift/lib/ice/src`, and one bundled `lib/index.mjs`
 * for ESM), its `exports` map blocks deep imports, `werift-ice` is a separate copy again, and the adapter
 * imports none of them. So `hooks.ts` patches each werift class it meets, once, at the first attach of one
 * of its instances: every member below is a prototype method (or getter) in all three builds — werift-ice
 * 0.2.3, werift 0.24.4 and 0.25.2, CJS and ESM bundle alike; {@link CONNECTION_HOOKS} and the lists after it
 * name them, and `test/werift/hooks.test.ts` fails the day one moves or is renamed. The patch is process-wide
 * and inert for instances that are not attached: their calls go straight to werift's function (one
 * `WeakMap` lookup more). The only own field the adapter replaces is `StunProtocol.connectionMade` (an
 * arrow function werift assigns in the constructor), with one shared function: no closure per instance.
 *
 * - `Connection.ensureProtocol(protocol)` is called on each new `StunProtocol` before
 *   `await protocol.connectionMade(...)` (in the private `getCandidatePromises`); `connectionMade` is an
 *   instance property, so it can be replaced there by one that installs a mux-backed transport.
 * - `Connection.getCandidatePromises(addresses, timeout)` receives the host addresses to gather on; the
 *   adapter substitutes the announced addresses and appends its own candidate promises (srflx, extra hosts).
 *   `timeout` is seconds in werift-ice (5), werift 0.25's `iceStunGatherTimeout` (possibly undefined)
 *   ({@link gatherTimeoutMs}). As werift decides for its own candidates, a relay-only agent gathers no host
 *   or srflx candidate ({@link isRelayOnly}) and an ICE-lite one no srflx candidate.
 * - werift gives a protocol its host candidate (`localCandidate`) in the continuation of `connectionMade`:
 *   a macrotask later it has ({@link afterLocalCandidate}).
 * - `Connection.localUsername` / `localPassword` are plain fields. After the constructor (and, for a peer
 *   connection, `createTransport`'s credential inheritance, before the adapter binds) only `restart()`
 *   assigns them, in its synchronous part (before its first await), the ufrag from `randomString(4)`: 4 hex
 *   characters, 16 bits (RFC 8445 §5.3 asks for 24+), also added to `userHistory` and to the protocols'
 *   host candidates (`localCandidate.ufrag`; `gatherCandidates()` sets those again). The adapter replaces
 *   that ufrag by one of 96 random bits at attach and when `restart` returns ({@link adoptUfrag}); then it
 *   registers it. The fields stay plain data fields: turning an
 *   existing field into an accessor (on the instance, or by deleting it to expose one on a prototype) puts
 *   the object in V8's dictionary mode on Node 22 and 24 (V8 12+ normalizes on any delete): ~3 KiB more
 *   per agent and slower property access in every werift method. The adapter never adds, deletes or
 *   redefines a property of a werift `Connection`.
 * - `Connection.stunServer` is a plain field that the constructor (werift-ice, werift 0.24) and
 *   `applyStunTurnServersFromOptions()` (werift 0.25) set to `stun.l.google.com:19302` (never contacted by
 *   attached agents) when no STUN server is configured; the adapter pins it to `undefined`
 *   ({@link pinStunServer}).
 * - `SecureTransportManager.createTransport()` (`pc.secureManager`) makes every ICE transport of a peer
 *   connection, lazily; `RTCPeerConnection.close()` closes it.
 * - `Connection.connect()` (same code in all three versions, and in the ESM bundles) pairs the remote
 *   candidates, replays the early checks, then loops `schedulingChecks()` every 20 ms until it returns
 *   false — at once when no pair is waiting or frozen and `remoteCandidatesEnd` is set (end-of-candidates:
 *   `addRemoteCandidate(undefined)`; `RTCPeerConnection` sets it for `a=end-of-candidates` and a null
 *   `addIceCandidate`) — and then waits on `checkListState` only `while (checkList.length > 0)`. Checks that
 *   arrive after that go straight to `checkIncoming()`, which adds a peer-reflexive pair. `RTCIceTransport
 *   .start()` turns a rejected `connect()` into state "failed", and `RTCPeerConnection` its connection state.
 *   werift has no ICE timeout of its own ({@link awaitsPeerChecks}; `empty-check-list.ts`).
 * - `Connection.addRemoteCandidate(candidate)` resolves a host containing `.local` with an `MdnsLookup`
 *   (`multicast-dns`: a socket of its own on port 5353, kept in `Connection.lookup` until close / restart),
 *   drops the candidate if that fails (10 s timeout); `RTCIceTransport.addRemoteCandidate` calls it without
 *   awaiting ({@link isMdnsCandidate}; `mdns-candidates.ts` drops them).
 * - `Candidate` is built with 12 positional arguments; the adapter takes the constructor from a candidate
 *   werift made ({@link makeCandidate}).

 * werift bugs the adapter works around for attached agents (werift-ice 0.2.3, werift 0.24.4, werift 0.25.2):
 * - Empty check list at end-of-candidates: given no usable remote candidate (none, only `.local` ones, or
 *   none of a family it gathered) and end-of-candidates, `connect()` throws "ICE negotiation failed" within
 *   milliseconds, before the peer's checks can arrive — while it answers those checks, so the peer connects
 *   and werift (`RTCIceTransport`) is "failed". A browser without media permission or STUN server offers
 *   exactly that. RFC 8863 asks to wait (39.5 s) for peer-reflexive candidates.
 * - Related, left alone: with a non-empty check list whose pairs all fail, `connect()` never settles (it
 *   waits for `ICE_COMPLETED` forever, even across `close()`).
 *
 * ICE-TCP (RFC 6544), the seam of `tcp.ts` — same code in werift-ice 0.2.3, werift 0.24.4 and 0.25.2, in
 * `lib/ice/src` (CJS) and in werift's ESM bundle `lib/index.mjs` (what `import "werift"` loads):
 * - With `options.useTcp` (`iceUseTcp` of `RTCPeerConnection`), `getCandidatePromises` makes, per host
 *   address, a `TcpPassiveProtocol` (`type` `"tcp"`, a `server` made by `net.createServer()` in its
 *   constructor, not yet listening), calls `ensureProtocol(p)`, awaits `p.connectionMade(address,
 *   portRange)` (which listens, on a new port per agent and address) and builds the `tcptype passive`
 *   candidate from `p.listeningPort` (a prototype getter reading `p.server.address()`). Then (not for ICE-lite)
 *   a `TcpActiveProtocol` (dials out, candidate port 9) in the same async function. Both read `useTcp`
 *   synchronously in the call; werift 0.25.2 skips the passive one when `options.tcpPassive === false`
 *   ({@link gatherWithTcp}). `connectionMade`, `sendFrame`, `sendData` and the `listeningPort` getter are
 *   prototype members ({@link TCP_PROTOCOL_HOOKS}).
 * - A passive protocol hands each RFC 4571 frame to `handleFrame(frame, [host, port])` (requests →
 *   `onRequestReceived`, responses → transactions, anything else → `onDataReceived`) and sends through
 *   `sendFrame(data, addr)` (`sendStun` and `sendData` call it), which looks the connection up in `sockets`.
 *   `pruneForSelection`, `close()` and (0.25.2) `getOpenSocket`/`dropSocket` walk `sockets`; `close()`
 *   also closes `server`. werift never checks MESSAGE-INTEGRITY on an incoming TCP check.
 * - Differences: `forgetSocket(entry)` (0.25.2) vs `forgetSocket(remoteAddr)`; `onConnectionClosed` (fires
 *   `Connection.handleConnectionClosed`: the selected pair's connection closing fails the agent),
 *   `getOpenSocket`, `dropSocket`, `failOnSendError` and `tcpPassive` exist only in 0.25.2.
 *
 * werift ICE-TCP bugs (all three versions), relevant to attached agents:
 * - All frames of one TCP read are handled in one synchronous loop (`registerSocket`'s `'data'` handler).
 *   When werift is slow (> 50 ms) to answer a DTLS flight, Chromium retransmits it and the duplicate lands
 *   in the same read as Chromium's Finished: `Finished` advances werift's DTLS state before the duplicate's
 *   asynchronous handling reaches its "same flight again: resend the cached reply" guard, so werift sends a
 *   second reply flight with fresh keys and can no longer decrypt Chromium's records (the data channel never
 *   opens). The adapter hands werift one frame per macrotask, in order (`tcp.ts`). Frames waiting for
 *   werift are bounded in bytes per TCP connection: at the TCP mux's `maxQueuedBytes` the adapter pauses
 *   the connection (`MuxedConnection.pauseFrom`) and resumes it at half; none is dropped. (It was a count,
 *   1,024 frames per agent and family, dropping beyond: one peer blasting 64 KiB frames held 64 MiB.)
 * - Each agent listens on a new TCP port per host address (the adapter: none, the TCP mux's port).
 * - werift never sets `TCP_NODELAY` on its ICE-TCP sockets: Nagle's algorithm delays small records
 *   (measured: werift's own ICE-TCP echoes 11× slower than over UDP; forcing NODELAY raised it ~3.4×, the
 *   rest is retransmissions). The TCP mux's sockets have `setNoDelay(true)`.
 * - Plain werift 0.25.2 with `iceUseTcp`, given an offer with no candidate, fails ICE at once (the empty
 *   check list bug above; attached agents wait for the peer's checks).
 * Left alone: on nomination werift closes the TCP connections of other pairs (`pruneTcpConnections` →
 * `pruneForSelection`, which walks `sockets`); mux-routed connections are not in `sockets`, so they stay
 * open until the agent closes (the TCP mux bounds them per ufrag). And werift 0.25.2's `onConnectionClosed`
 * never fires for them: the selected connection closing is noticed by consent freshness (~30 s) instead.
 *
 * Checked against werift-ice 0.2.3, werift 0.24.4 and werift 0.25.2 ({@link SUPPORTED_WERIFT_VERSIONS}).
 */
import type { AddressInfo } from "node:net";
import type { CandidateSpec } from "../adapter/candidates.js";
import { UnsupportedWeriftError } from "./errors.js";

/**
 * The `Connection` methods `hooks.ts` patches, on their prototype, once per werift copy. Each is a prototype
 * method in werift-ice 0.2.3 and werift 0.24.4 / 0.25.2 (CJS and ESM); `checkConnection` refuses an agent
 * without one (`ERR_UNSUPPORTED_WERIFT`).
 */
export const CONNECTION_HOOKS = [
  "ensureProtocol",
  "getCandidatePromises",
  "restart",
  "connect",
  "schedulingChecks",
  "addRemoteCandidate",
  "close",
] as const;
export type ConnectionHook = (typeof CONNECTION_HOOKS)[number];

/** The `RTCPeerConnection` method `hooks.ts` patches (werift 0.24 and 0.25, prototype). */
export const PEER_CONNECTION_HOOKS = ["close"] as const;
/** The `SecureTransportManager` (`pc.secureManager`) method `hooks.ts` patches (prototype). */
export const SECURE_MANAGER_HOOKS = ["createTransport"] as const;
/** `TcpPassiveProtocol` / `TcpActiveProtocol` methods `hooks.ts` patches (prototype, `BaseTcpProtocol` for the sends). */
export const TCP_PROTOCOL_HOOKS = ["connectionMade", "sendFrame", "sendData"] as const;
export type TcpProtocolHook = (typeof TCP_PROTOCOL_HOOKS)[number];
/** The `TcpPassiveProtocol` prototype getter `hooks.ts` patches: its candidate's port. */
export const TCP_PORT_GETTER = "listeningPort";

/** werift's `Address`: `[host, port]`. */
export type WeriftAddress = [host: string, port: number];

/**
 * The transport werift's `StunProtocol` drives: werift's `Transport` interface plus the family field its
 * `request()` reads (`socketType` in werift-ice 0.2.3 and werift 0.24, `addressFamily` in werift 0.25).
 */
export interface WeriftUdpTransport {
  readonly type: "udp";
  readonly address: AddressInfo;
  readonly closed: boolean;
  onData: (data: Buffer, addr: WeriftAddress) => void;
  send(data: Buffer, addr?: WeriftAddress): Promise<void>;
  close(): Promise<void>;
  readonly socketType: "udp4" | "udp6";
  readonly addressFamily: 4 | 6;
}

/** werift's `Candidate` (ice/src/candidate.ts), as far as the adapter reads or builds one. */
export interface WeriftCandidate {
  foundation: string;
  component: number;
  transport: string;
  priority: number;
  host: string;
  port: number;
  type: string;
  relatedAddress?: string;
  relatedPort?: number;
  tcptype?: string;
  generation?: number;
  ufrag?: string;
}

/** werift's `Candidate` constructor, taken from a candidate werift made (the adapter imports nothing). */
export type WeriftCandidateConstructor = new (
  foundation: string,
  component: number,
  transport: string,
  priority: number,
  host: string,
  port: number,
  type: string,
  relatedAddress: string | undefined,
  relatedPort: number | undefined,
  tcptype: string | undefined,
  generation: number | undefined,
  ufrag: string | undefined,
) => WeriftCandidate;

/** werift's `StunProtocol` (ice/src/stun/protocol.ts): one per host candidate, owning one transport. */
export interface WeriftStunProtocol {
  /** `"stun"` for the UDP protocol; TCP and TURN protocols have other types and are left alone. */
  readonly type: string;
  transport?: WeriftUdpTransport;
  localCandidate?: WeriftCandidate;
  /** An instance property: binds a fresh `UdpTransport`. The adapter replaces it. */
  connectionMade: (useIpv4: boolean, ...rest: unknown[]) => Promise<void>;
  /** Parses a datagram and dispatches it: responses to transactions, requests, data. */
  datagramReceived(data: Buffer, addr: WeriftAddress): void;
}

/** werift's ICE `Connection` (ice/src/ice.ts): the agent. */
export interface WeriftConnection {
  localUsername: string;
  localPassword: string;
  /** Every local ufrag of the agent's life → its password; checks for any of them are answered. */
  userHistory: Record<string, string>;
  stunServer: WeriftAddress | undefined;
  generation: number;
  /** An ICE-lite agent advertises host candidates only (RFC 8445 §2.5). */
  readonly iceLite?: boolean;
  /** Where werift reads its relay-only switch (`forceTurn`) and TURN credentials. */
  readonly options?: { forceTurn?: boolean; turnUsername?: string; turnPassword?: string };
  readonly turnServer?: unknown;
  localCandidatesStart: boolean;
  protocols: unknown[];
  ensureProtocol(protocol: unknown): void;
  getCandidatePromises(addresses: string[], timeout?: number): Promise<unknown>[];
  appendLocalCandidate(candidate: WeriftCandidate): void;
  close(): Promise<void>;
  /** ICE restart: new credentials (assigned before its first await) and a new generation. */
  restart(...args: unknown[]): unknown;
  /** The candidate pairs; `connect()` fails when it is empty at end-of-candidates. */
  readonly checkList: readonly unknown[];
  /** Set by `addRemoteCandidate(undefined)`: the peer sends no more candidates. */
  readonly remoteCandidatesEnd: boolean;
  readonly state: string;
  /** Adds a remote candidate, or signals end-of-candidates with `undefined`; resolves `.local` by mDNS. */
  addRemoteCandidate(candidate: WeriftCandidate | undefined | null): Promise<void>;
  /** The ICE handshake: rejects with "ICE negotiation failed". */
  connect(): Promise<void>;
  /** One step of `connect()`'s scheduling loop: false ends the loop. */
  schedulingChecks(): boolean;
}

/** The part of werift's `RTCIceTransport` the adapter reads. */
export interface WeriftIceTransport {
  connection: WeriftConnection;
}

/** werift's `SecureTransportManager` (transport/secureTransportManager.ts in werift 0.24 and 0.25). */
export interface WeriftSecureManager {
  createTransport(...args: unknown[]): { iceTransport: WeriftIceTransport };
  readonly iceTransports: WeriftIceTransport[];
}

/** werift's `RTCPeerConnection`, as far as the adapter reads it. */
export interface WeriftPeerConnection {
  config: { bundlePolicy?: string };
  secureManager: WeriftSecureManager;
  readonly localDescription: unknown;
  readonly iceGatheringState: string;
  close(): Promise<void>;
}

/** What `attachUDPMux()` was given, once recognised. */
export type DetectedTarget =
  | { kind: "connection"; connection: WeriftConnection }
  | { kind: "peer-connection"; pc: WeriftPeerConnection };

/** Recognise a werift agent, or throw {@link UnsupportedWeriftError} listing every member found wanting. */
export function detectTarget(target: object): DetectedTarget {
  const t = target as Record<string, unknown>;
  if ("secureManager" in t || typeof t.setLocalDescription === "function") {
    const missing: string[] = [];
    const sm = t.secureManager as Record<string, unknown> | undefined;
    if (sm === null || typeof sm !== "object") missing.push("pc.secureManager");
    else {
      if (typeof sm.createTransport !== "function") missing.push("pc.secureManager.createTransport");
      if (!Array.isArray(sm.iceTransports)) missing.push("pc.secureManager.iceTransports");
    }
    const config = t.config as Record<string, unknown> | undefined;
    if (config === null || typeof config !== "object") missing.push("pc.config");
    if (typeof t.iceGatheringState !== "string") missing.push("pc.iceGatheringState");
    if (!("localDescription" in t)) missing.push("pc.localDescription");
    if (typeof t.close !== "function") missing.push("pc.close");
    if (missing.length > 0) throw new UnsupportedWeriftError(missing);
    for (const iceTransport of (sm as unknown as WeriftSecureManager).iceTransports) {
      checkConnection(iceTransport?.connection, "pc.secureManager.iceTransports[].connection");
    }
    return { kind: "peer-connection", pc: target as WeriftPeerConnection };
  }
  checkConnection(target, "connection");
  return { kind: "connection", connection: target as WeriftConnection };
}

/** Throw {@link UnsupportedWeriftError} unless `value` has every `Connection` member the adapter hooks. */
export function checkConnection(value: unknown, name: string): asserts value is WeriftConnection {
  if (value === null || typeof value !== "object") throw new UnsupportedWeriftError([name]);
  const c = value as Record<string, unknown>;
  const missing: string[] = [];
  // Fields the adapter reads and assigns: plain own data properties (strings for the credentials).
  for (const field of ["localUsername", "localPassword"] as const) {
    const d = Object.getOwnPropertyDescriptor(c, field);
    if (d === undefined || !d.configurable || !("value" in d) || typeof d.value !== "string") {
      missing.push(`${name}.${field}`);
    }
  }
  const stun = Object.getOwnPropertyDescriptor(c, "stunServer");
  if (stun === undefined || !stun.configurable || !("value" in stun)) missing.push(`${name}.stunServer`);
  if (c.userHistory === null || typeof c.userHistory !== "object") missing.push(`${name}.userHistory`);
  if (typeof c.generation !== "number") missing.push(`${name}.generation`);
  if (typeof c.localCandidatesStart !== "boolean") missing.push(`${name}.localCandidatesStart`);
  if (!Array.isArray(c.protocols)) missing.push(`${name}.protocols`);
  for (const method of [...CONNECTION_HOOKS, "appendLocalCandidate"] as const) {
    if (typeof c[method] !== "function") missing.push(`${name}.${method}`);
  }
  if (!Array.isArray(c.checkList)) missing.push(`${name}.checkList`);
  if (typeof c.remoteCandidatesEnd !== "boolean") missing.push(`${name}.remoteCandidatesEnd`);
  if (typeof c.state !== "string") missing.push(`${name}.state`);
  if (missing.length > 0) throw new UnsupportedWeriftError(missing);
}

/** The `StunProtocol` type string of werift's UDP protocol. */
const STUN_PROTOCOL_TYPE = "stun";

/** Whether `protocol` is werift's UDP `StunProtocol` (TCP and TURN protocols keep their own sockets). */
export function isUdpStunProtocol(protocol: unknown): boolean {
  return (
    protocol !== null &&
    typeof protocol === "object" &&
    (protocol as { type?: unknown }).type === STUN_PROTOCOL_TYPE
  );
}

/**
 * Check a UDP `StunProtocol` has the two members the adapter uses; a list of what's missing, empty when
 * all is well. (A protocol only exists once gathering starts, so this can't run at attach time.)
 */
export function missingProtocolMembers(protocol: object): string[] {
  const p = protocol as Record<string, unknown>;
  const missing: string[] = [];
  const made = Object.getOwnPropertyDescriptor(p, "connectionMade");
  if (made === undefined || typeof made.value !== "function" || !made.writable) {
    missing.push("StunProtocol.connectionMade");
  }
  if (typeof p.datagramReceived !== "function") missing.push("StunProtocol.datagramReceived");
  return missing;
}

/** werift's `Candidate` constructor, from a candidate werift made, or `undefined` if it doesn't look like one. */
export function candidateConstructorOf(candidate: unknown): WeriftCandidateConstructor | undefined {
  if (candidate === null || typeof candidate !== "object") return undefined;
  const ctor = (candidate as { constructor?: unknown }).constructor;
  if (typeof ctor !== "function" || ctor === Object) return undefined;
  return ctor as WeriftCandidateConstructor;
}

/**
 * Whether werift would resolve `candidate` by mDNS: its test is the host containing `.local` (a
 * `<uuid>.local` name, draft-ietf-mmusic-mdns-ice-candidates); an IP literal never does.
 */
export function isMdnsCandidate(candidate: { host?: unknown }): boolean {
  return typeof candidate.host === "string" && candidate.host.includes(".local");
}

/** werift's `TcpPassiveProtocol` (ice/src/stun/tcpProtocol.ts), as far as the TCP adapter touches it. */
export interface WeriftTcpPassiveProtocol {
  readonly type: string;
  localIp?: string;
  localCandidate?: WeriftCandidate;
  /** A prototype method that listens on `server`. */
  connectionMade: (localIp: string, ...rest: unknown[]) => Promise<void>;
  /** A prototype getter reading `server.address()`. */
  readonly listeningPort: number;
  /** One RFC 4571 frame's payload from `addr`. */
  handleFrame(data: Buffer, addr: WeriftAddress): void;
  /** Frames `data` onto the connection from `addr`; `sendStun` and `sendData` call it. */
  sendFrame: (data: Buffer, addr: WeriftAddress) => Promise<void>;
  sendData: (data: Buffer, addr: WeriftAddress) => Promise<void>;
}

/** The `type` of werift's TCP protocols (passive and active). */
const TCP_PROTOCOL_TYPE = "tcp";

/** Whether `protocol` is one of werift's TCP protocols; `"passive"` when it listens (has `listeningPort`). */
export function tcpProtocolKind(protocol: unknown): "passive" | "active" | undefined {
  if (protocol === null || typeof protocol !== "object") return undefined;
  if ((protocol as { type?: unknown }).type !== TCP_PROTOCOL_TYPE) return undefined;
  return "listeningPort" in protocol ? "passive" : "active";
}

/** The `TcpPassiveProtocol` members the TCP adapter replaces or calls; empty when all is well. */
export function missingTcpProtocolMembers(protocol: object): string[] {
  const p = protocol as Record<string, unknown>;
  const missing: string[] = [];
  for (const method of [...TCP_PROTOCOL_HOOKS, "handleFrame"] as const) {
    if (typeof p[method] !== "function") missing.push(`TcpPassiveProtocol.${method}`);
  }
  if (getterOf(protocol, TCP_PORT_GETTER) === undefined)
    missing.push(`TcpPassiveProtocol.${TCP_PORT_GETTER}`);
  return missing;
}

/** werift's agent options as far as the TCP adapter toggles them (`useTcp`; `tcpPassive` in 0.25.2). */
export interface WeriftTcpOptions {
  useTcp?: boolean;
  tcpPassive?: boolean;
}

/** Throw {@link UnsupportedWeriftError} unless `connection.options` is an object (where `useTcp` lives). */
export function checkTcpOptions(connection: WeriftConnection, name: string): void {
  const options = (connection as { options?: unknown }).options;
  if (options === null || typeof options !== "object") throw new UnsupportedWeriftError([`${name}.options`]);
}

/** The object on `object`'s prototype chain that defines `name` as a getter, and the getter. */
export function getterOf(object: object, name: string): { holder: object; get: () => unknown } | undefined {
  for (let o: object | null = object; o !== null; o = Object.getPrototypeOf(o)) {
    const d = Object.getOwnPropertyDescriptor(o, name);
    if (d !== undefined) return typeof d.get === "function" ? { holder: o, get: d.get } : undefined;
  }
  return undefined;
}

// ---- facts the bindings act on ---------------------------------------------------------------------

/** Whether the agent is ICE-lite: host candidates only (RFC 8445 §2.5). */
export function isIceLite(connection: WeriftConnection): boolean {
  return connection.iceLite === true;
}

/**
 * Whether werift gathers relay candidates only: `forceTurn` with a TURN server and its credentials (and not
 * ICE-lite). werift then makes no host or srflx candidate, and the adapter adds none either.
 */
export function isRelayOnly(connection: WeriftConnection): boolean {
  const o = connection.options;
  return (
    !isIceLite(connection) && !!(o?.forceTurn && connection.turnServer && o.turnUsername && o.turnPassword)
  );
}

/**
 * `getCandidatePromises`'s `timeout` in milliseconds: werift-ice passes 5 (seconds), werift 0.25 its
 * `iceStunGatherTimeout` (seconds, possibly undefined); `undefined` when there is none.
 */
export function gatherTimeoutMs(timeout: unknown): number | undefined {
  return typeof timeout === "number" && timeout > 0 ? Math.ceil(timeout * 1000) : undefined;
}

/**
 * Settles once werift has given a protocol whose `connectionMade` was just called its host candidate: werift
 * sets `localCandidate` in the continuation of that call, so a macrotask later it has (microtasks drain
 * first), or the protocol failed.
 */
export function afterLocalCandidate(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Settles once werift has given `protocol` (one whose `connectionMade` was called) its host candidate: at
 * once if it has one (a restart keeps its protocols), else as {@link afterLocalCandidate}.
 */
export function localCandidateSettled(protocol: { localCandidate?: unknown }): Promise<void> {
  return protocol.localCandidate === undefined ? afterLocalCandidate() : Promise.resolve();
}

/**
 * werift's `Candidate` for `spec`, of the agent's `generation` and `ufrag`, made with the constructor of
 * `base` (a candidate werift made: the adapter imports nothing from werift); `undefined` if `base` is none.
 */
export function makeCandidate(
  base: unknown,
  spec: CandidateSpec,
  generation: number,
  ufrag: string,
): WeriftCandidate | undefined {
  const Candidate = candidateConstructorOf(base);
  if (Candidate === undefined) return undefined;
  return new Candidate(
    spec.foundation,
    spec.component,
    spec.transport,
    spec.priority,
    spec.host,
    spec.port,
    spec.type,
    spec.relatedAddress,
    spec.relatedPort,
    spec.tcptype,
    generation,
    ufrag,
  );
}

/** werift's STUN server, set to `undefined`; what was there (werift 0.25 sets it again on setConfiguration). */
export function pinStunServer(connection: WeriftConnection): WeriftAddress | undefined {
  const was = connection.stunServer;
  if (was !== undefined) connection.stunServer = undefined; // a plain assignment: the map stays
  return was;
}

/**
 * Put `ufrag` in the agent's fields in place of `drawn`, the one werift drew: `localUsername`,
 * `userHistory` (werift answers checks for every ufrag there; `drawn` leaves it unless `keepDrawn`) and,
 * after a restart, its protocols' host candidates (werift sets them again when it gathers). Plain
 * assignments to existing fields: the agent stays a fast object. `userHistory` is werift's plain object
 * used as a map (read as `userHistory[ufrag] ?? localPassword`, nothing else keeps it): `drawn` leaves it by
 * replacing the object with a copy without it, not by `delete`, which would turn it into a dictionary
 * (V8 normalizes an object on delete: ~160 B more per agent, heap snapshot).
 */
export function adoptUfrag(
  connection: WeriftConnection,
  drawn: string,
  ufrag: string,
  password: string,
  keepDrawn: boolean,
): void {
  connection.localUsername = ufrag;
  const history = connection.userHistory;
  if (drawn === ufrag || keepDrawn || !Object.hasOwn(history, drawn)) {
    history[ufrag] = password;
  } else {
    const next: Record<string, string> = {};
    for (const key of Object.keys(history)) if (key !== drawn) next[key] = history[key]!;
    next[ufrag] = password;
    connection.userHistory = next;
  }
  for (const protocol of connection.protocols) {
    const candidate = (protocol as { localCandidate?: { ufrag?: string } } | null)?.localCandidate;
    if (candidate?.ufrag === drawn) candidate.ufrag = ufrag;
  }
}

/**
 * Whether werift's `connect()` loop is about to give up on an empty check list: `schedulingChecks()` found
 * nothing to check, the check list is empty, end-of-candidates was signalled and the agent is not closed.
 */
export function awaitsPeerChecks(connection: WeriftConnection): boolean {
  return connection.checkList.length === 0 && connection.remoteCandidatesEnd && connection.state !== "closed";
}

/** Whether the caller turned werift's own ICE-TCP on (`useTcp`, `iceUseTcp` of a peer connection). */
export function callerUseTcp(connection: WeriftConnection): boolean {
  return (connection as unknown as { options: WeriftTcpOptions }).options.useTcp === true;
}

/**
 * Call werift's `getCandidatePromises` with ICE-TCP's passive protocol on: `useTcp` set (and werift 0.25.2's
 * `tcpPassive: false` lifted) for the call only — werift reads both synchronously in it — then the
 * caller's values back.
 */
export function gatherWithTcp<T>(
  connection: WeriftConnection,
  getCandidatePromises: (this: WeriftConnection, addresses: string[], timeout?: number) => T,
  addresses: string[],
  timeout: number | undefined,
): T {
  const options = (connection as unknown as { options: WeriftTcpOptions }).options;
  const { useTcp, tcpPassive } = options;
  options.useTcp = true;
  if (tcpPassive === false) options.tcpPassive = undefined;
  try {
    return getCandidatePromises.call(connection, addresses, timeout);
  } finally {
    options.useTcp = useTcp;
    if (tcpPassive === false) options.tcpPassive = tcpPassive;
  }
}

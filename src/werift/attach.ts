/**
 * `attachUDPMux(target, mux, options?)`: run a werift agent — a werift-ice `Connection`, werift's own
 * `Connection`, or a werift `RTCPeerConnection` — on a {@link UDPMux} instead of sockets of its own.
 */
import type { UfragRegistry } from "../adapter/registry.js";
import { closeWhenMuxCloses, registryFor, stopClosingWithMux } from "../adapter/registry.js";
import { invalidArgType, invalidArgValue, MuxClosedError } from "../errors.js";
import type { UDPMux } from "../mux.js";
import { TCPMux } from "../tcp/mux.js";
import { AgentBinding, type CloseTarget, type MuxForWerift } from "./agent.js";
import { AlreadyGatheringError, BundlePolicyError } from "./errors.js";
import type { Binding, PeerConnectionHooks } from "./hooks.js";
import { hookAgent, hookPeerConnection, isAttached } from "./hooks.js";
import type { WeriftConnection, WeriftPeerConnection } from "./internals.js";
import { checkConnection, checkTcpOptions, detectTarget } from "./internals.js";
import { ignoreMdnsCandidates } from "./mdns-candidates.js";
import {
  type AttachUDPMuxOptions,
  type ResolvedAttachOptions,
  resolveAttachOptions,
  shareAttachOptions,
} from "./options.js";
import { TcpBinding } from "./tcp.js";

/** The bundle policy a peer connection on a mux must use (see {@link BundlePolicyError}). */
const REQUIRED_BUNDLE_POLICY = "max-bundle";

/**
 * Run a werift agent on `mux`: its host candidates become `options.announcedAddresses` (default: the
 * mux's address) with the mux's port, every datagram goes through the mux's socket, and no socket of its
 * own is bound for UDP. Call it right after creating the agent — before `gatherCandidates()`, or for an
 * `RTCPeerConnection` before `setLocalDescription()`.
 *
 * - werift's own STUN gathering is turned off (its public default, never contacted, and any STUN entry of
 *   `iceServers`); srflx candidates come only from `options.stunServers`. TURN keeps its own sockets.
 * - Closing the agent (or the peer connection) removes it from the mux; closing the mux closes the agent
 *   (or the peer connection).
 * - An `RTCPeerConnection` must be created with `bundlePolicy: "max-bundle"`.
 *
 * @returns `target`
 * @throws {AlreadyGatheringError} `ERR_ALREADY_GATHERING`: the agent already started gathering.
 * @throws {UnsupportedWeriftError} `ERR_UNSUPPORTED_WERIFT`: `target` lacks a werift internal the adapter
 *   hooks (the error names it and the supported versions); nothing was changed.
 * @throws {BundlePolicyError} `ERR_BUNDLE_POLICY`: a peer connection without `max-bundle`.
 * @throws {MuxClosedError} `ERR_MUX_CLOSED`: the mux is closed.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE`: a bad argument or option, or a
 *   target that is already attached.
 */
export function attachUDPMux<T extends object>(target: T, mux: UDPMux, options?: AttachUDPMuxOptions): T {
  if (target === null || typeof target !== "object") {
    throw invalidArgType("target", "a werift Connection or RTCPeerConnection", target);
  }
  if (mux === null || typeof mux !== "object" || typeof (mux as Partial<UDPMux>).getConn !== "function") {
    throw invalidArgType("mux", "a UDPMux", mux);
  }
  if (mux.closed) throw new MuxClosedError();
  // before detection: an attached agent's hooked methods and cleared stunServer would read as another agent
  if (isAttached(target)) throw alreadyAttached(target);
  const detected = detectTarget(target);
  const tcpMux = (options as { tcpMux?: unknown } | undefined)?.tcpMux;
  // before its listen addresses are read; anything but a TCPMux is refused by resolveAttachOptions
  if (tcpMux instanceof TCPMux && tcpMux.closed) throw new MuxClosedError();
  // shared by the agents of `mux` attached with the same options: one plan, not one per agent
  const resolved = shareAttachOptions(mux, resolveAttachOptions(options, mux.getListenAddresses()));
  if (resolved.tcp !== undefined) pairTcpMux(resolved.tcp.mux, mux);
  if (detected.kind === "connection") {
    if (isGathering(detected.connection)) throw new AlreadyGatheringError();
    const connection = detected.connection;
    if (resolved.tcp !== undefined) checkTcpOptions(connection, "connection");
    bindAgent(connection, "connection", mux, resolved, registryFor(mux), connection); // now attached
  } else {
    attachPeerConnection(detected.pc, mux, resolved);
  }
  return target;
}

/**
 * Bind one agent: its class hooked (`hooks.ts`, once per werift copy), then its bindings in dispatch order —
 * UDP (draws and registers the ufrags), TCP (follows them; a TCP mux routes by ufrag alone and the ufrag
 * registry is the UDP mux's, so a TCP mux serves the agents of one UDP mux at a time: {@link pairTcpMux}),
 * the empty-check-list wait (the UDP binding holds it), the mDNS filter — and then its calls are dispatched to
 * them, which also marks it attached.
 * @throws UnsupportedWeriftError before anything is changed; MuxClosedError before the agent is touched.
 */
function bindAgent(
  connection: WeriftConnection,
  name: string,
  mux: MuxForWerift,
  options: ResolvedAttachOptions,
  registry: UfragRegistry,
  target: CloseTarget,
): AgentBinding {
  hookAgent(connection, name);
  // the agent's dispatch record, its UDP binding and its empty-check-list wait (werift fails an empty check
  // list at once)
  const udp = new AgentBinding(connection, mux, options, registry, target);
  if (options.tcp === undefined) {
    udp.activate(WITHOUT_TCP);
  } else {
    const tcp = new TcpBinding(connection, options.tcp.mux, options.tcp.plans, target);
    udp.announceUfrags(tcp);
    udp.activate([tcp, ignoreMdnsCandidates]);
  }
  return udp;
}

/**
 * The bindings after the UDP one of every agent without ICE-TCP, shared (never mutated): the mDNS filter (no
 * multicast socket beside the mux).
 */
const WITHOUT_TCP: readonly Binding[] = [ignoreMdnsCandidates];

/** Each TCP mux's UDP mux: the first it was used with, until that one closes. */
const tcpMuxPairs = new WeakMap<TCPMux, UDPMux>();

/**
 * Pair `tcpMux` with `mux`, or throw if it serves another UDP mux that is still open. The pairing ends
 * when that UDP mux closes (its agents, and with them their TCP conns, close too), so the TCP mux can then
 * serve a new one.
 */
function pairTcpMux(tcpMux: TCPMux, mux: UDPMux): void {
  const paired = tcpMuxPairs.get(tcpMux);
  if (paired === mux) return;
  // `closed` is set as soon as the UDP mux begins closing, before its 'close' event ends the pairing.
  if (paired !== undefined && !paired.closed) {
    throw invalidArgValue(
      "options.tcpMux",
      "a TCP mux used with this UDP mux only (it routes by ufrag)",
      tcpMux,
    );
  }
  tcpMuxPairs.set(tcpMux, mux);
  mux.once("close", unpairer(tcpMux, mux));
}

/** The UDP mux's `'close'` listener; made here so that its closure holds the two muxes only. */
function unpairer(tcpMux: TCPMux, mux: UDPMux): () => void {
  return () => {
    if (tcpMuxPairs.get(tcpMux) === mux) tcpMuxPairs.delete(tcpMux);
  };
}

function alreadyAttached(target: object): TypeError {
  return invalidArgValue("target", "a werift agent not attached to a UDP mux yet", target);
}

/** Whether the agent has begun gathering (or has protocols, i.e. sockets, already). */
function isGathering(connection: WeriftConnection): boolean {
  return connection.localCandidatesStart || connection.protocols.length > 0;
}

/**
 * A peer connection's ICE transports are made by `secureManager.createTransport()`, lazily (on
 * `createDataChannel`, `addTransceiver`, a remote offer): wrap it so each new transport's agent is bound,
 * and bind the ones that exist already.
 */
function attachPeerConnection(
  pc: WeriftPeerConnection,
  mux: MuxForWerift,
  options: ResolvedAttachOptions,
): void {
  const policy = pc.config.bundlePolicy;
  if (policy !== REQUIRED_BUNDLE_POLICY) throw new BundlePolicyError(String(policy));
  const manager = pc.secureManager;
  const existing = manager.iceTransports.map((t) => t.connection);
  if (pc.localDescription != null || pc.iceGatheringState !== "new" || existing.some(isGathering)) {
    throw new AlreadyGatheringError();
  }
  const registry = registryFor(mux);
  if (options.tcp !== undefined) {
    for (const connection of existing)
      checkTcpOptions(connection, "pc.secureManager.iceTransports[].connection");
  }
  const bound: AgentBinding[] = [];
  try {
    for (const connection of existing) {
      bound.push(
        bindAgent(connection, "pc.secureManager.iceTransports[].connection", mux, options, registry, pc),
      );
    }
  } catch (err) {
    for (const binding of bound) binding.deactivate();
    throw err;
  }
  hookPeerConnection(pc, manager, new PcBinding(pc, mux, options, registry)); // now attached
  // A peer connection may have no ICE transport (so no conn to hear the mux close through) for a while.
  closeWhenMuxCloses(mux, pc);
  if (options.tcp !== undefined) closeWhenMuxCloses(options.tcp.mux, pc);
}

/** A peer connection's hooks: each ICE transport werift makes is bound; closing it forgets the muxes. */
class PcBinding implements PeerConnectionHooks {
  active = 0;

  constructor(
    private readonly pc: CloseTarget,
    private readonly mux: MuxForWerift,
    private readonly options: ResolvedAttachOptions,
    private readonly registry: UfragRegistry,
  ) {}

  transportCreated(dtlsTransport: unknown): void {
    const connection: unknown = (dtlsTransport as { iceTransport?: { connection?: unknown } } | undefined)
      ?.iceTransport?.connection;
    checkConnection(connection, "iceTransport.connection");
    if (this.options.tcp !== undefined) checkTcpOptions(connection, "iceTransport.connection");
    bindAgent(connection, "iceTransport.connection", this.mux, this.options, this.registry, this.pc);
  }

  onClose(): void {
    stopClosingWithMux(this.mux, this.pc);
    if (this.options.tcp !== undefined) stopClosingWithMux(this.options.tcp.mux, this.pc);
  }
}

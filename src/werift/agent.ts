/**
 * AgentBinding: one werift ICE `Connection` running on a UDPMux instead of sockets of its own.
 *
 * What it does to the agent instance (see `internals.ts` for why these are the seams):
 * 1. Routing follows the agent's ufrags, and the adapter draws them. werift draws 16 bits (4 hex
 *    characters), which a peer can guess and squat before the agent registers it, and which collide among a
 *    few hundred agents; so every ufrag werift assigns is replaced, in the agent's fields, by a fresh one of
 *    96 random bits ({@link UfragRegistry.fresh}) before it is advertised: at attach, and in every
 *    `restart()` (werift assigns new credentials only there, before its first await: `afterRestart`).
 *    The new ufrag is registered with the mux (`getConn(ufrag, addr, { password })`) at once. Old ufrags
 *    stay registered, because werift keeps answering checks for every ufrag in `userHistory`, up to
 *    {@link MAX_UFRAGS_PER_AGENT}. The fields stay plain, so the agent keeps V8's fast properties (see
 *    `internals.ts`).
 * 2. Gathering: `getCandidatePromises` gathers on the first announced address of each IP family instead of
 *    the machine's interfaces (`beforeGather`), and each new `StunProtocol` (`onProtocol`) is taken over:
 *    its `connectionMade` (which would bind a socket) installs a {@link MuxTransport} instead. The other announced addresses and the
 *    srflx candidates of `options.stunServers` are added as candidates of their own (`extra-candidates.ts`).
 * 3. `stunServer` is set to `undefined` at attach and before every gather: werift's own srflx gathering
 *    (and its public default) never runs. TURN and TCP protocols are left alone, with their own sockets.
 * 4. Close, both ways: `connection.close()` removes every ufrag (and with them every address and
 *    transaction) from the mux; a conn closed under the agent (the mux closing, `removeConnByUfrag`)
 *    closes the agent's target.
 *
 * It is the agent's {@link AgentHooks} record (`hooks.ts` dispatches to it first, then to the other bindings)
 * and its first binding; it tells the other bindings (the TCP side) about every ufrag it registers, and
 * holds the empty-check-list wait (`empty-check-list.ts`): one object per agent, not three.
 */

import type { UfragRegistry } from "../adapter/registry.js";
import type { Family } from "../address.js";
import type { IceMux } from "../ice-mux.js";
import type { UDPMux } from "../mux.js";
import type { MuxedConnection } from "../muxed-connection.js";
import { keepWaitingForPeerChecks, type PeerCheckWait } from "./empty-check-list.js";
import { UnsupportedWeriftError } from "./errors.js";
import { type GatherAgent, gatherExtraCandidates } from "./extra-candidates.js";
import type { Binding, Gather, ProtocolOwner } from "./hooks.js";
import { AgentHooks, takeOverUdpProtocol } from "./hooks.js";
import type { WeriftConnection, WeriftStunProtocol } from "./internals.js";
import {
  adoptUfrag,
  isIceLite,
  isRelayOnly,
  isUdpStunProtocol,
  missingProtocolMembers,
  pinStunServer,
} from "./internals.js";
import { weriftLog as log } from "./log.js";
import type { ResolvedAttachOptions } from "./options.js";
import { MuxTransport, type TransportOwner } from "./transport.js";

/**
 * Local ufrags one agent keeps registered. werift never prunes `userHistory`, but a peer only uses the
 * current ufrag and, during an ICE restart, the one before; 8 generations is ample while bounding what
 * repeated restarts can hold in the mux.
 */
export const MAX_UFRAGS_PER_AGENT = 8;

/** The mux operations the adapter uses. */
export type MuxForWerift = IceMux & Pick<UDPMux, "getXorMappedAddress">;

/** What an attached agent closes when the mux closes under it: the agent, or its `RTCPeerConnection`. */
export interface CloseTarget {
  close(): Promise<void>;
}

/** Close `target`, logging a failure (nobody awaits it). */
export function closeQuietly(target: CloseTarget): void {
  target.close().catch((err: unknown) => log("closing the werift agent failed: %O", err));
}

/** No conns: the empty value of {@link AgentBinding}'s exact-size arrays (never mutated). */
const NONE: readonly never[] = [];

export class AgentBinding extends AgentHooks implements ProtocolOwner, TransportOwner, PeerCheckWait {
  readonly #mux: MuxForWerift;
  readonly #options: ResolvedAttachOptions;
  readonly #registry: UfragRegistry;
  /** What a conn closed under the agent closes: the attached agent, or its peer connection. */
  readonly #target: CloseTarget;
  /**
   * The conns of every registered ufrag, one per announced family each, oldest ufrag first (a ufrag's conns
   * are adjacent; a conn knows its ufrag and family). One exact-size array, replaced on every change: an
   * agent has one ufrag until it restarts, and a table per agent (a `Map` of per-ufrag arrays, arrays grown
   * by `push`) cost ~450 B of heap per agent (heap snapshots, `bench/heap-agents.ts`).
   */
  #conns: readonly MuxedConnection[] = NONE;
  /** Each family's transport, once werift made its host protocol (two fields: no array per agent). */
  #host4: MuxTransport | undefined;
  #host6: MuxTransport | undefined;
  /** Aborts srflx queries in flight when the agent closes; made by the first query (most agents make none). */
  #abort: AbortController | undefined;
  /** The `'close'` listener of every conn of the agent (EventEmitter calls it with `this` = the conn). */
  readonly #connClosed = ((binding: AgentBinding) =>
    function (this: MuxedConnection): void {
      binding.#onConnClosed(this);
    })(this);
  #ufrag: string;
  #password: string;
  #detached = false;
  #sendErrors = 0;
  waitingSince: number | undefined;

  /**
   * Hook `connection`. Everything that can fail (a closed mux) happens before the agent is touched.
   * @throws MuxClosedError
   */
  constructor(
    connection: WeriftConnection,
    mux: MuxForWerift,
    options: ResolvedAttachOptions,
    registry: UfragRegistry,
    target: CloseTarget,
  ) {
    super(connection);
    this.#mux = mux;
    this.#options = options;
    this.#registry = registry;
    this.#target = target;
    this.#password = connection.localPassword;
    const drawn = connection.localUsername;
    this.#ufrag = registry.fresh(); // werift's own is guessable (module comment)
    this.#register(this.#ufrag); // throws ERR_MUX_CLOSED before the agent is touched
    this.#adopt(drawn);
    // werift's own srflx gathering never runs (nor its stun.l.google.com default)
    pinStunServer(connection);
  }

  /** Tell `binding` (added after this one) about the ufrags registered so far. */
  announceUfrags(binding: Binding): void {
    for (const ufrag of ufragsOf(this.#conns)) {
      binding.ufragRegistered?.(ufrag, this.connection.userHistory[ufrag] ?? this.#password);
    }
  }

  get sendErrors(): number {
    return this.#sendErrors;
  }

  // ---- Binding -------------------------------------------------------------------------------------

  override beforeGather(gather: Gather): void {
    // srflx candidates come from options.stunServers; werift 0.25 sets the field again on setConfiguration.
    const ignored = pinStunServer(this.connection);
    if (ignored !== undefined)
      log("ignored werift STUN server %o: srflx comes from options.stunServers", ignored);
    // werift's host addresses are the machine's interfaces; ours are the announced ones, one host
    // protocol per family (the mux has one socket per family to offer).
    gather.addresses = this.#options.families.map((plan) => plan.addresses[0]!);
  }

  /** Take a new UDP `StunProtocol` over: it never binds a socket. */
  override onProtocol(protocol: unknown): void {
    if (!isUdpStunProtocol(protocol)) return; // TCP and TURN protocols are not ours
    const missing = missingProtocolMembers(protocol as object);
    if (missing.length > 0) {
      log("unsupported StunProtocol (missing %o): no host candidate", missing);
      throw new UnsupportedWeriftError(missing); // werift logs it; the address gets no candidate
    }
    takeOverUdpProtocol(protocol as WeriftStunProtocol, this);
  }

  /** A taken-over protocol's `connectionMade(useIpv4)`: install a mux transport instead of a socket. */
  async connectionMade(protocol: object, args: unknown[]): Promise<void> {
    const family: Family = args[0] ? "IPv4" : "IPv6";
    if (this.#detached) throw new Error("the agent is closed");
    const plan = this.#options.families.find((p) => p.family === family);
    if (plan === undefined) throw new Error(`udpmux: no announced ${family} address`);
    if (this.#host(family) !== undefined) throw new Error(`udpmux: a second ${family} host protocol`);
    const stun = protocol as WeriftStunProtocol;
    const transport = new MuxTransport(this, family, plan.local, stun);
    stun.transport = transport;
    if (family === "IPv4") this.#host4 = transport;
    else this.#host6 = transport;
    for (const conn of this.#conns) if (conn.family === family) conn.on("message", transport.receive);
  }

  /** Host candidates beyond the first of each family, and srflx — as werift decides for its own. */
  override extraCandidates(timeout: number | undefined): Promise<unknown>[] {
    const c = this.connection;
    if (isRelayOnly(c)) return []; // relay-only: no host or srflx candidate
    const agent: GatherAgent = {
      connection: c,
      mux: this.#mux,
      options: this.#options,
      ufrag: this.#ufrag,
      host: (family) => this.#host(family),
      detached: () => this.#detached,
      abortSignal: () => this.#abortSignal(),
    };
    return gatherExtraCandidates(agent, timeout, !isIceLite(c));
  }

  override afterRestart(): void {
    this.#syncCredentials();
  }

  /** Each `connect()` (a second one after an ICE restart too) waits anew (`empty-check-list.ts`). */
  override onConnect(): void {
    this.waitingSince = undefined;
  }

  /** werift's scheduling loop would stop: wait for the peer's checks (`empty-check-list.ts`). */
  override keepScheduling(): boolean {
    return keepWaitingForPeerChecks(this, this.connection, this.#options.peerCheckTimeoutMs);
  }

  override onClose(): void {
    this.detach();
  }

  // ---- credentials ---------------------------------------------------------------------------------

  /**
   * werift assigned new credentials (`restart()`, before its first await): replace its ufrag by a fresh
   * one and route that, with the new password, to this agent at once — before werift advertises it. The old
   * ufrag keeps the password it had.
   */
  #syncCredentials(): void {
    const c = this.connection;
    const drawn = c.localUsername;
    const password = c.localPassword;
    if (drawn === this.#ufrag) {
      if (password !== this.#password) this.#onPasswordAssigned(password);
      return;
    }
    this.#password = password;
    if (this.#detached || typeof drawn !== "string") {
      this.#ufrag = drawn; // a closed agent: nothing is routed to it any more
      return;
    }
    const ufrag = this.#registry.fresh();
    this.#ufrag = ufrag;
    try {
      this.#register(ufrag);
    } catch (err) {
      // The mux is closed: the agent can't be reached any more.
      log("ufrag %s: cannot register (%O); closing the agent", ufrag, err);
      this.#scheduleClose();
    }
    this.#adopt(drawn);
  }

  // ---- ufrags --------------------------------------------------------------------------------------

  /** Put the adapter's ufrag in the agent's fields in place of `drawn`, the one werift drew. */
  #adopt(drawn: string): void {
    const registered = this.#conns.some((conn) => conn.localUfrag === drawn);
    adoptUfrag(this.connection, drawn, this.#ufrag, this.#password, registered);
  }

  #onPasswordAssigned(value: string): void {
    this.#password = value;
    if (this.#detached || typeof value !== "string" || value.length === 0) return;
    for (const conn of this.#conns) if (conn.localUfrag === this.#ufrag) conn.setPassword(value);
    this.announcePasswordChanged(this.#ufrag, value);
  }

  /** Route checks for `ufrag` (every family the agent announces) to this agent. */
  #register(ufrag: string): void {
    const families = this.#options.families;
    const conns: MuxedConnection[] = new Array(families.length);
    try {
      for (const [i, plan] of families.entries()) {
        conns[i] = this.#mux.getConn(ufrag, { address: plan.addresses[0]! }, { password: this.#password });
      }
    } catch (err) {
      for (const conn of conns) conn?.close();
      throw err;
    }
    this.#registry.claim(ufrag, this);
    this.announceRegistered(ufrag, this.#password);
    this.#conns = this.#conns.concat(conns); // exact size: kept long
    for (const conn of conns) {
      conn.on("close", this.#connClosed); // a conn emits 'close' once: `on` spares once()'s wrapper
      const host = this.#host(conn.family);
      if (host !== undefined) conn.on("message", host.receive);
    }
    for (let ufrags = ufragsOf(this.#conns); ufrags.length > MAX_UFRAGS_PER_AGENT; ufrags.shift()) {
      log("ufrag %s: more than %d generations, no longer routed", ufrags[0], MAX_UFRAGS_PER_AGENT);
      this.#unregister(ufrags[0]!);
    }
  }

  #unregister(ufrag: string): void {
    const all = this.#conns;
    const first = all.findIndex((conn) => conn.localUfrag === ufrag);
    if (first < 0) return;
    let end = first + 1;
    while (end < all.length && all[end]!.localUfrag === ufrag) end++;
    // first: the conns' 'close' then reads as ours, not as the mux's
    this.#conns = all.slice(0, first).concat(all.slice(end));
    this.#registry.release(ufrag, this);
    this.announceUnregistered(ufrag);
    for (let i = first; i < end; i++) all[i]!.close();
  }

  /** A conn of ours closed. If we didn't close it, the mux did (or someone removed our ufrag). */
  #onConnClosed(conn: MuxedConnection): void {
    if (this.#detached || !this.#conns.includes(conn)) return;
    const ufrag = conn.localUfrag;
    log("ufrag %s: conn closed under the agent (mux closed: %s); closing the agent", ufrag, this.#mux.closed);
    this.#scheduleClose();
  }

  #scheduleClose(): void {
    if (this.#detached) return;
    queueMicrotask(() => closeQuietly(this.#target));
  }

  // ---- candidates ----------------------------------------------------------------------------------

  /** The signal that aborts srflx queries when the agent closes. */
  #abortSignal(): AbortSignal {
    this.#abort ??= new AbortController();
    return this.#abort.signal;
  }

  /** The family's transport (its host protocol's), once werift made that protocol. */
  #host(family: Family): MuxTransport | undefined {
    return family === "IPv4" ? this.#host4 : this.#host6;
  }

  // ---- TransportOwner ------------------------------------------------------------------------------

  /**
   * The newest registered conn of `family`: the current ufrag's (registered last), or — when werift set
   * one that could not be registered — the one before.
   */
  sendConn(family: Family): MuxedConnection | undefined {
    const conns = this.#conns;
    for (let i = conns.length - 1; i >= 0; i--) if (conns[i]!.family === family) return conns[i];
    return undefined;
  }

  sendFailed(family: Family, err: unknown): void {
    this.#sendErrors++;
    log("send (%s) failed: %O", family, err);
  }

  // ---- close ---------------------------------------------------------------------------------------

  /** Forget the agent in the mux: every ufrag, with its addresses and transactions. Idempotent. */
  detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    this.#abort?.abort(new Error("the werift agent closed"));
    this.#host4?.markClosed();
    this.#host6?.markClosed();
    const conns = this.#conns;
    this.#conns = NONE;
    for (const ufrag of ufragsOf(conns)) this.#registry.release(ufrag, this);
    for (const conn of conns) {
      const host = this.#host(conn.family);
      if (host !== undefined) conn.off("message", host.receive);
      conn.close();
    }
  }
}

/** The ufrags of `conns`, oldest first (a ufrag's conns are adjacent). */
function ufragsOf(conns: readonly MuxedConnection[]): string[] {
  const out: string[] = [];
  for (const conn of conns) if (out.at(-1) !== conn.localUfrag) out.push(conn.localUfrag);
  return out;
}

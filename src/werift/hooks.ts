/**
 * The one place the adapter patches werift: each werift member it needs is wrapped exactly once, by a
 * function shared by every instance, which looks the instance up in a `WeakMap` and dispatches to that
 * agent's {@link Binding}s — as many as it has (UDP, TCP, empty check list, mDNS), none wrapping another.
 *
 * How (the members and why they are the seams: `internals.ts`):
 * - Every hooked `Connection`, `RTCPeerConnection`, `SecureTransportManager` and TCP-protocol member is a
 *   prototype method (or getter) in every supported werift build. At the first attach of an instance,
 *   {@link hookAgent} patches each class on its prototype chain that defines the member (werift bundles
 *   several copies: CJS, ESM, werift-ice — each is patched on first use), once: a patched function is
 *   recognised by a `WeakSet`, never wrapped again. The hook, made once per class and member, keeps
 *   werift's function; for an instance not in the map it calls that function and nothing else. So the patch
 *   is process-wide, and inert for agents that are not attached.
 * - An own function-valued property on the instance (a caller's wrapper assigned before attach) is hooked
 *   there too, by a plain assignment to the existing property. Only the outermost hooked call of a member
 *   dispatches (a per-agent bit while it runs), so a wrapper calling through to the patched prototype is not
 *   dispatched twice, and the bindings see what the caller's wrapper did.
 * - `StunProtocol.connectionMade` is an own arrow field of each protocol: a taken-over protocol gets one
 *   shared function (plain assignment to the existing field) that looks its owner up.
 * - Per attached agent this costs one entry in the one `WeakMap` and nothing else: its {@link AgentHooks}
 *   record is its UDP binding (`agent.ts`, which also holds the empty-check-list wait), and the list of its
 *   other bindings is shared by every agent without ICE-TCP. Nothing is added to, deleted from or redefined
 *   on werift's objects, which keep V8's fast properties.
 *
 * Dispatch order: the record (UDP, then its empty-check-list wait), then the other bindings in the order
 * they were added (`attach.ts`: TCP, mDNS). Per member:
 * - `ensureProtocol(p)`: werift's, then every `onProtocol(p)`.
 * - `getCandidatePromises(addresses, timeout)`: every `beforeGather(gather)` (may replace the addresses,
 *   ask for werift's passive TCP protocol), werift's, then every `extraCandidates(timeout)` appended.
 * - `restart(...)`: werift's (it assigns the new credentials before its first await), then every
 *   `afterRestart()`.
 * - `connect()`: every `onConnect()`, then werift's.
 * - `schedulingChecks()`: werift's; when it says stop, `true` if any `keepScheduling()` says so.
 * - `addRemoteCandidate(c)`: dropped (resolved) if any `acceptRemoteCandidate(c)` is `false`, else werift's.
 * - `close()`: every `onClose()`, then werift's.
 */

import { UnsupportedWeriftError } from "./errors.js";
import type { ConnectionHook, TcpProtocolHook, WeriftConnection } from "./internals.js";
import {
  CONNECTION_HOOKS,
  gatherWithTcp,
  getterOf,
  PEER_CONNECTION_HOOKS,
  SECURE_MANAGER_HOOKS,
  TCP_PORT_GETTER,
  TCP_PROTOCOL_HOOKS,
} from "./internals.js";

/** One gather, as the bindings may shape it before werift's `getCandidatePromises` runs. */
export interface Gather {
  /** The host addresses werift gathers on. */
  addresses: string[];
  /** Make werift's passive ICE-TCP protocol (werift's `useTcp`, for this call only). */
  tcp: boolean;
}

/** A feature of an attached agent: the werift calls it takes part in (see the module comment's order). */
export interface Binding {
  beforeGather?(gather: Gather): void;
  onProtocol?(protocol: unknown): void;
  extraCandidates?(timeout: number | undefined): Promise<unknown>[];
  afterRestart?(): void;
  onConnect?(): void;
  /** werift's scheduling loop would stop: `true` keeps it polling. */
  keepScheduling?(): boolean;
  /** `false` drops a remote candidate before werift sees it. */
  acceptRemoteCandidate?(candidate: unknown): boolean;
  onClose?(): void;
  /** The agent's ufrag `ufrag` is now routed to it (the UDP binding draws and registers them). */
  ufragRegistered?(ufrag: string, password: string): void;
  /** `ufrag` is no longer routed (an old generation beyond the bound). */
  ufragUnregistered?(ufrag: string): void;
  /** The password of `ufrag` changed (werift assigns the password after the ufrag). */
  passwordChanged?(ufrag: string, password: string): void;
}

/** What runs a protocol the adapter took over, in place of werift's own members. */
export interface ProtocolOwner {
  connectionMade(protocol: object, args: unknown[]): Promise<void>;
  /** TCP passive: the candidate's port. */
  listeningPort?(protocol: object): number;
  sendFrame?(protocol: object, args: unknown[]): Promise<void>;
  sendData?(protocol: object, args: unknown[]): Promise<void>;
}

/** Per-target dispatch state: the outermost-call bits (see the module comment). */
interface Dispatching {
  active: number;
}

/** Every bit set: each hooked call goes straight to werift's function (see {@link AgentHooks.deactivate}). */
const INERT = -1;

/** No other binding. */
const NONE: readonly Binding[] = [];

/**
 * One attached agent's dispatch record, and its first binding: the UDP binding (`agent.ts`) extends it, so an
 * agent costs one object and one `WeakMap` entry here. Its calls go to the record's own members first, then
 * to {@link others} in order.
 */
export abstract class AgentHooks implements Binding, Dispatching {
  active = 0;
  /** The bindings after this one, in dispatch order; set once, by {@link activate} (shared where it can be). */
  others: readonly Binding[] = NONE;

  constructor(readonly connection: WeriftConnection) {}

  // The record's own part in each call (Binding's members; the subclass defines those it takes part in).
  beforeGather?(gather: Gather): void;
  onProtocol?(protocol: unknown): void;
  extraCandidates?(timeout: number | undefined): Promise<unknown>[];
  afterRestart?(): void;
  onConnect?(): void;
  keepScheduling?(): boolean;
  acceptRemoteCandidate?(candidate: unknown): boolean;
  onClose?(): void;

  /** Dispatch the agent's werift calls to this record and then `others`, in this order, from now on. */
  activate(others: readonly Binding[]): void {
    this.others = others;
    this.active = 0;
    states.set(this.connection, this);
  }

  /** Tell the other bindings that `ufrag` is routed to the agent now. */
  announceRegistered(ufrag: string, password: string): void {
    for (const b of this.others) b.ufragRegistered?.(ufrag, password);
  }

  announceUnregistered(ufrag: string): void {
    for (const b of this.others) b.ufragUnregistered?.(ufrag);
  }

  announcePasswordChanged(ufrag: string, password: string): void {
    for (const b of this.others) b.passwordChanged?.(ufrag, password);
  }

  /** Every binding's `onClose` (werift's `close()`). */
  closeBindings(): void {
    this.onClose?.();
    for (const b of this.others) b.onClose?.();
  }

  /**
   * Attach rolled back: close the bindings and dispatch nothing more to them. The entry stays (the agent
   * still reads as attached, as it did), with every call going straight to werift's.
   */
  deactivate(): void {
    this.closeBindings();
    this.active = INERT;
  }
}

/** What a peer connection's hooks call (`attach.ts`). */
export interface PeerConnectionHooks extends Dispatching {
  /** `secureManager.createTransport()` returned `dtlsTransport`. */
  transportCreated(dtlsTransport: unknown): void;
  /** `pc.close()` was called (before werift's). */
  onClose(): void;
}

type Fn = (this: unknown, ...args: unknown[]) => unknown;
type Dispatch<S> = (state: S, original: Fn, self: object, args: unknown[]) => unknown;

/**
 * The one table of the adapter's per-instance state (one table, not one per kind: each `WeakMap` carries
 * its own spare capacity): attached agents → their {@link AgentHooks}; attached peer connections and their
 * secure managers → the pc's {@link PeerConnectionHooks}; taken-over protocols → their {@link ProtocolOwner}.
 * The keys of each kind are distinct objects, and each hook reads only the keys of its kind.
 */
const states = new WeakMap<object, object>();
const agents = states as WeakMap<object, AgentHooks>;
const peerConnections = states as WeakMap<object, PeerConnectionHooks>;
const protocols = states as WeakMap<object, ProtocolOwner>;

/** Whether `target` (an agent or a peer connection) is attached (or was: attach rolled back). */
export function isAttached(target: object): boolean {
  return states.has(target);
}
/** Every hook function made here: a member already hooked is never wrapped again. */
const hookFunctions = new WeakSet<object>();

const connectionDispatch: { [K in ConnectionHook]: Dispatch<AgentHooks> } = {
  ensureProtocol(agent, original, self, args) {
    original.apply(self, args);
    agent.onProtocol?.(args[0]);
    for (const b of agent.others) b.onProtocol?.(args[0]);
  },
  getCandidatePromises(agent, original, self, args) {
    const timeout = args[1] as number | undefined;
    const gather: Gather = { addresses: args[0] as string[], tcp: false };
    agent.beforeGather?.(gather);
    for (const b of agent.others) b.beforeGather?.(gather);
    const promises = (
      gather.tcp
        ? gatherWithTcp(agent.connection, original as never, gather.addresses, timeout)
        : original.call(self, gather.addresses, timeout)
    ) as Promise<unknown>[];
    const out = [...promises];
    const own = agent.extraCandidates?.(timeout);
    if (own !== undefined) out.push(...own);
    for (const b of agent.others) {
      const extra = b.extraCandidates?.(timeout);
      if (extra !== undefined) out.push(...extra);
    }
    return out;
  },
  restart(agent, original, self, args) {
    const result = original.apply(self, args); // werift assigns the new credentials before its first await
    agent.afterRestart?.();
    for (const b of agent.others) b.afterRestart?.();
    return result;
  },
  connect(agent, original, self, args) {
    agent.onConnect?.();
    for (const b of agent.others) b.onConnect?.();
    return original.apply(self, args);
  },
  schedulingChecks(agent, original, self, args) {
    if (original.apply(self, args)) return true;
    if (agent.keepScheduling?.() === true) return true;
    for (const b of agent.others) if (b.keepScheduling?.() === true) return true;
    return false;
  },
  addRemoteCandidate(agent, original, self, args) {
    if (agent.acceptRemoteCandidate?.(args[0]) === false) return Promise.resolve();
    for (const b of agent.others) {
      if (b.acceptRemoteCandidate?.(args[0]) === false) return Promise.resolve();
    }
    return original.apply(self, args);
  },
  close(agent, original, self, args) {
    agent.closeBindings();
    return original.apply(self, args);
  },
};

const pcDispatch: Dispatch<PeerConnectionHooks> = (pc, original, self, args) => {
  pc.onClose();
  return original.apply(self, args);
};

const managerDispatch: Dispatch<PeerConnectionHooks> = (pc, original, self, args) => {
  const dtlsTransport = original.apply(self, args);
  pc.transportCreated(dtlsTransport);
  return dtlsTransport;
};

/** The hook of one class's (or instance's) `original`; `bit` marks the outermost call per target. */
function makeHook<S extends Dispatching>(
  states: WeakMap<object, S>,
  bit: number,
  original: Fn,
  dispatch: Dispatch<S>,
): Fn {
  const hook = function (this: object, ...args: unknown[]): unknown {
    const state = states.get(this);
    if (state === undefined || (state.active & bit) !== 0) return original.apply(this, args);
    state.active |= bit;
    try {
      return dispatch(state, original, this, args);
    } finally {
      state.active &= ~bit;
    }
  } as Fn;
  hookFunctions.add(hook);
  return hook;
}

/**
 * Hook `member` on every object of `target`'s prototype chain that defines it as a function, unless it is
 * hooked there already.
 * @throws UnsupportedWeriftError when nothing on the chain defines it (werift renamed or removed it).
 */
function hookMember<S extends Dispatching>(
  target: object,
  member: string,
  name: string,
  states: WeakMap<object, S>,
  bit: number,
  dispatch: Dispatch<S>,
): void {
  let found = false;
  for (let o: object | null = target; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    const d = Object.getOwnPropertyDescriptor(o, member);
    if (d === undefined || typeof d.value !== "function") continue;
    found = true;
    if (hookFunctions.has(d.value)) continue;
    if (!d.writable) throw new UnsupportedWeriftError([`${name}.${member}`]);
    (o as Record<string, unknown>)[member] = makeHook(states, bit, d.value as Fn, dispatch);
  }
  if (!found) throw new UnsupportedWeriftError([`${name}.${member}`]);
}

/**
 * Make sure `connection`'s class (and any own wrapper on it) is hooked; its calls are dispatched once a
 * record for it is {@link AgentHooks.activate}d. Nothing of the agent itself is changed.
 * @throws UnsupportedWeriftError a hooked member is missing.
 */
export function hookAgent(connection: WeriftConnection, name: string): void {
  for (const [i, member] of CONNECTION_HOOKS.entries()) {
    hookMember(connection, member, name, agents, 1 << i, connectionDispatch[member]);
  }
}

/** Hook `pc.close()` and `pc.secureManager.createTransport()` and dispatch them to `hooks`. */
export function hookPeerConnection(pc: object, manager: object, hooks: PeerConnectionHooks): void {
  for (const member of PEER_CONNECTION_HOOKS) hookMember(pc, member, "pc", peerConnections, 1, pcDispatch);
  for (const member of SECURE_MANAGER_HOOKS) {
    hookMember(manager, member, "pc.secureManager", peerConnections, 2, managerDispatch);
  }
  peerConnections.set(pc, hooks);
  peerConnections.set(manager, hooks);
}

// ---- protocols -------------------------------------------------------------------------------------

/**
 * A UDP `StunProtocol`'s `connectionMade` (an own field werift assigns in the constructor) becomes this
 * shared function: `this` is the protocol, its owner runs it.
 */
const ownedConnectionMade = function (this: object, ...args: unknown[]): Promise<void> {
  const owner = protocols.get(this);
  if (owner === undefined) return Promise.reject(new Error("udpmux: a protocol without its owner"));
  return owner.connectionMade(this, args);
};

/** Run werift's UDP `StunProtocol` `protocol` by `owner` (see {@link ProtocolOwner}). */
export function takeOverUdpProtocol(protocol: { connectionMade: unknown }, owner: ProtocolOwner): void {
  protocols.set(protocol, owner);
  protocol.connectionMade = ownedConnectionMade; // replaces the value of an existing own field
}

/** The hook of a TCP protocol's prototype `member`: its owner's, if it has one, else werift's. */
function makeTcpHook(member: TcpProtocolHook, original: Fn): Fn {
  const hook = function (this: object, ...args: unknown[]): unknown {
    const owner = protocols.get(this);
    const run = owner?.[member];
    return run === undefined ? original.apply(this, args) : run.call(owner, this, args);
  } as Fn;
  hookFunctions.add(hook);
  return hook;
}

/**
 * Run werift's TCP protocol `protocol` by `owner`: its class's `connectionMade`, `sendFrame`, `sendData` and
 * `listeningPort` are hooked (once per class) and dispatch to the owner's members it has.
 * @throws UnsupportedWeriftError a hooked member is missing.
 */
export function takeOverTcpProtocol(protocol: object, owner: ProtocolOwner): void {
  for (const member of TCP_PROTOCOL_HOOKS) {
    if (owner[member] === undefined) continue;
    let found = false;
    for (
      let o: object | null = protocol;
      o !== null && o !== Object.prototype;
      o = Object.getPrototypeOf(o)
    ) {
      const d = Object.getOwnPropertyDescriptor(o, member);
      if (d === undefined || typeof d.value !== "function") continue;
      found = true;
      if (!hookFunctions.has(d.value)) (o as Record<string, unknown>)[member] = makeTcpHook(member, d.value);
    }
    if (!found) throw new UnsupportedWeriftError([`TcpProtocol.${member}`]);
  }
  if (owner.listeningPort !== undefined) {
    const getter = getterOf(protocol, TCP_PORT_GETTER);
    if (getter === undefined) throw new UnsupportedWeriftError([`TcpPassiveProtocol.${TCP_PORT_GETTER}`]);
    if (!hookFunctions.has(getter.get)) {
      const original = getter.get;
      const get = function (this: object): unknown {
        const owner = protocols.get(this);
        return owner?.listeningPort === undefined ? original.call(this) : owner.listeningPort(this);
      };
      hookFunctions.add(get);
      // a prototype's accessor, redefined once per werift copy (never an instance's)
      Object.defineProperty(getter.holder, TCP_PORT_GETTER, { get, configurable: true });
    }
  }
  protocols.set(protocol, owner);
}

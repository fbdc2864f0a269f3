/**
 * Shared helpers of the werift adapter tests: the werift versions under test, loopback-only plain agents,
 * the ICE handshake between two agents, and a guard recording every socket bind, every datagram
 * destination and every host-name lookup of the process.
 */
import dgram from "node:dgram";
import dns from "node:dns";
import { isIP } from "node:net";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import { RTCPeerConnection as RTCPeerConnection025, Connection as Werift025Connection } from "werift";
import { RTCPeerConnection as RTCPeerConnection024, Connection as Werift024Connection } from "werift-024";
import { Connection as Ice023Connection } from "werift-ice";

/** The common shape of the three `Connection` classes, as the tests drive them. */
export interface IceAgent {
  localUsername: string;
  localPassword: string;
  localCandidates: { host: string; port: number; type: string; toSdp(): string; relatedAddress?: string }[];
  remoteCandidates: unknown[];
  state: string;
  stunServer: unknown;
  generation: number;
  iceControlling: boolean;
  nominated?: {
    remoteAddr: [string, number];
    localCandidate: { host: string; port: number };
    consentRequestsSent: number;
    responsesReceived: number;
  };
  userHistory: Record<string, string>;
  protocols: unknown[];
  onData: { subscribe(fn: (data: Buffer) => void): unknown };
  stateChanged: { subscribe(fn: (state: string) => void): { unSubscribe(): void } };
  gatherCandidates(): Promise<void>;
  setRemoteParams(p: { iceLite: boolean; usernameFragment: string; password: string }): void;
  addRemoteCandidate(c: unknown): Promise<void>;
  connect(): Promise<void>;
  send(data: Buffer): Promise<void>;
  restart(): Promise<void> | void;
  close(): Promise<void>;
}

export type AgentFactory = (controlling: boolean, options?: Record<string, unknown>) => IceAgent;

/** Every werift ICE implementation the adapter claims to support. */
export const ICE_FLAVORS: { name: string; create: AgentFactory }[] = [
  { name: "werift-ice 0.2.3", create: (c, o) => new Ice023Connection(c, o) as unknown as IceAgent },
  { name: "werift 0.24.4", create: (c, o) => new Werift024Connection(c, o) as unknown as IceAgent },
  { name: "werift 0.25.2", create: (c, o) => new Werift025Connection(c, o) as unknown as IceAgent },
];

/** The werift versions with an `RTCPeerConnection`. */
export const PC_FLAVORS = [
  { name: "werift 0.24.4", RTCPeerConnection: RTCPeerConnection024 },
  { name: "werift 0.25.2", RTCPeerConnection: RTCPeerConnection025 },
] as const;

/** Host candidates on 127.0.0.1 only. */
export const LOOPBACK_ICE_OPTIONS = {
  useIpv4: false,
  useIpv6: false,
  additionalHostAddresses: ["127.0.0.1"],
};

/**
 * A plain (unmuxed) werift agent gathering on 127.0.0.1 only, with werift's STUN default removed:
 * `stunServer: undefined` is not enough (werift falls back to its public default, never contacted here), so the field is cleared
 * after construction.
 */
export function plainAgent(create: AgentFactory, controlling: boolean): IceAgent {
  const agent = create(controlling, { ...LOOPBACK_ICE_OPTIONS });
  agent.stunServer = undefined;
  return agent;
}

/** A plain RTCPeerConnection on loopback: same STUN fix, for each of its ICE transports. */
export function disableWeriftStun(pc: object): void {
  const manager = (pc as { secureManager: { createTransport: (...a: unknown[]) => unknown } }).secureManager;
  const create = manager.createTransport;
  manager.createTransport = (...args: unknown[]) => {
    const dtls = create.apply(manager, args) as { iceTransport: { connection: { stunServer: unknown } } };
    dtls.iceTransport.connection.stunServer = undefined;
    return dtls;
  };
}

export const LOOPBACK_PC_CONFIG = {
  bundlePolicy: "max-bundle" as const,
  iceServers: [],
  iceUseIpv4: false,
  iceUseIpv6: false,
  iceAdditionalHostAddresses: ["127.0.0.1"],
};

/** Gather both, exchange credentials and candidates, run the checks; resolves when both are connected. */
export async function connectAgents(a: IceAgent, b: IceAgent): Promise<void> {
  await Promise.all([a.gatherCandidates(), b.gatherCandidates()]);
  a.setRemoteParams({ iceLite: false, usernameFragment: b.localUsername, password: b.localPassword });
  b.setRemoteParams({ iceLite: false, usernameFragment: a.localUsername, password: a.localPassword });
  for (const c of b.localCandidates) await a.addRemoteCandidate(c);
  for (const c of a.localCandidates) await b.addRemoteCandidate(c);
  await a.addRemoteCandidate(undefined);
  await b.addRemoteCandidate(undefined);
  await Promise.all([a.connect(), b.connect()]);
}

/** The next datagram `agent` receives as application data. */
export function nextData(agent: IceAgent): Promise<Buffer> {
  return new Promise((resolve) => {
    let done = false;
    agent.onData.subscribe((data) => {
      if (done) return;
      done = true;
      resolve(data);
    });
  });
}

/** Send `payload` from `from` and resolve with what `to` received. */
export async function roundTrip(from: IceAgent, to: IceAgent, payload: string): Promise<string> {
  const received = nextData(to);
  await from.send(Buffer.from(payload));
  return (await received).toString();
}

/** Resolves when `agent` reaches `state`. */
export function stateReached(agent: IceAgent, state: string): Promise<void> {
  if (agent.state === state) return Promise.resolve();
  return new Promise((resolve) => {
    const sub = agent.stateChanged.subscribe((s) => {
      if (s !== state) return;
      sub.unSubscribe();
      resolve();
    });
  });
}

export function isLoopback(address: string): boolean {
  const bare = address.replace(/%.*$/, "").toLowerCase();
  if (isIP(bare) === 4) return bare.startsWith("127.");
  return bare === "::1" || bare.startsWith("::ffff:127.");
}

/** Every bind, every non-loopback destination and every host-name lookup of the process while installed. */
export interface NetworkGuard {
  readonly binds: string[];
  readonly violations: string[];
  restore(): void;
}

export function installNetworkGuard(): NetworkGuard {
  const binds: string[] = [];
  const violations: string[] = [];
  const proto = dgram.Socket.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const bind = proto.bind!;
  const send = proto.send!;
  const lookup = dns.lookup;
  const promisesLookup = dns.promises.lookup;
  proto.bind = function (this: dgram.Socket, ...args: unknown[]) {
    const first = args[0];
    const address =
      first !== null && typeof first === "object" ? (first as { address?: string }).address : args[1];
    binds.push(String(address ?? "(any)"));
    return bind.apply(this, args);
  };
  proto.send = function (this: dgram.Socket, ...args: unknown[]) {
    // send(msg, [offset, length,] port, address, callback?)
    const address = args.find((a, i) => i > 0 && typeof a === "string") as string | undefined;
    if (address !== undefined && !isLoopback(address)) violations.push(`datagram to ${address}`);
    return send.apply(this, args);
  };
  (dns as { lookup: unknown }).lookup = (host: string, ...rest: unknown[]) => {
    // dgram resolves IP literals through dns.lookup too (without any query): let those through.
    if (isIP(host) !== 0) return (lookup as (...a: unknown[]) => unknown)(host, ...rest);
    violations.push(`dns lookup ${host}`);
    const cb = rest.find((r) => typeof r === "function") as ((e: Error) => void) | undefined;
    cb?.(new Error(`network guard: no DNS (${host})`));
  };
  (dns.promises as { lookup: unknown }).lookup = async (host: string, ...rest: unknown[]) => {
    if (isIP(host) !== 0) return (promisesLookup as (...a: unknown[]) => unknown)(host, ...rest);
    violations.push(`dns lookup ${host}`);
    throw new Error(`network guard: no DNS (${host})`);
  };
  return {
    binds,
    violations,
    restore() {
      proto.bind = bind;
      proto.send = send;
      (dns as { lookup: unknown }).lookup = lookup;
      (dns.promises as { lookup: unknown }).lookup = promisesLookup;
    },
  };
}

/** UDP socket handles alive in the process. */
export function udpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "UDPWRAP").length;
}

/** How long `Closer` waits for one close. */
const CLOSE_TIMEOUT_MS = 5000;

/** Close everything registered, all at once, whatever happens. */
export class Closer {
  readonly #items: (() => unknown)[] = [];
  add<T extends { close(): unknown }>(item: T): T {
    this.#items.push(Object.assign(() => item.close(), { toString: () => item.constructor.name }));
    return item;
  }
  /** Close everything; resolves with the names of closes that did not settle in time (assert it empty). */
  async closeAll(): Promise<string[]> {
    const items = this.#items.splice(0).reverse();
    const stuckNames: string[] = [];
    await Promise.allSettled(
      items.map(async (close) => {
        // a close that never settles must not hang the suite: it is reported instead
        let timer: NodeJS.Timeout | undefined;
        const stuck = new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            stuckNames.push(String(close));
            resolve();
          }, CLOSE_TIMEOUT_MS);
        });
        await Promise.race([close(), stuck]);
        clearTimeout(timer);
      }),
    );
    return stuckNames;
  }
}

/**
 * The setup every werift test file shares: the network guard installed around the file, and after each
 * test every agent, peer connection and mux closed without error and no off-loopback traffic recorded.
 * Call once at the top level of a test file.
 */
export function useWeriftSuite(options: { afterEachFirst?: () => void } = {}): {
  closer: Closer;
  readonly guard: NetworkGuard;
} {
  let guard: NetworkGuard | undefined;
  const closer = new Closer();
  beforeAll(() => {
    guard = installNetworkGuard();
  });
  afterAll(() => guard?.restore());
  afterEach(async () => {
    options.afterEachFirst?.();
    expect(await closer.closeAll()).toEqual([]);
    expect(guard!.violations).toEqual([]);
  });
  return {
    closer,
    get guard() {
      return guard!;
    },
  };
}

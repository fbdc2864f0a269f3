/**
 * Options of `attachUDPMux()`, their defaults and their validation. Addresses are IP literals only: the
 * adapter never resolves a host name.
 */
import type { AddressInfo } from "node:net";
import { isIP } from "node:net";
import type { FamilyPlan, Interfaces, TcpPlan } from "../adapter/address-plan.js";
import {
  addDefaultAddresses,
  describeListen,
  interfaceAddresses,
  listenPlans,
  resolveTcpPlans,
} from "../adapter/address-plan.js";
import type { Family } from "../address.js";
import { isWildcard } from "../address.js";
import { invalidArgType, invalidArgValue, invalidArgValueMessage } from "../errors.js";
import { TCPMux } from "../tcp/mux.js";
import { validateOptionNames, validatePort, validateTimeout } from "../validate.js";
import { DEFAULT_PEER_CHECK_TIMEOUT_MS } from "./empty-check-list.js";
import { NoAddressToAnnounceError } from "./errors.js";

/** A STUN server, by IP address (never a host name: the adapter resolves nothing). */
export interface StunServer {
  address: string;
  port: number;
}

/** Options of {@link attachUDPMux}. */
export interface AttachUDPMuxOptions {
  /**
   * The IP addresses to advertise as host candidates, all with the mux's port. Use it for a NAT 1:1 or
   * cloud public IP, or to pick interfaces. Each must be of a family the mux reaches (a udp6 mux on `::`
   * reaches both), and the list must not be empty (leave it out for the default).
   * @default the mux's bound address; when it is bound to a wildcard, every non-internal, non-link-local
   * interface address of the families it reaches: IPv4 for `0.0.0.0`, IPv6 and IPv4 for `::` (dual stack)
   */
  announcedAddresses?: string[];
  /**
   * STUN servers (`{ address, port }`: an IP literal of a family with an announced address, a port from 1 to
   * 65535) to learn server-reflexive candidates from, queried through the mux's socket with
   * `mux.getXorMappedAddress()` (one request per server per cache period, shared by every agent). werift's
   * own STUN gathering (its public default, never contacted, and any STUN entry of `iceServers`) is always off
   * for attached agents: no STUN server is contacted unless it is listed here.
   * @default []
   */
  stunServers?: StunServer[];
  /**
   * How long an agent whose check list is empty when it starts connecting — the peer signalled
   * end-of-candidates and gave no usable candidate (none, or only `.local` ones, which attached agents
   * ignore) — waits for the peer's checks, which make a peer-reflexive pair, before ICE fails. werift itself
   * fails at once; RFC 8863 asks for at least 39.5 s. An integer from 0 (werift's behaviour) to 2³¹−1, as
   * every `*Ms` option (`ERR_OUT_OF_RANGE` otherwise).
   * @default 39500
   */
  peerCheckTimeoutMs?: number;
  /**
   * A TCP mux (`TCPMux`) for ICE-TCP (RFC 6544): the agent also advertises a `tcptype passive` host
   * candidate on each announced address with the TCP mux's port, binds no TCP listener of its own, and
   * answers the connections the TCP mux routes to it — for peers that can't use UDP. No need to set
   * werift's `iceUseTcp` (`useTcp`); set it to also get werift's active TCP candidates (werift dials out from
   * sockets of its own). Closing the TCP mux closes the agents that use it. A TCP mux serves the agents of
   * one UDP mux at a time (it routes by ufrag, and ufrags are unique per UDP mux): once that UDP mux has
   * closed, it can serve another. Anything but a `TCPMux` is refused (`ERR_INVALID_ARG_TYPE`): the agent
   * would advertise a TCP candidate nothing answers.
   * @default undefined (no TCP candidates unless werift's own `iceUseTcp`, which listens per agent)
   */
  tcpMux?: TCPMux;
}

/** Every option's name, for the unknown-option check (the compiler keeps it complete). */
const ATTACH_OPTIONS = {
  announcedAddresses: true,
  stunServers: true,
  peerCheckTimeoutMs: true,
  tcpMux: true,
} satisfies Record<keyof AttachUDPMuxOptions, true>;
export const ATTACH_OPTION_NAMES: readonly string[] = Object.keys(ATTACH_OPTIONS);

/** Options checked and filled in, per family. */
export interface ResolvedAttachOptions {
  families: FamilyPlan[];
  stunServers: (StunServer & { family: Family })[];
  peerCheckTimeoutMs: number;
  /** The TCP mux and the families it serves, with `options.tcpMux`. */
  tcp: { mux: TCPMux; plans: TcpPlan[] } | undefined;
}

function familyOfIp(address: string): Family | undefined {
  const v = isIP(address);
  return v === 4 ? "IPv4" : v === 6 ? "IPv6" : undefined;
}

/**
 * An address of a family the mux can't reach (an IPv6 one for a udp4 mux, an IPv4 one for a mux on an IPv6
 * address other than `::`): what is wrong, and how to reach that family.
 */
function unreachableFamily(name: string, address: string, family: Family, listen: AddressInfo[]): TypeError {
  const fix =
    family === "IPv6"
      ? `bind the mux with \`type: "udp6"\` on "::" (dual stack) to reach both families`
      : `bind the mux on "::" (dual stack) or "0.0.0.0" to reach IPv4`;
  return invalidArgValueMessage(
    `\`${name}\` "${address}" is ${family}, but the mux listens on ${describeListen(listen)} and can't reach ` +
      `${family} peers: use an address of the mux's family, or ${fix}`,
  );
}

/**
 * Check `options` against the mux's listen addresses; throw a `TypeError` naming the first bad value.
 * `interfaces`: the host's, for the wildcard default (a parameter so tests can pass their own).
 */
export function resolveAttachOptions(
  options: AttachUDPMuxOptions | undefined,
  listen: AddressInfo[],
  interfaces?: Interfaces,
): ResolvedAttachOptions {
  if (options !== undefined && (options === null || typeof options !== "object")) {
    throw invalidArgType("options", "an object", options);
  }
  if (options !== undefined) validateOptionNames(options, ATTACH_OPTION_NAMES);
  const byFamily = listenPlans(listen);
  const announced = options?.announcedAddresses;
  if (announced === undefined) {
    addDefaultAddresses(byFamily, listen, interfaces);
  } else {
    if (!Array.isArray(announced)) {
      throw invalidArgType("options.announcedAddresses", "an array of IP addresses", announced);
    }
    if (announced.length === 0) {
      throw invalidArgValueMessage(
        "`options.announcedAddresses` is empty: pass at least one address, or leave it out to announce the " +
          "host's addresses",
      );
    }
    for (const [i, address] of announced.entries()) {
      const name = `options.announcedAddresses[${i}]`;
      if (typeof address !== "string") throw invalidArgType(name, "an IP address string", address);
      const family = familyOfIp(address);
      if (family === undefined || address.includes("%")) {
        throw invalidArgValue(name, "an IP address (no host name, no zone id)", address);
      }
      const plan = byFamily.get(family);
      if (plan === undefined) throw unreachableFamily(name, address, family, listen);
      if (isWildcard(address)) throw invalidArgValue(name, "a unicast address, not a wildcard", address);
      if (!plan.addresses.includes(address)) plan.addresses.push(address);
    }
  }

  const servers = options?.stunServers ?? [];
  if (!Array.isArray(servers)) {
    throw invalidArgType("options.stunServers", "an array of { address, port }", servers);
  }
  const stunServers = servers.map((server, i) => {
    const name = `options.stunServers[${i}]`;
    if (server === null || typeof server !== "object") throw invalidArgType(name, "an object", server);
    if (typeof server.address !== "string") {
      throw invalidArgType(`${name}.address`, "an IP address string", server.address);
    }
    const family = familyOfIp(server.address);
    if (family === undefined) {
      throw invalidArgValue(
        `${name}.address`,
        "an IP address (host names are never resolved)",
        server.address,
      );
    }
    if (!byFamily.has(family)) throw unreachableFamily(`${name}.address`, server.address, family, listen);
    validatePort(server.port, `${name}.port`);
    if (byFamily.get(family)!.addresses.length === 0) {
      throw invalidArgValue(
        `${name}.address`,
        `an address of a family with an announced host address (srflx candidates relate to one)`,
        server.address,
      );
    }
    return { address: server.address, port: server.port, family };
  });

  // 0 is werift's own behaviour (fail at once); the upper bound is every `*Ms` option's.
  const peerCheckTimeoutMs = validateTimeout(
    options?.peerCheckTimeoutMs ?? DEFAULT_PEER_CHECK_TIMEOUT_MS,
    "options.peerCheckTimeoutMs",
    { min: 0 },
  );

  // A family with nothing to announce gets no host protocol, so the agent doesn't use it.
  const families = [...byFamily.values()].filter((plan) => plan.addresses.length > 0);
  if (families.length === 0) {
    // A wildcard bind on a host with no non-internal interface address in the mux's families (an explicit
    // list is never empty, above): an agent with no candidate is useless. A udp4 mux on an IPv6-only host
    // is told its fix, `type: "udp6"`.
    const ipv6 = byFamily.has("IPv6") ? [] : interfaceAddresses("IPv6", interfaces);
    throw new NoAddressToAnnounceError(
      listen.map((l) => l.address),
      ipv6,
    );
  }
  const tcpMux = options?.tcpMux;
  let tcp: ResolvedAttachOptions["tcp"];
  if (tcpMux !== undefined) {
    // Not duck-typed: a UDPMux has the same methods, and its port would be advertised as a TCP candidate.
    // (The build shares one copy of the core between the entry points, so `instanceof` holds across them.)
    if (!(tcpMux instanceof TCPMux)) throw invalidArgType("options.tcpMux", "a TCPMux", tcpMux);
    tcp = { mux: tcpMux, plans: resolveTcpPlans(families, tcpMux.getListenAddresses()) };
  }
  return { families, stunServers, peerCheckTimeoutMs, tcp };
}

/** Each mux's last resolved options (see {@link shareAttachOptions}). */
const lastResolved = new WeakMap<object, ResolvedAttachOptions>();

/**
 * `resolved`, or an equal resolution already made for `mux`: agents attached with the same options share one
 * (immutable) plan instead of each holding its own copy (~600 B of arrays and objects per agent, heap
 * snapshot). The kept one is compact: exact-size arrays.
 */
export function shareAttachOptions(mux: object, resolved: ResolvedAttachOptions): ResolvedAttachOptions {
  const last = lastResolved.get(mux);
  if (last !== undefined && sameAttachOptions(last, resolved)) return last;
  const compact: ResolvedAttachOptions = {
    families: resolved.families.map((p) => ({
      family: p.family,
      local: p.local,
      addresses: p.addresses.slice(),
    })),
    stunServers: resolved.stunServers.slice(),
    peerCheckTimeoutMs: resolved.peerCheckTimeoutMs,
    tcp:
      resolved.tcp === undefined
        ? undefined
        : {
            mux: resolved.tcp.mux,
            plans: resolved.tcp.plans.map((p) => ({
              family: p.family,
              port: p.port,
              addresses: p.addresses.slice(),
            })),
          },
  };
  lastResolved.set(mux, compact);
  return compact;
}

function sameAttachOptions(a: ResolvedAttachOptions, b: ResolvedAttachOptions): boolean {
  return (
    a.peerCheckTimeoutMs === b.peerCheckTimeoutMs &&
    sameList(a.families, b.families, (p, q) => {
      const [l, m] = [p.local, q.local];
      const sameLocal = l.address === m.address && l.port === m.port && l.family === m.family;
      return p.family === q.family && sameLocal && sameList(p.addresses, q.addresses, Object.is);
    }) &&
    sameList(
      a.stunServers,
      b.stunServers,
      (s, t) => s.address === t.address && s.port === t.port && s.family === t.family,
    ) &&
    (a.tcp === undefined
      ? b.tcp === undefined
      : b.tcp !== undefined &&
        a.tcp.mux === b.tcp.mux &&
        sameList(
          a.tcp.plans,
          b.tcp.plans,
          (p, q) =>
            p.family === q.family && p.port === q.port && sameList(p.addresses, q.addresses, Object.is),
        ))
  );
}

function sameList<T>(a: readonly T[], b: readonly T[], same: (x: T, y: T) => boolean): boolean {
  return a.length === b.length && a.every((x, i) => same(x, b[i]!));
}

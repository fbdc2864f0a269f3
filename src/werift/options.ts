/**
 * Options of `attachUDPMux()`, their defaults and their validation. Addresses are IP literals only: the
 * adapter never resolves a host name.
 */
import type { AddressInfo } from "node:net";
import { isIP } from "node:net";
import type { FamilyPlan, TcpPlan } from "../adapter/address-plan.js";
import { addDefaultAddresses, listenPlans, resolveTcpPlans } from "../adapter/address-plan.js";
import type { Family } from "../address.js";
import { isWildcard } from "../address.js";
import { invalidArgType, invalidArgValue } from "../errors.js";
import { TCPMux } from "../tcp/mux.js";
import { validatePort, validateTimeout } from "../validate.js";
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
   * cloud public IP, or to pick interfaces. Each must be of a family the mux listens on.
   * @default the mux's bound address; when it is bound to a wildcard (`0.0.0.0`, `::`), every
   * non-internal, non-link-local interface address of that family
   */
  announcedAddresses?: string[];
  /**
   * STUN servers to learn server-reflexive candidates from, queried through the mux's socket with
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

/** Check `options` against the mux's listen addresses; throw a `TypeError` naming the first bad value. */
export function resolveAttachOptions(
  options: AttachUDPMuxOptions | undefined,
  listen: AddressInfo[],
): ResolvedAttachOptions {
  if (options !== undefined && (options === null || typeof options !== "object")) {
    throw invalidArgType("options", "an object", options);
  }
  const byFamily = listenPlans(listen);
  const announced = options?.announcedAddresses;
  if (announced === undefined) {
    addDefaultAddresses(byFamily, listen);
  } else {
    if (!Array.isArray(announced)) {
      throw invalidArgType("options.announcedAddresses", "an array of IP addresses", announced);
    }
    for (const [i, address] of announced.entries()) {
      const name = `options.announcedAddresses[${i}]`;
      if (typeof address !== "string") throw invalidArgType(name, "an IP address string", address);
      const family = familyOfIp(address);
      if (family === undefined || address.includes("%")) {
        throw invalidArgValue(name, "an IP address (no host name, no zone id)", address);
      }
      const plan = byFamily.get(family);
      if (plan === undefined) {
        throw invalidArgValue(
          name,
          `an address of a family the mux listens on (${[...byFamily.keys()]})`,
          address,
        );
      }
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
    if (!byFamily.has(family)) {
      throw invalidArgValue(
        `${name}.address`,
        `an address of a family the mux listens on (${[...byFamily.keys()]})`,
        server.address,
      );
    }
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
    // e.g. a wildcard bind on a host with no non-internal interface: an agent with no candidate is useless.
    if (announced === undefined) throw new NoAddressToAnnounceError(listen.map((l) => l.address));
    throw invalidArgValue(
      "options.announcedAddresses",
      "a host address to announce (the mux is bound to a wildcard and no interface has one)",
      announced,
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

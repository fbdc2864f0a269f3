/**
 * The candidates an adapter adds to an ICE agent itself, as plain descriptions: extra host candidates (every
 * announced address after the first of its family, UDP and TCP) and server-reflexive candidates from
 * `options.stunServers`. Stack-agnostic: the werift adapter turns a {@link CandidateSpec} into werift's
 * `Candidate` (`makeCandidate` in `src/werift/internals.ts`).
 *
 * Priorities follow RFC 8445 §5.1.2.1 with the preferences werift uses for its own candidates (type: host
 * 126, srflx 100; local preference 8191 for UDP), so they sort with the stack's candidates; each extra
 * candidate of a type takes the next lower local preference, keeping priorities unique (§5.1.2.1).
 * Foundations follow §5.1.1.3: the same type, base address and STUN server give the same foundation.
 */
import { createHash } from "node:crypto";

const TYPE_PREFERENCE = { host: 126, srflx: 100 } as const;
/** The local preference of the first UDP candidate of a type (werift's `otherPreference`). */
const LOCAL_PREFERENCE = 8191;
/** RTP component: with rtcp-mux (which werift requires) there is only component 1. */
const COMPONENT = 1;

/** A candidate as RFC 8839 §5.1 describes it, before the agent's generation and ufrag are added. */
export interface CandidateSpec {
  foundation: string;
  component: number;
  transport: "udp" | "tcp";
  priority: number;
  host: string;
  port: number;
  type: "host" | "srflx";
  relatedAddress?: string;
  relatedPort?: number;
  tcptype?: "passive";
}

/** RFC 8445 §5.1.2.1: (2^24)·type + (2^8)·local + (256 − component). `index` lowers the local preference. */
export function candidatePriority(type: keyof typeof TYPE_PREFERENCE, index: number): number {
  return TYPE_PREFERENCE[type] * 2 ** 24 + (LOCAL_PREFERENCE - index) * 2 ** 8 + (256 - COMPONENT);
}

/** RFC 8445 §5.1.1.3 foundation: 16 hex chars (ice-chars, ≤ 32) derived from type, base and server. */
export function candidateFoundation(type: string, base: string, server = ""): string {
  return createHash("sha256").update(`${type}|udp|${base}|${server}`).digest("hex").slice(0, 16);
}

/** RFC 8445 §5.1.1.3 for TCP host candidates: same type, transport and base → same foundation. */
export function tcpFoundation(address: string): string {
  return createHash("sha256").update(`host|tcp|${address}`).digest("hex").slice(0, 16);
}

/** A UDP host candidate for an announced address beyond the first of its family. */
export function hostCandidate(address: string, port: number, index: number): CandidateSpec {
  return {
    foundation: candidateFoundation("host", address),
    component: COMPONENT,
    transport: "udp",
    priority: candidatePriority("host", index),
    host: address,
    port,
    type: "host",
  };
}

/** A server-reflexive candidate: `mapped` as the STUN server saw the mux, related to the host `base`. */
export function srflxCandidate(
  mapped: { address: string; port: number },
  base: { address: string; port: number },
  server: { address: string; port: number },
  index: number,
): CandidateSpec {
  return {
    foundation: candidateFoundation("srflx", base.address, `${server.address}:${server.port}`),
    component: COMPONENT,
    transport: "udp",
    priority: candidatePriority("srflx", index),
    host: mapped.address,
    port: mapped.port,
    type: "srflx",
    relatedAddress: base.address,
    relatedPort: base.port,
  };
}

/**
 * A `tcptype passive` host candidate for an announced address beyond the first of its family, one local
 * preference below the stack's own passive candidate `base` per `index` (RFC 8445 §5.1.2.1).
 */
export function tcpHostCandidate(
  base: { component: number; priority: number },
  address: string,
  port: number,
  index: number,
): CandidateSpec {
  return {
    foundation: tcpFoundation(address),
    component: base.component,
    transport: "tcp",
    priority: base.priority - index * 2 ** 8,
    host: address,
    port,
    type: "host",
    tcptype: "passive",
  };
}

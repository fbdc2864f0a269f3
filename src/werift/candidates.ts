/**
 * The candidates the adapter adds to a werift agent itself: extra host candidates (every announced address
 * after the first of its family) and server-reflexive candidates from `options.stunServers`.
 *
 * Priorities follow RFC 8445 §5.1.2.1 with werift's own preferences (type: host 126, srflx 100; local
 * preference 8191 for UDP), so they sort with werift's candidates; each extra candidate of a type takes the
 * next lower local preference, keeping priorities unique (§5.1.2.1). Foundations follow §5.1.1.3: the same
 * type, base address and STUN server give the same foundation.
 */
import { createHash } from "node:crypto";
import type { WeriftCandidate, WeriftCandidateConstructor } from "./internals.js";

const TYPE_PREFERENCE = { host: 126, srflx: 100 } as const;
/** werift's local preference for UDP candidates (`otherPreference`). */
const LOCAL_PREFERENCE = 8191;
/** RTP component: werift (rtcp-mux required) has only component 1. */
const COMPONENT = 1;

/** RFC 8445 §5.1.2.1: (2^24)·type + (2^8)·local + (256 − component). `index` lowers the local preference. */
export function candidatePriority(type: keyof typeof TYPE_PREFERENCE, index: number): number {
  return TYPE_PREFERENCE[type] * 2 ** 24 + (LOCAL_PREFERENCE - index) * 2 ** 8 + (256 - COMPONENT);
}

/** RFC 8445 §5.1.1.3 foundation: 16 hex chars (ice-chars, ≤ 32) derived from type, base and server. */
export function candidateFoundation(type: string, base: string, server = ""): string {
  return createHash("sha256").update(`${type}|udp|${base}|${server}`).digest("hex").slice(0, 16);
}

/** Where a candidate's agent is in its life: generation and ufrag go on every candidate it advertises. */
export interface CandidateContext {
  Candidate: WeriftCandidateConstructor;
  generation: number;
  ufrag: string;
}

/** A host candidate for an announced address beyond the first of its family. */
export function hostCandidate(
  ctx: CandidateContext,
  address: string,
  port: number,
  index: number,
): WeriftCandidate {
  return new ctx.Candidate(
    candidateFoundation("host", address),
    COMPONENT,
    "udp",
    candidatePriority("host", index),
    address,
    port,
    "host",
    undefined,
    undefined,
    undefined,
    ctx.generation,
    ctx.ufrag,
  );
}

/** A server-reflexive candidate: `mapped` as the STUN server saw the mux, related to the host `base`. */
export function srflxCandidate(
  ctx: CandidateContext,
  mapped: { address: string; port: number },
  base: { address: string; port: number },
  server: { address: string; port: number },
  index: number,
): WeriftCandidate {
  return new ctx.Candidate(
    candidateFoundation("srflx", base.address, `${server.address}:${server.port}`),
    COMPONENT,
    "udp",
    candidatePriority("srflx", index),
    mapped.address,
    mapped.port,
    "srflx",
    base.address,
    base.port,
    undefined,
    ctx.generation,
    ctx.ufrag,
  );
}

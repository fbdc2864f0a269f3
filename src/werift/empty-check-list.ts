/**
 * An attached agent whose check list is empty when it starts connecting waits for the peer's checks
 * instead of failing at once (RFC 8863, ICE "Patiently Awaiting Connectivity").
 *
 * A browser without camera/microphone permission and without a STUN server offers only mDNS host candidates
 * (`<uuid>.local`, which attached agents ignore — see `mdns-candidates.ts`) and `a=end-of-candidates`;
 * Firefox, pion and aiortc send end-of-candidates too. The peer still reaches the mux: its checks arrive
 * and werift learns its address as a peer-reflexive candidate (RFC 8445 §7.3.1.3). But werift's
 * `connect()` gives up before any check can arrive (the werift bug in `internals.ts`): its scheduling loop
 * stops as soon as `schedulingChecks()` finds no pair to check and end-of-candidates was signalled, and
 * with an empty check list it then throws "ICE negotiation failed".
 *
 * The wait ({@link keepWaitingForPeerChecks}, one field of the agent's UDP binding: no object of its own), used
 * as the agent's `keepScheduling`: while `connect()` runs, when werift's
 * `schedulingChecks()` would stop the loop it is kept polling (every 20 ms, werift's own cadence) as long as
 * the check list is empty, end-of-candidates was signalled and `timeoutMs` has not passed since the loop
 * began. The first check from the peer adds a peer-reflexive pair and werift's own code takes it from there
 * (triggered check, nomination, "connected"). If no check came within `timeoutMs`, the loop stops as
 * werift's does and `connect()` rejects with werift's own error, as werift would have at once. Nothing else
 * changes: a non-empty check list, an agent still expecting candidates (werift then waits on its own) and
 * ICE-lite agents are werift's business.
 */
import type { WeriftConnection } from "./internals.js";
import { awaitsPeerChecks } from "./internals.js";
import { weriftLog as log } from "./log.js";

/**
 * RFC 8863 §4: an agent waits at least 39.5 s (a STUN transaction's worst case: Rc = 7, RTO = 500 ms)
 * for connectivity before it declares failure, so that the peer's checks can arrive.
 */
export const DEFAULT_PEER_CHECK_TIMEOUT_MS = 39_500;

/** Where an agent keeps its wait (the UDP binding: `agent.ts`). */
export interface PeerCheckWait {
  /** When werift's scheduling loop of the current `connect()` first found nothing to check; each `connect()` (a second one after an ICE restart too) clears it, to wait anew. */
  waitingSince: number | undefined;
}

/**
 * werift's loop would stop here (`keepScheduling`); with an empty check list its `connect()` then throws.
 * `true`: keep it polling, the peer's checks may still come.
 */
export function keepWaitingForPeerChecks(
  wait: PeerCheckWait,
  connection: WeriftConnection,
  timeoutMs: number,
): boolean {
  if (!awaitsPeerChecks(connection)) return false;
  const now = performance.now();
  if (wait.waitingSince === undefined) {
    wait.waitingSince = now;
    log("no candidate pair at end-of-candidates: waiting up to %d ms for the peer's checks", timeoutMs);
  }
  if (now - wait.waitingSince < timeoutMs) return true;
  log("no check from the peer in %d ms: ICE fails, as werift decides", timeoutMs);
  return false;
}

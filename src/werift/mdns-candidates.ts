/**
 * Attached agents never resolve `.local` (mDNS) candidates: the one-port promise holds.
 *
 * werift's `Connection.addRemoteCandidate()` resolves every remote candidate whose host contains `.local`
 * with an `MdnsLookup` of its own (the `multicast-dns` package: a UDP socket on port 5353 joined to
 * 224.0.0.251, kept until the agent closes or restarts), beside the mux's port. The hook, per instance:
 * such a candidate is ignored (logged) and never reaches werift. A browser that hides its addresses behind
 * mDNS names still sends its checks to the mux, so the session connects on the peer-reflexive pair
 * werift learns from them (`empty-check-list.ts` keeps the agent waiting for them when no other candidate
 * is left).
 */
import type { WeriftConnection } from "./internals.js";
import { isMdnsCandidate } from "./internals.js";
import { weriftLog as log } from "./log.js";

/** Hook `connection` so a `.local` remote candidate is dropped (and logged) instead of resolved. */
export function ignoreMdnsCandidates(connection: WeriftConnection): void {
  const c = connection;
  const addRemoteCandidate = c.addRemoteCandidate;
  c.addRemoteCandidate = (candidate) => {
    if (candidate != null && isMdnsCandidate(candidate)) {
      log(
        "ignored remote mDNS candidate %s:%d (never resolved: no multicast socket)",
        candidate.host,
        candidate.port,
      );
      return Promise.resolve();
    }
    return addRemoteCandidate.call(c, candidate);
  };
}

/**
 * Attached agents never resolve `.local` (mDNS) candidates: the one-port promise holds.
 *
 * werift's `Connection.addRemoteCandidate()` resolves every remote candidate whose host contains `.local`
 * with an `MdnsLookup` of its own (the `multicast-dns` package: a UDP socket on port 5353 joined to
 * 224.0.0.251, kept until the agent closes or restarts), beside the mux's port. The binding (one object for
 * every agent: it has no state) drops such a candidate (logged) before werift sees it. A browser that hides
 * its addresses behind mDNS names still sends its checks to the mux, so the session connects on the
 * peer-reflexive pair werift learns from them (`empty-check-list.ts` keeps the agent waiting for them when
 * no other candidate is left).
 */
import type { Binding } from "./hooks.js";
import { isMdnsCandidate } from "./internals.js";
import { weriftLog as log } from "./log.js";

/** Drops every `.local` remote candidate (and logs it) instead of letting werift resolve it. */
export const ignoreMdnsCandidates: Binding = {
  acceptRemoteCandidate(candidate: unknown): boolean {
    if (candidate == null || typeof candidate !== "object") return true;
    const c = candidate as { host?: unknown; port?: unknown };
    if (!isMdnsCandidate(c)) return true;
    log("ignored remote mDNS candidate %s:%d (never resolved: no multicast socket)", c.host, c.port);
    return false;
  },
};

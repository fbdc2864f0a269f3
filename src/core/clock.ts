/**
 * The clock every expiry runs on. Monotonic, because a wall-clock step (NTP, a resumed VM, an operator
 * setting the date) would otherwise stall an expiry (a step back) or fire it early (a step forward).
 */

/**
 * Milliseconds on a monotonic clock (`performance.now()`: since the process started, never stepped). Only
 * differences mean anything. Read through the global on every call, so tests can fake it
 * (`vi.useFakeTimers({ toFake: [..., "performance"] })`).
 */
export function now(): number {
  return performance.now();
}

/**
 * A coarse reading of {@link now}, refreshed by whoever owns it (a mux's 1 s sweep), shared by the parts of
 * a mux that stamp times: the per-datagram path reads a field, not a clock.
 */
export class CoarseClock {
  now = now();

  /** Read the clock again; returns the new reading. */
  tick(): number {
    this.now = now();
    return this.now;
  }
}

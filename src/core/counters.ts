/**
 * The counters every mux keeps and `stats()` reports: datagrams (or frames) received, delivered to a
 * conn's reader, and dropped by reason. Kept apart from the routing so both muxes count the same way;
 * `received = delivered + dropped + (waiting in pull queues)` holds for each.
 */
import type { DropReason } from "../muxed-connection.js";

/** What {@link Counters.snapshot} returns: the counting part of a mux's `stats()`. */
export interface CounterStats {
  /** Datagrams (or frames) received since start. */
  received: number;
  /** Handed to a conn's reader (`'message'` listener or `readFrom()`). */
  delivered: number;
  /** Dropped, for any reason. */
  dropped: number;
  /** `dropped`, by reason; reasons that never happened are absent. */
  droppedByReason: Partial<Record<DropReason, number>>;
}

export class Counters {
  received = 0;
  delivered = 0;
  dropped = 0;
  readonly #byReason: Partial<Record<DropReason, number>> = {};

  drop(reason: DropReason, count = 1): void {
    this.dropped += count;
    this.#byReason[reason] = (this.#byReason[reason] ?? 0) + count;
  }

  snapshot(): CounterStats {
    return {
      received: this.received,
      delivered: this.delivered,
      dropped: this.dropped,
      droppedByReason: { ...this.#byReason },
    };
  }
}

/**
 * FrameDeadlines: `frameTimeoutMs` — a frame after the first must complete within that long of its first
 * byte. A deadline, not an idle timer: bytes dripping in don't extend it (slowloris). Time the mux spends
 * not reading the connection (flow control paused it) doesn't count: the peer can't finish a frame nobody
 * reads. Plain bookkeeping over an injected monotonic clock; the mux calls {@link FrameDeadlines.expire}
 * from its sweep and closes what it returns (see `test/tcp/link.test.ts`).
 */
import { now } from "../core/clock.js";

/** No frame is being timed; or, for `framePausedAt`, reading isn't paused. */
export const NONE = -1;

/** What the deadlines keep on each connection (fields, so the per-chunk check allocates nothing). */
export interface FrameTiming {
  /** The frame being timed, as the count of frames read before it; {@link NONE} when none is in progress. */
  frameIndex: number;
  /** When it began, on the clock, moved later by the time reading was paused. */
  frameStartedAt: number;
  /** When reading was paused, while it is; {@link NONE} otherwise. */
  framePausedAt: number;
}

export class FrameDeadlines<L extends FrameTiming> {
  readonly #timeoutMs: number;
  readonly #clock: () => number;
  /** Connections with a frame in progress whose reading is not paused. */
  readonly #running = new Set<L>();

  /** @param clock milliseconds on a monotonic clock (default `performance.now()`); never negative. */
  constructor(timeoutMs: number, clock: () => number = now) {
    this.#timeoutMs = timeoutMs;
    this.#clock = clock;
  }

  /** Connections whose deadline is running. */
  get size(): number {
    return this.#running.size;
  }

  /**
   * After reading `link`: `frames` frames are complete and another is in progress or not. A frame that
   * completed clears its deadline; a new one starts its own (from now, or from when reading resumes).
   */
  read(link: L, frames: number, inProgress: boolean): void {
    if (!inProgress) {
      if (link.frameIndex !== NONE) this.#stop(link);
      return;
    }
    if (link.frameIndex === frames) return; // the same frame: its deadline runs on
    link.frameIndex = frames;
    if (link.framePausedAt !== NONE) {
      link.frameStartedAt = link.framePausedAt; // starts counting when reading resumes
      return;
    }
    link.frameStartedAt = this.#clock();
    this.#running.add(link);
  }

  /** Reading `link` stopped (flow control): its deadline stands still until {@link resume}. Idempotent. */
  pause(link: L): void {
    if (link.framePausedAt !== NONE) return;
    link.framePausedAt = this.#clock();
    this.#running.delete(link);
  }

  /** Reading `link` goes on: a frame in progress gets what was left of its time. Harmless if not paused. */
  resume(link: L): void {
    if (link.framePausedAt === NONE) return;
    if (link.frameIndex !== NONE) {
      link.frameStartedAt += this.#clock() - link.framePausedAt;
      this.#running.add(link);
    }
    link.framePausedAt = NONE;
  }

  /** `link` is gone. */
  forget(link: L): void {
    this.#stop(link);
    link.framePausedAt = NONE;
  }

  /** Every connection whose frame is `frameTimeoutMs` old or more, now forgotten (the caller closes them). */
  expire(): L[] {
    if (this.#running.size === 0) return [];
    const at = this.#clock();
    const expired: L[] = [];
    // Not sorted by deadline (a resumed frame keeps its earlier start), so look at each: at most one per
    // routed connection, once per sweep.
    for (const link of this.#running) {
      if (at - link.frameStartedAt >= this.#timeoutMs) expired.push(link);
    }
    for (const link of expired) this.#stop(link);
    return expired;
  }

  /** Forget every deadline (the mux is closing). */
  clear(): void {
    for (const link of this.#running) link.frameIndex = NONE;
    this.#running.clear();
  }

  #stop(link: L): void {
    link.frameIndex = NONE;
    this.#running.delete(link);
  }
}

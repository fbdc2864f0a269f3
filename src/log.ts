/**
 * Logging through `debug` (namespaces `udpmux`, `udpmux:conn`, …). Paths an attacker can trigger log
 * through {@link RateLimitedLog}, so a flood can't flood the log too. Packet contents are never logged.
 */
import createDebug from "debug";
import * as clock from "./core/clock.js";

export const log = createDebug("udpmux");
export const connLog = createDebug("udpmux:conn");
export const tcpLog = createDebug("udpmux:tcp");

/** Lines per second that attacker-triggerable paths may log; the rest are counted and summarised. */
const LINES_PER_SECOND = 10;

/** A per-instance limiter: at most {@link LINES_PER_SECOND} lines a second, then one summary line. */
export class RateLimitedLog {
  #windowStart = 0;
  #lines = 0;
  #suppressed = 0;

  constructor(private readonly logger: createDebug.Debugger) {}

  log(format: string, ...args: unknown[]): void {
    if (!this.logger.enabled) return;
    const now = clock.now();
    if (now - this.#windowStart >= 1000) {
      if (this.#suppressed > 0) this.logger("%d similar lines suppressed", this.#suppressed);
      this.#windowStart = now;
      this.#lines = 0;
      this.#suppressed = 0;
    }
    if (this.#lines++ < LINES_PER_SECOND) this.logger(format, ...args);
    else this.#suppressed++;
  }
}

/**
 * Step 4 of the routing: a datagram nobody's conn takes goes to the `onUnrouted` handler (another protocol
 * sharing the port), and if it doesn't take it, is dropped — counted by reason, logged at a bounded rate.
 */
import type { RemoteInfo } from "../address.js";
import type { Counters } from "../core/counters.js";
import { connLog, log, RateLimitedLog } from "../log.js";
import type { DropReason } from "../muxed-connection.js";
import type { ResolvedOptions } from "../options.js";
import { BINDING_REQUEST, isStunMessage, messageType } from "../stun.js";

export class Unrouted {
  readonly #counters: Counters;
  readonly #handler: ResolvedOptions["onUnrouted"];
  readonly #dropLog = new RateLimitedLog(log);
  readonly #handlerLog = new RateLimitedLog(connLog);
  /** Datagrams the handler took (`stats().unrouted`). */
  taken = 0;

  constructor(counters: Counters, handler: ResolvedOptions["onUnrouted"]) {
    this.#counters = counters;
    this.#handler = handler;
  }

  /** Nobody's: the `onUnrouted` handler's if it takes it, else dropped for `reason`. */
  offer(reason: DropReason, msg: Buffer, src: RemoteInfo): void {
    const handler = this.#handler;
    if (handler !== undefined) {
      try {
        if (handler(msg, src) === true) {
          this.taken++;
          return;
        }
      } catch (err) {
        this.#handlerLog.log("onUnrouted threw: %O", err);
      }
    }
    this.drop(reason, src);
  }

  /** Count and log (rate-limited: a peer triggers it) a datagram dropped for `reason`. */
  drop(reason: DropReason, src: RemoteInfo): void {
    this.#counters.drop(reason);
    this.#dropLog.log("drop (%s) from %s:%d", reason, src.address, src.port);
  }

  /** Log, at the drop log's bounded rate, something else a peer triggered. */
  log(format: string, ...args: unknown[]): void {
    this.#dropLog.log(format, ...args);
  }
}

/** Why nobody took a datagram (step 4 of the routing). */
export function dropReason(msg: Buffer): DropReason {
  if (!isStunMessage(msg)) return "not-stun";
  return messageType(msg) === BINDING_REQUEST ? "bad-username" : "unknown-address";
}

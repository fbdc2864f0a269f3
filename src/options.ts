/**
 * The mux's options, their defaults and their validation. The README's table of bounds is checked
 * against {@link DEFAULTS} by a test, so the two can't drift apart.
 */
import { invalidArgType } from "./errors.js";
import { validateObject, validatePositiveInteger } from "./validate.js";

/** Options of {@link UDPMux}. Every bound keeps a map or a queue from growing with attacker input. */
export interface UDPMuxOptions {
  /**
   * Close the socket when the mux closes. Ignored by `UDPMux.bind()`, whose socket the mux always owns.
   * @default true
   */
  closeSocket?: boolean;
  /**
   * Datagrams a connection holds for `readFrom()` while it has no `'message'` listener; past it the newest
   * is dropped (`queue-full`). 128 × 1,200-byte media packets is about 150 KiB per conn.
   * @default 128
   */
  maxQueuedPackets?: number;
  /**
   * Candidates waiting for `accept()`. A Binding Request for an unknown ufrag beyond it is dropped and its
   * new conn removed (`accept-queue-full`), as go-libp2p does with its 32-slot channel.
   * @default 32
   */
  acceptQueueSize?: number;
  /**
   * Remote addresses associated with one conn. ICE gathers a handful of candidates per peer; 32 leaves
   * headroom while bounding what spoofed sources can add.
   * @default 32
   */
  maxAddressesPerUfrag?: number;
  /**
   * Connections alive at once, however created. A Binding Request for a new ufrag beyond it is dropped
   * (`cap-reached`).
   * @default 10000
   */
  maxConnections?: number;
  /**
   * A conn created by an inbound check and claimed by neither `getConn()` nor `accept()` within this time
   * is removed (`expired`), so unanswered first contacts can't pile up.
   * @default 10000
   */
  acceptTimeoutMs?: number;
  /**
   * A verified Binding Request for another conn takes over an address only when the address's owner has
   * not heard from it for this long (ICE consent checks run every ~5 s, RFC 7675).
   * @default 30000
   */
  addressIdleMs?: number;
  /**
   * How long a STUN request sent through `writeTo` waits for its response to be routed back by transaction
   * ID (RFC 5389's longest default retransmission span is 39.5 s; ICE checks end well before).
   * @default 30000
   */
  transactionTimeoutMs?: number;
  /**
   * Outstanding STUN transactions tracked per conn; beyond it the oldest is forgotten. An ICE agent paces
   * its checks (RFC 8445 Ta = 50 ms), so 256 covers many candidate pairs.
   * @default 256
   */
  maxTransactionsPerConn?: number;
  /**
   * How long `getXorMappedAddress()` caches a server's answer, counted from the response's arrival. Below
   * the 30 s that most NATs keep an idle UDP binding.
   * @default 25000
   */
  xorMappedAddressTtlMs?: number;
}

/** The defaults of every {@link UDPMuxOptions} bound, as documented in the README. */
export const DEFAULTS: Readonly<ResolvedOptions> = Object.freeze({
  closeSocket: true,
  maxQueuedPackets: 128,
  acceptQueueSize: 32,
  maxAddressesPerUfrag: 32,
  maxConnections: 10_000,
  acceptTimeoutMs: 10_000,
  addressIdleMs: 30_000,
  transactionTimeoutMs: 30_000,
  maxTransactionsPerConn: 256,
  xorMappedAddressTtlMs: 25_000,
});

/** Every option, filled in. */
export type ResolvedOptions = Required<UDPMuxOptions>;

const INTEGER_OPTIONS = [
  "maxQueuedPackets",
  "acceptQueueSize",
  "maxAddressesPerUfrag",
  "maxConnections",
  "acceptTimeoutMs",
  "addressIdleMs",
  "transactionTimeoutMs",
  "maxTransactionsPerConn",
  "xorMappedAddressTtlMs",
] as const;

/** Fill in defaults; throw a `TypeError` naming the first bad option. */
export function resolveOptions(options: UDPMuxOptions | undefined): ResolvedOptions {
  if (options === undefined) return { ...DEFAULTS };
  validateObject(options, "options");
  const out: ResolvedOptions = { ...DEFAULTS };
  if (options.closeSocket !== undefined) {
    if (typeof options.closeSocket !== "boolean") {
      throw invalidArgType("closeSocket", "a boolean", options.closeSocket);
    }
    out.closeSocket = options.closeSocket;
  }
  for (const name of INTEGER_OPTIONS) {
    const value = options[name];
    if (value === undefined) continue;
    out[name] = validatePositiveInteger(value, name);
  }
  return out;
}

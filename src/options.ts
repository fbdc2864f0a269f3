/**
 * The mux's options, their defaults and their validation. The README's table of bounds is checked
 * against {@link DEFAULTS} by a test, so the two can't drift apart.
 */
import type { RemoteInfo } from "./address.js";
import { invalidArgType } from "./errors.js";
import { validateObject, validateOptionNames, validatePositiveInteger, validateTimeout } from "./validate.js";

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
  /**
   * How often `stats().kernelDrops` is refreshed from `/proc/net/udp{,6}` (Linux), from `start()` on, off
   * the caller's path: an asynchronous read on an unref'd timer, one in flight at most, so `stats()` itself
   * never touches the file system. That file lists every UDP socket of the network namespace: with 15,000,
   * a read costs ~190 ms of kernel CPU on a thread-pool thread and ~10 ms of the event loop in ~480 slices,
   * so set it no shorter than you need. `refreshKernelDrops()` reads on demand.
   * @default 1000
   */
  kernelDropsIntervalMs?: number;
  /**
   * Answer Binding Requests that carry no USERNAME as a STUN server would (RFC 8489 §6.3): a success
   * response with the source's XOR-MAPPED-ADDRESS, so clients can use `stun:<this host>:<this port>`. The
   * answer is at most 32 bytes larger than the request (2.6× at worst), and answers are rate-limited per
   * source (`maxStunResponsesPerSecondPerSource`) and in total (`maxStunResponsesPerSecond`).
   * @default false
   */
  serveStun?: boolean;
  /**
   * With `serveStun`: answers a second, in total, whatever the sources; beyond, requests are dropped
   * (`stun-rate-limited`). A spoofed flood can make the port answer at most this many 40–52-byte messages
   * a second (≤ 26 KB/s at the default), so it can't be used to amplify.
   * @default 500
   */
  maxStunResponsesPerSecond?: number;
  /**
   * With `serveStun`: answers a second to one source — an IPv4 address, or an IPv6 /64 (one host holds a
   * whole /64, so counting its addresses apart would multiply its share) — within the total; beyond,
   * its requests are dropped (`stun-rate-limited`), so one flooding source can't spend the total and
   * starve the others. A client sends one query per local address per STUN server, and retransmits an
   * unanswered one after 500 ms (RFC 8489 §6.2.1): 10 answers a few clients gathering at once behind one
   * NAT, and a query refused at a burst is answered on its retransmission. The 1,024 most recently seen
   * sources are tracked (under 250 KB); one forgotten starts again with a full budget, so many sources
   * (spoofed ones included) are bounded together by the total only.
   * @default 10
   */
  maxStunResponsesPerSecondPerSource?: number;
  /**
   * Called with every datagram the routing would drop — not for one a conn takes — so the port can be
   * shared with another protocol (a TURN or QUIC server, an application's own UDP): return `true` if you
   * took it (counted in `stats().unrouted`, not as a drop). To answer, send from the same socket: create it
   * yourself and pass it to `new UDPMux(socket)`. A throwing handler counts as a drop.
   * @default undefined (unrouted datagrams are dropped)
   */
  onUnrouted?: (msg: Buffer, rinfo: RemoteInfo) => boolean;
}

/** The defaults of every {@link UDPMuxOptions} bound, as documented in the README. */
export const DEFAULTS: Readonly<Required<Omit<UDPMuxOptions, "onUnrouted">>> = Object.freeze({
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
  kernelDropsIntervalMs: 1000,
  serveStun: false,
  maxStunResponsesPerSecond: 500,
  maxStunResponsesPerSecondPerSource: 10,
});

/** The options without a default (absent means "off"): with {@link DEFAULTS}'s keys, every option's name. */
const NO_DEFAULT = { onUnrouted: true } satisfies Record<
  Exclude<keyof UDPMuxOptions, keyof typeof DEFAULTS>,
  true
>;

/**
 * The option names `new UDPMux(socket, options)` takes, derived from {@link DEFAULTS} (and the options
 * without a default, which the compiler keeps complete), so a new option is never refused as unknown.
 */
export const UDP_OPTION_NAMES: readonly string[] = Object.freeze([
  ...Object.keys(DEFAULTS),
  ...Object.keys(NO_DEFAULT),
]);

/** Every option, filled in (`onUnrouted` has no default: absent means "drop"). */
export type ResolvedOptions = Required<Omit<UDPMuxOptions, "onUnrouted">> & Pick<UDPMuxOptions, "onUnrouted">;

/**
 * Fill in defaults; throw a `TypeError` naming the first bad option, or an unknown one. `extraNames`: the
 * names the caller takes besides the mux's (`UDPMux.bind`'s `port`, `address`, …).
 */
export function resolveOptions(
  options: UDPMuxOptions | undefined,
  extraNames: readonly string[] = [],
): ResolvedOptions {
  const names = extraNames.length === 0 ? UDP_OPTION_NAMES : [...UDP_OPTION_NAMES, ...extraNames];
  const out: ResolvedOptions = fillOptions(options, DEFAULTS, names);
  const onUnrouted = options?.onUnrouted;
  if (onUnrouted !== undefined) {
    if (typeof onUnrouted !== "function") throw invalidArgType("onUnrouted", "a function", onUnrouted);
    out.onUnrouted = onUnrouted;
  }
  return out;
}

/**
 * `defaults` with the options a caller set (either mux's): every key must be one of `names`
 * ({@link validateOptionNames}), and each option is checked by the kind of its default — a boolean default
 * takes a boolean, a number default a positive safe integer, or, for a name ending in `Ms`, a duration a
 * timer can hold ({@link validateTimeout}: 1 to 2³¹−1). Booleans are checked first, then numbers, each in
 * `defaults`' key order. Throws a `TypeError`, or a `RangeError` for a duration out of range, naming the
 * first bad option. Options without a default are the caller's to check.
 */
export function fillOptions<T extends object>(
  options: Partial<T> | undefined,
  defaults: Readonly<T>,
  names: readonly string[],
): T {
  const out = { ...defaults } as T;
  if (options === undefined) return out;
  validateObject(options, "options");
  validateOptionNames(options, names);
  const keys = Object.keys(defaults) as (keyof T & string)[];
  for (const key of keys) {
    const value = options[key];
    if (value === undefined || typeof defaults[key] !== "boolean") continue;
    if (typeof value !== "boolean") throw invalidArgType(key, "a boolean", value);
    out[key] = value as T[keyof T & string];
  }
  for (const key of keys) {
    const value = options[key];
    if (value === undefined || typeof defaults[key] !== "number") continue;
    out[key] = (
      key.endsWith("Ms") ? validateTimeout(value, key) : validatePositiveInteger(value, key)
    ) as T[keyof T & string];
  }
  return out;
}

/**
 * The TCP mux's options, their defaults and their validation. The README's table of TCP bounds is checked
 * against {@link TCP_DEFAULTS} by a test.
 */
import { Server } from "node:net";
import { invalidArgType, invalidArgValue } from "../errors.js";
import { DEFAULTS, fillOptions } from "../options.js";
import { MAX_FRAME_SIZE } from "./framing.js";

/** Options of {@link TCPMux}. Every bound keeps a map, a queue or a buffer from growing with attacker input. */
export interface TCPMuxOptions {
  /**
   * Close the server when the mux closes. Ignored by `TCPMux.listen()`, whose server the mux always owns.
   * @default true
   */
  closeServer?: boolean;
  /**
   * As `UDPMux`'s: frames a conn holds for `readFrom()` without a `'message'` listener; at the bound the mux
   * pauses reading, as for `maxQueuedBytes`. @default 128
   */
  maxQueuedPackets?: number;
  /** As `UDPMux`'s: candidates waiting for `accept()`. @default 32 */
  acceptQueueSize?: number;
  /**
   * TCP connections one conn may hold (one per remote address). ICE-TCP opens one per candidate pair it
   * checks; 32 is ample while bounding what one peer can pin. @default 32
   */
  maxAddressesPerUfrag?: number;
  /** As `UDPMux`'s: conns alive at once. @default 10000 */
  maxConnections?: number;
  /** As `UDPMux`'s: an unclaimed conn made by an inbound check is removed after this. @default 10000 */
  acceptTimeoutMs?: number;
  /**
   * From accept to a complete first frame (the ICE check). A deadline, not an idle timer: bytes dripping
   * in don't extend it (slowloris). An ICE agent sends its check as soon as the connection opens; 5 s
   * covers several round trips on a slow path. @default 5000
   */
  firstFrameTimeoutMs?: number;
  /**
   * The largest first frame accepted. A Binding Request is its 20-byte header plus USERNAME (at most 513
   * bytes), PRIORITY, ICE-CONTROLLING/-CONTROLLED, USE-CANDIDATE, MESSAGE-INTEGRITY and FINGERPRINT: well
   * under 1 KiB; 2 KiB leaves room for unknown attributes. A bigger header closes the connection at once.
   * @default 2048
   */
  maxFirstFrameSize?: number;
  /**
   * TCP connections waiting for their first frame, in total. When all are taken, a new connection evicts
   * the oldest (counted `pending-evicted`): idle connections can hold no more than this many sockets, and
   * can't keep out a peer that sends its check at once (as ICE agents do). @default 256
   */
  maxPendingConnections?: number;
  /**
   * TCP connections waiting for their first frame from one source — an IPv4 address, or an IPv6 /64 (one
   * host's share of addresses: counting single IPv6 addresses would bound nothing). A browser opens one
   * per candidate pair; 16 leaves headroom while one source can't take the whole pending budget; beyond
   * it the new connection is refused. @default 16
   */
  maxPendingPerAddress?: number;
  /**
   * Routed TCP connections from one source (IPv4 address, IPv6 /64) whose check carried no verified
   * MESSAGE-INTEGRITY (their conn has no password). With `maxPendingPerAddress`, what one source without
   * credentials can hold: 16 + 48 = 64 descriptors. Connections verified against a conn's password don't
   * count (many users behind one NAT each have their own credentials). @default 48
   */
  maxUnverifiedPerAddress?: number;
  /**
   * Routed TCP connections in total. Keep the process's descriptor limit (`ulimit -n`) above this plus
   * `maxPendingConnections` plus what the rest of the process opens. @default 1024
   */
  maxTcpConnections?: number;
  /**
   * A frame after the first must complete within this of its first byte; past it the connection is closed
   * (`frame-timeout`). A deadline, not an idle timer: bytes dripping in don't extend it. A 64 KiB frame
   * takes 10 s at 52 kbit/s; a media frame (~1.2 KB) is far quicker. Checked every second, so a connection
   * is closed up to a second after. @default 10000
   */
  frameTimeoutMs?: number;
  /**
   * Bytes of frames a conn holds for its reader (`readFrom()`). At the bound the mux stops reading the
   * connections that feed it (TCP flow control slows their senders) and reads on once half is drained;
   * nothing is dropped. `maxQueuedPackets` bounds the count the same way. @default 262144 (256 KiB)
   */
  maxQueuedBytes?: number;
  /**
   * Bytes waiting to be written on one TCP connection (the peer reads slower than we send). Beyond it a
   * frame is dropped and counted (`writeDrops`), as a UDP datagram would be lost: memory stays bounded and
   * real-time data doesn't queue behind old data. 1 MiB is ~5 s of a 1.6 Mbit/s stream. @default 1048576
   */
  maxWriteBufferBytes?: number;
  /**
   * A web server to share the port with: an `http.Server`, `https.Server` (WebSocket upgrades included),
   * `http2` secure server or any `net.Server` that does not listen itself. Each new connection is
   * classified by its first bytes (at most 10): an RFC 4571 frame holding a STUN message is the mux's,
   * anything else — a TLS ClientHello, an HTTP request line — is handed to `web` untouched, the bytes
   * already read included (`web.emit("connection", socket)`), and is no longer the mux's (it leaves the
   * pending bounds, counted in `stats().webConnections`). Until it is classified a connection is pending:
   * `firstFrameTimeoutMs` closes one that hasn't said enough by then, and the pending bounds apply.
   *
   * The mux emits `'listening'` on `web` when it starts (Node's `http.Server` starts enforcing
   * `headersTimeout` and `requestTimeout`, and tracks connections for `closeAllConnections()`, on that
   * event), once per web server. The mux never closes `web` nor the connections it handed over: close
   * them yourself (`web.close()`, `web.closeAllConnections()`).
   * @default undefined (no web server: every connection must open with a check)
   */
  web?: Server;
}

/** The options that have a default: every bound. */
export type TCPMuxBounds = Required<Omit<TCPMuxOptions, "web">>;

export type ResolvedTCPMuxOptions = TCPMuxBounds & {
  /** The server that gets every connection that is not ICE-TCP, if any. */
  readonly web: Server | undefined;
};

/** The defaults of every {@link TCPMuxOptions} bound, as documented in the README. */
export const TCP_DEFAULTS: Readonly<TCPMuxBounds> = Object.freeze({
  closeServer: true,
  maxQueuedPackets: DEFAULTS.maxQueuedPackets,
  acceptQueueSize: DEFAULTS.acceptQueueSize,
  maxAddressesPerUfrag: DEFAULTS.maxAddressesPerUfrag,
  maxConnections: DEFAULTS.maxConnections,
  acceptTimeoutMs: DEFAULTS.acceptTimeoutMs,
  firstFrameTimeoutMs: 5000,
  maxFirstFrameSize: 2048,
  maxPendingConnections: 256,
  maxPendingPerAddress: 16,
  maxUnverifiedPerAddress: 48,
  maxTcpConnections: 1024,
  frameTimeoutMs: 10_000,
  maxQueuedBytes: 256 * 1024,
  maxWriteBufferBytes: 1024 * 1024,
});

/** The options without a default, if any: with {@link TCP_DEFAULTS}'s keys, every option's name. */
const NO_DEFAULT = { web: true } satisfies Record<
  Exclude<keyof TCPMuxOptions, keyof typeof TCP_DEFAULTS>,
  true
>;

/**
 * The option names `new TCPMux(server, options)` takes, derived from {@link TCP_DEFAULTS} (and the options
 * without a default, which the compiler keeps complete), so a new option is never refused as unknown.
 */
export const TCP_OPTION_NAMES: readonly string[] = Object.freeze([
  ...Object.keys(TCP_DEFAULTS),
  ...Object.keys(NO_DEFAULT),
]);

/**
 * Fill in defaults; throw a `TypeError` naming the first bad option, or an unknown one. `extraNames`: the
 * names the caller takes besides the mux's (`TCPMux.listen`'s `port`, `address`, `ipv6Only`).
 */
export function resolveTCPMuxOptions(
  options: TCPMuxOptions | undefined,
  extraNames: readonly string[] = [],
): ResolvedTCPMuxOptions {
  const names = extraNames.length === 0 ? TCP_OPTION_NAMES : [...TCP_OPTION_NAMES, ...extraNames];
  const out = fillOptions<TCPMuxBounds>(options, TCP_DEFAULTS, names);
  if (out.maxFirstFrameSize > MAX_FRAME_SIZE) {
    throw invalidArgValue(
      "maxFirstFrameSize",
      `at most ${MAX_FRAME_SIZE} (a 16-bit frame length)`,
      out.maxFirstFrameSize,
    );
  }
  return { ...out, web: validateWebServer(options?.web) };
}

/** `web`: absent, or a `net.Server` (any kind: `http`, `https`, `http2`, `tls`) that doesn't listen itself. */
function validateWebServer(web: unknown): Server | undefined {
  if (web === undefined) return undefined;
  if (!(web instanceof Server)) {
    throw invalidArgType("web", "a net.Server (an http.Server, https.Server, …)", web);
  }
  if (web.listening) {
    throw invalidArgValue("web", "a server that does not listen (the mux's server listens for both)", web);
  }
  return web;
}

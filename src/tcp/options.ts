/**
 * The TCP mux's options, their defaults and their validation. The README's table of TCP bounds is checked
 * against {@link TCP_DEFAULTS} by a test.
 */
import { invalidArgValue } from "../errors.js";
import { DEFAULTS, fillOptions } from "../options.js";
import { MAX_FRAME_SIZE } from "./framing.js";

/** Options of {@link TCPMux}. Every bound keeps a map, a queue or a buffer from growing with attacker input. */
export interface TCPMuxOptions {
  /**
   * Close the server when the mux closes. Ignored by `TCPMux.listen()`, whose server the mux always owns.
   * @default true
   */
  closeServer?: boolean;
  /** As `UDPMux`'s: frames a conn holds for `readFrom()` without a `'message'` listener. @default 128 */
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
   * TCP connections waiting for their first frame, in total. Beyond it a new connection is closed at
   * once, so a flood of idle connections can't hold more than this many sockets. @default 256
   */
  maxPendingConnections?: number;
  /**
   * TCP connections waiting for their first frame from one remote IP address. A browser opens one per
   * candidate pair; 16 leaves headroom while one address can't take the whole pending budget. @default 16
   */
  maxPendingPerAddress?: number;
  /**
   * Bytes waiting to be written on one TCP connection (the peer reads slower than we send). Beyond it a
   * frame is dropped and counted (`writeDrops`), as a UDP datagram would be lost: memory stays bounded and
   * real-time data doesn't queue behind old data. 1 MiB is ~5 s of a 1.6 Mbit/s stream. @default 1048576
   */
  maxWriteBufferBytes?: number;
}

export type ResolvedTCPMuxOptions = Required<TCPMuxOptions>;

/** The defaults of every {@link TCPMuxOptions} bound, as documented in the README. */
export const TCP_DEFAULTS: Readonly<ResolvedTCPMuxOptions> = Object.freeze({
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
  maxWriteBufferBytes: 1024 * 1024,
});

const INTEGER_OPTIONS = [
  "maxQueuedPackets",
  "acceptQueueSize",
  "maxAddressesPerUfrag",
  "maxConnections",
  "acceptTimeoutMs",
  "firstFrameTimeoutMs",
  "maxFirstFrameSize",
  "maxPendingConnections",
  "maxPendingPerAddress",
  "maxWriteBufferBytes",
] as const;

/** Fill in defaults; throw a `TypeError` naming the first bad option. */
export function resolveTCPMuxOptions(options: TCPMuxOptions | undefined): ResolvedTCPMuxOptions {
  const out = fillOptions<ResolvedTCPMuxOptions, keyof ResolvedTCPMuxOptions>(
    options,
    TCP_DEFAULTS,
    ["closeServer"],
    INTEGER_OPTIONS,
  );
  if (out.maxFirstFrameSize > MAX_FRAME_SIZE) {
    throw invalidArgValue(
      "maxFirstFrameSize",
      `at most ${MAX_FRAME_SIZE} (a 16-bit frame length)`,
      out.maxFirstFrameSize,
    );
  }
  return out;
}

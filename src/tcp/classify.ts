/**
 * What a new connection on a shared port speaks, from its first bytes: ICE-TCP or the web.
 *
 * A `TCPMux` given a web server (`web` option) shares its port with it. ICE-TCP opens with an RFC 4571 frame
 * holding a STUN Binding Request (RFC 6544 §3), and its first ten bytes are fixed enough to tell apart:
 *
 * ```
 * byte 0-1   frame length, 20 (a bare STUN header) to maxFirstFrameSize     RFC 4571
 * byte 2     STUN message type, first two bits 0                           RFC 5389 §6
 * byte 3     message type, low byte
 * byte 4-5   STUN message length: the frame length - 20, a multiple of 4
 * byte 6-9   magic cookie 0x21 0x12 0xa4 0x42
 * ```
 *
 * Anything that breaks one of these is not ICE-TCP, and is decided the moment the byte that breaks it
 * arrives: a TLS ClientHello (`0x16 0x03 …`: a 5,632-byte frame or more) and an HTTP request line (`G` is
 * 0x47: 18,176 bytes or more) after their first byte, with the default `maxFirstFrameSize` of 2048. Only a
 * stream that matches all ten bytes is ICE-TCP. The checks are those `isStunMessage` makes on a whole frame,
 * so a first frame that goes to the mux fails there only for what lies past byte 9 (its attributes).
 *
 * Pure: no state, no allocation; the caller keeps the bytes of an undecided stream (at most 9).
 */
import { HEADER_LENGTH } from "../stun.js";
import { HEADER_SIZE } from "./framing.js";

/** Bytes that decide every stream: the frame length, then the STUN header up to the end of its magic cookie. */
export const CLASSIFY_BYTES = HEADER_SIZE + 8;

/** What the first bytes of a connection are: ICE-TCP (`"stun"`), something else (`"web"`), or not yet known. */
export type FirstBytes = "stun" | "web" | undefined;

/** Where the magic cookie begins in the stream: after the frame length and 4 bytes of STUN header. */
const COOKIE_OFFSET = HEADER_SIZE + 4;
/** RFC 5389 §6's magic cookie, 0x2112A442, byte by byte. */
const COOKIE: readonly number[] = [0x21, 0x12, 0xa4, 0x42];

/**
 * Classify the first bytes of a stream (all of them so far, from its first byte; only the first
 * {@link CLASSIFY_BYTES} are read). `undefined`: every byte so far could begin ICE-TCP, and fewer than
 * {@link CLASSIFY_BYTES} have come.
 */
export function classifyFirstBytes(bytes: Uint8Array, maxFirstFrameSize: number): FirstBytes {
  const n = Math.min(bytes.length, CLASSIFY_BYTES);
  if (n === 0) return undefined;
  // The frame length's high byte alone can put it past the largest first frame.
  if (bytes[0]! * 256 > maxFirstFrameSize) return "web";
  if (n === 1) return undefined;
  const length = (bytes[0]! << 8) | bytes[1]!;
  // A STUN message is its 20-byte header plus attributes padded to 4 bytes, within the first-frame bound.
  const body = length - HEADER_LENGTH;
  if (body < 0 || body % 4 !== 0 || length > maxFirstFrameSize) return "web";
  if (n > 2 && (bytes[2]! & 0xc0) !== 0) return "web"; // a STUN message type's first two bits are 0
  if (n > 4 && bytes[4]! !== body >> 8) return "web"; // the STUN message length is the frame's body
  if (n > 5 && bytes[5]! !== (body & 0xff)) return "web";
  for (let i = COOKIE_OFFSET; i < n; i++) if (bytes[i]! !== COOKIE[i - COOKIE_OFFSET]) return "web";
  return n < CLASSIFY_BYTES ? undefined : "stun";
}

/**
 * The mux's port as its own STUN server (RFC 8489 §6.3): a Binding Request that carries no USERNAME is not a
 * connectivity check but a query "what is my address?", answered with a success response holding the
 * source's XOR-MAPPED-ADDRESS (§14.2), the same transaction ID and a FINGERPRINT. Clients that configure
 * `stun:server:port` then gather a server-reflexive candidate from the very server they will talk to.
 *
 * A STUN server on a public port is a reflector: a spoofed request makes the server answer someone else. So
 * the answer is small — 40 bytes for an IPv4 source, 52 for IPv6, against a request of at least 20: at most
 * 2.6 times the request, and never more than 32 bytes over it — and answers are rate-limited per source
 * and in total ({@link StunResponder}), so a flood is bounded and one flooding source can't spend the
 * answers every other source needs.
 */
import { crc32 } from "node:zlib";
import type { Family } from "./address.js";
import { ipv6Groups } from "./address.js";
import {
  ATTR_FINGERPRINT,
  ATTR_MESSAGE_INTEGRITY,
  ATTR_USERNAME,
  ATTR_XOR_MAPPED_ADDRESS,
  BINDING_REQUEST,
  BINDING_SUCCESS,
  HEADER_LENGTH,
  isStunMessage,
  MAGIC_COOKIE,
  messageType,
} from "./stun.js";

const FINGERPRINT_XOR = 0x5354554e;
/** Attributes a plain Binding Request may carry before we give up reading it (a real one has 0–2). */
const MAX_ATTRIBUTES = 16;

/**
 * Whether `buf` is a Binding Request for a STUN server: well-formed attributes, no USERNAME and no
 * MESSAGE-INTEGRITY (those are checks, or need credentials we don't have), and a valid FINGERPRINT if it has
 * one. Pure; never throws.
 */
export function isServerBindingRequest(buf: Uint8Array): boolean {
  if (!isStunMessage(buf) || messageType(buf) !== BINDING_REQUEST) return false;
  const end = HEADER_LENGTH + ((buf[2]! << 8) | buf[3]!);
  if (end > buf.length) return false;
  let offset = HEADER_LENGTH;
  for (let i = 0; offset < end; i++) {
    if (i === MAX_ATTRIBUTES || offset + 4 > end) return false;
    const type = (buf[offset]! << 8) | buf[offset + 1]!;
    const length = (buf[offset + 2]! << 8) | buf[offset + 3]!;
    const next = offset + 4 + ((length + 3) & ~3);
    if (next > end) return false;
    if (type === ATTR_USERNAME || type === ATTR_MESSAGE_INTEGRITY) return false;
    if (type === ATTR_FINGERPRINT) {
      if (length !== 4 || next !== end) return false; // FINGERPRINT is 4 bytes and comes last
      const expected = (crc32(buf.subarray(0, offset)) ^ FINGERPRINT_XOR) >>> 0;
      const got =
        ((buf[offset + 4]! << 24) | (buf[offset + 5]! << 16) | (buf[offset + 6]! << 8) | buf[offset + 7]!) >>>
        0;
      return expected === got;
    }
    offset = next;
  }
  return true;
}

/**
 * A Binding success response to `request` (its transaction ID) telling `address:port` as XOR-MAPPED-ADDRESS,
 * with a FINGERPRINT. `address` is a canonical IP literal of `family`.
 */
export function encodeBindingSuccess(
  request: Uint8Array,
  address: string,
  port: number,
  family: Family,
): Buffer {
  const v4 = family === "IPv4";
  const valueLength = v4 ? 8 : 20;
  const length = 4 + valueLength + 8; // XOR-MAPPED-ADDRESS, FINGERPRINT
  const buf = Buffer.alloc(HEADER_LENGTH + length);
  buf.writeUInt16BE(BINDING_SUCCESS, 0);
  buf.writeUInt16BE(length, 2);
  buf.writeUInt32BE(MAGIC_COOKIE, 4);
  buf.set(request.subarray(8, HEADER_LENGTH), 8); // the transaction ID
  let at = HEADER_LENGTH;
  buf.writeUInt16BE(ATTR_XOR_MAPPED_ADDRESS, at);
  buf.writeUInt16BE(valueLength, at + 2);
  buf[at + 5] = v4 ? 0x01 : 0x02;
  buf.writeUInt16BE(port ^ (MAGIC_COOKIE >>> 16), at + 6);
  const ip = v4 ? ipv4Bytes(address) : ipv6Bytes(address);
  // XORed with the magic cookie, and for IPv6 the transaction ID after it (RFC 8489 §14.2): bytes 4–19.
  for (let i = 0; i < ip.length; i++) buf[at + 8 + i] = ip[i]! ^ buf[4 + i]!;
  at += 4 + valueLength;
  const fingerprint = (crc32(buf.subarray(0, at)) ^ FINGERPRINT_XOR) >>> 0;
  buf.writeUInt16BE(ATTR_FINGERPRINT, at);
  buf.writeUInt16BE(4, at + 2);
  buf.writeUInt32BE(fingerprint, at + 4);
  return buf;
}

function ipv4Bytes(address: string): number[] {
  return address.split(".").map(Number);
}

/** The 16 bytes of an IPv6 literal (no zone id; an embedded dotted IPv4 tail allowed). */
function ipv6Bytes(address: string): number[] {
  return (ipv6Groups(address) ?? new Array<number>(8).fill(0)).flatMap((g) => [g >> 8, g & 0xff]);
}

/**
 * Sources whose budget {@link StunResponder} remembers. One entry — the source key, a 2-field bucket, the
 * map's slot — is 130 bytes for an IPv4 source, 226 for an IPv6 /64 (measured with `--expose-gc` after
 * 10,240 distinct sources: 133 KB and 232 KB for the full map), so it stays under 250 KB however many
 * sources, spoofed or not, send. A full map forgets its least recently seen source first; that source
 * starts again with a full budget, which only ever gives more answers, never fewer, and the total still
 * bounds them all. A source silent for a second is forgotten at the sweep: its budget would be full again
 * anyway.
 */
export const MAX_TRACKED_SOURCES = 1024;

/** A token bucket: `tokens` (≤ its rate, the burst) as of `refilledAt`. */
interface Bucket {
  tokens: number;
  refilledAt: number;
}

/** Add what `perSecond` earned since the bucket's last refill, up to a burst of `perSecond`. */
function refill(bucket: Bucket, perSecond: number, now: number): void {
  const elapsed = now - bucket.refilledAt;
  if (elapsed > 0) {
    bucket.tokens = Math.min(perSecond, bucket.tokens + (elapsed * perSecond) / 1000);
    bucket.refilledAt = now;
  }
}

/**
 * Token buckets over the answers the mux gives as a STUN server: at most `perSecond` a second in total (a
 * burst of as many), whatever the sources, so a spoofed flood makes at most that many small answers; and
 * at most `perSourcePerSecond` to one source (`sourceKey`: an IPv4 address or an IPv6 /64), so one flooding
 * source gets its own share and no more, and every other source still gets answers. A request refused by
 * either limit spends neither. Pure: the caller passes the time (ms on a monotonic clock).
 */
export class StunResponder {
  readonly #total: Bucket;
  /** Least recently seen first: every request moves its source to the end. */
  readonly #sources = new Map<string, Bucket>();
  served = 0;

  constructor(
    readonly perSecond: number,
    readonly perSourcePerSecond: number,
    now: number,
    readonly maxSources: number = MAX_TRACKED_SOURCES,
  ) {
    this.#total = { tokens: perSecond, refilledAt: now };
  }

  /** Sources remembered now (at most `maxSources`). */
  get trackedSources(): number {
    return this.#sources.size;
  }

  /** Take a token for a request from `source`; `false` when its budget, or the total, is spent. */
  take(source: string, now: number): boolean {
    let bucket = this.#sources.get(source);
    if (bucket === undefined) {
      if (this.#sources.size >= this.maxSources) {
        this.#sources.delete(this.#sources.keys().next().value as string); // the least recently seen
      }
      bucket = { tokens: this.perSourcePerSecond, refilledAt: now };
    } else {
      this.#sources.delete(source); // re-inserted below: now the most recently seen
      refill(bucket, this.perSourcePerSecond, now);
    }
    this.#sources.set(source, bucket);
    refill(this.#total, this.perSecond, now);
    if (bucket.tokens < 1 || this.#total.tokens < 1) return false;
    bucket.tokens--;
    this.#total.tokens--;
    this.served++;
    return true;
  }

  /** Forget sources not seen for a second: their budget is full again, so nothing is lost. */
  sweep(now: number): void {
    for (const [source, bucket] of this.#sources) {
      if (now - bucket.refilledAt < 1000) break; // in order of last sight: the rest are more recent
      this.#sources.delete(source);
    }
  }
}

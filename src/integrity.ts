/**
 * Short-term-credential checks of a Binding Request (RFC 5389 §15.4, §15.5): MESSAGE-INTEGRITY is an
 * HMAC-SHA1 keyed with the receiver's ICE password over the message up to the attribute, with the header's
 * length field rewritten to end just after it; FINGERPRINT (checked whenever present) is CRC-32 of the message up to it, XOR
 * 0x5354554e. Both verify in constant time with respect to the expected value.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { crc32 } from "node:zlib";
import type { BindingRequest } from "./stun.js";
import { HEADER_LENGTH } from "./stun.js";

const FINGERPRINT_XOR = 0x5354554e;

/**
 * Whether `buf` (already parsed into `req`) carries a valid MESSAGE-INTEGRITY for `password`. A request
 * without MESSAGE-INTEGRITY fails. Never throws.
 */
export function verifyMessageIntegrity(buf: Uint8Array, req: BindingRequest, password: string): boolean {
  const mi = req.integrityOffset;
  if (mi === -1) return false;
  const header = Buffer.from(buf.subarray(0, HEADER_LENGTH));
  header.writeUInt16BE(mi + 24 - HEADER_LENGTH, 2);
  const hmac = createHmac("sha1", password);
  hmac.update(header);
  hmac.update(buf.subarray(HEADER_LENGTH, mi));
  const expected = hmac.digest();
  return timingSafeEqual(expected, buf.subarray(mi + 4, mi + 24));
}

/** Whether the FINGERPRINT of `buf` is valid, or absent. Never throws. */
export function verifyFingerprint(buf: Uint8Array, req: BindingRequest): boolean {
  const at = req.fingerprintOffset;
  if (at === -1) return true;
  // The length field already ends after FINGERPRINT, since the parser made sure it is the last attribute.
  const expected = (crc32(buf.subarray(0, at)) ^ FINGERPRINT_XOR) >>> 0;
  const got = ((buf[at + 4]! << 24) | (buf[at + 5]! << 16) | (buf[at + 6]! << 8) | buf[at + 7]!) >>> 0;
  return expected === got;
}

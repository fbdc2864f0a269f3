/**
 * Echo payloads that verify themselves: a 4-byte big-endian sequence number, then bytes derived from it.
 * Unordered channels may echo out of order, so a reply is matched by its number, then compared whole.
 */

export const MIN_PAYLOAD = 1024;
export const MAX_PAYLOAD = 16 * 1024;

/** Size of message `seq` of `stream`, spread over [MIN_PAYLOAD, MAX_PAYLOAD] and reproducible. */
export function payloadSize(stream: number, seq: number): number {
  const span = MAX_PAYLOAD - MIN_PAYLOAD + 1;
  return MIN_PAYLOAD + (((Math.imul(seq + 1, 2_654_435_761) ^ Math.imul(stream + 1, 40_503)) >>> 0) % span);
}

export function makePayload(stream: number, seq: number): Uint8Array {
  const bytes = new Uint8Array(payloadSize(stream, seq));
  new DataView(bytes.buffer).setUint32(0, seq);
  let x = (Math.imul(stream + 1, 0x9e3779b1) ^ seq) >>> 0 || 1;
  for (let i = 4; i < bytes.length; i++) {
    // xorshift32: every byte of every message differs from its neighbours and from other streams.
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

/** The sequence number of an echoed payload, or undefined when it is not a byte-exact copy of one we sent. */
export function checkEcho(stream: number, received: Uint8Array): number | undefined {
  if (received.byteLength < 4) return undefined;
  const seq = new DataView(received.buffer, received.byteOffset, received.byteLength).getUint32(0);
  const expected = makePayload(stream, seq);
  if (expected.byteLength !== received.byteLength) return undefined;
  for (let i = 0; i < expected.length; i++) if (expected[i] !== received[i]) return undefined;
  return seq;
}

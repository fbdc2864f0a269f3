/**
 * RFC 4571 framing, as ICE-TCP uses it (RFC 6544 §3): every packet on the stream is preceded by its
 * length as a 16-bit big-endian integer, so a frame carries 0 to 65,535 bytes.
 *
 * {@link FrameReader} turns a TCP byte stream — chunks cut anywhere, several frames in one chunk, one frame
 * over many — back into frames. A frame that lies whole inside one chunk is handed out as a view of that
 * chunk (no copy: `net.Socket` gives each `'data'` event a buffer of its own); one that spans chunks is
 * copied together once, when complete. What it buffers is bounded by `maxFrameSize + 2` bytes.
 */

/** The largest payload a 16-bit length can announce. */
export const MAX_FRAME_SIZE = 0xffff;

/** The length header's size. */
export const HEADER_SIZE = 2;

/** What {@link FrameReader.push} found. */
export type PushResult =
  /** Every complete frame was handed out; any rest is buffered. */
  | "ok"
  /** `onFrame` returned `false`: the reader stopped there, with the rest of the chunk unread. */
  | "stopped"
  /** A header announced more than `maxFrameSize` bytes: the stream is unusable. */
  | "oversized";

export class FrameReader {
  /** Chunks of the frame being assembled (header included), oldest first. */
  #chunks: Buffer[] = [];
  #buffered = 0;

  /** @param maxFrameSize the largest payload accepted; can be raised later (e.g. after a first frame). */
  constructor(public maxFrameSize: number = MAX_FRAME_SIZE) {}

  /** Bytes held for a frame not yet complete. */
  get buffered(): number {
    return this.#buffered;
  }

  /**
   * Feed a chunk; `onFrame` gets each complete frame in order. It may return `false` to stop reading (the
   * rest of this chunk is dropped, and the reader should be discarded).
   */
  push(chunk: Buffer, onFrame: (frame: Buffer) => boolean | undefined): PushResult {
    let data = chunk;
    let offset = 0;
    if (this.#buffered > 0) {
      // Complete the header, then the frame, from the head of this chunk.
      const need = this.#need(data);
      if (need === "oversized") return "oversized";
      if (need === undefined || this.#buffered + data.length < need) {
        this.#hold(data);
        return "ok";
      }
      const take = need - this.#buffered;
      this.#chunks.push(data.subarray(0, take));
      const whole = Buffer.concat(this.#chunks, need);
      this.#chunks = [];
      this.#buffered = 0;
      if (onFrame(whole.subarray(HEADER_SIZE)) === false) return "stopped";
      data = data.subarray(take);
    }
    while (data.length - offset >= HEADER_SIZE) {
      const length = data.readUInt16BE(offset);
      if (length > this.maxFrameSize) return "oversized";
      const end = offset + HEADER_SIZE + length;
      if (end > data.length) break;
      if (onFrame(data.subarray(offset + HEADER_SIZE, end)) === false) return "stopped";
      offset = end;
    }
    if (offset < data.length) this.#hold(data.subarray(offset));
    return "ok";
  }

  /** The whole size (header + payload) of the frame being assembled, once its header is known. */
  #need(next: Buffer): number | undefined | "oversized" {
    let header: number;
    if (this.#buffered >= HEADER_SIZE) header = this.#chunks[0]!.readUInt16BE(0);
    else if (this.#buffered + next.length >= HEADER_SIZE) header = (this.#chunks[0]![0]! << 8) | next[0]!;
    else return undefined;
    if (header > this.maxFrameSize) return "oversized";
    return HEADER_SIZE + header;
  }

  #hold(rest: Buffer): void {
    // Keep the header contiguous in the first chunk, so #need can read it there.
    if (this.#chunks.length === 1 && this.#chunks[0]!.length < HEADER_SIZE) {
      this.#chunks[0] = Buffer.concat([this.#chunks[0]!, rest]);
    } else {
      this.#chunks.push(rest);
    }
    this.#buffered += rest.length;
  }

  /** Forget what is buffered. */
  clear(): void {
    this.#chunks = [];
    this.#buffered = 0;
  }
}

/** `payload` with its RFC 4571 header, ready to write; `undefined` when it can't be framed (> 65,535 B). */
export function frame(payload: Uint8Array): Buffer | undefined {
  if (payload.length > MAX_FRAME_SIZE) return undefined;
  const out = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  out.writeUInt16BE(payload.length, 0);
  out.set(payload, HEADER_SIZE);
  return out;
}

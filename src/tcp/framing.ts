/**
 * RFC 4571 framing, as ICE-TCP uses it (RFC 6544 §3): every packet on the stream is preceded by its
 * length as a 16-bit big-endian integer, so a frame carries 0 to 65,535 bytes.
 *
 * {@link FrameReader} turns a TCP byte stream — chunks cut anywhere, several frames in one chunk, one frame
 * over many — back into frames, holding memory in proportion to what the frames cost, never to how the
 * stream was cut:
 *
 * - A frame that lies whole inside one chunk is handed out as a view of that chunk: no copy, no allocation
 *   (`net.Socket` gives each `'data'` event a buffer of its own). This is the hot path.
 * - A frame that spans chunks gets its buffer allocated exactly once, as soon as its length is known, and
 *   each arriving piece is copied into it; no chunk is kept. A half-received header (one byte) is kept in a
 *   number. So a peer dripping a frame one byte per TCP segment costs the frame's size plus a small
 *   constant per reader (see the memory test in `test/tcp/framing.test.ts`), not a `Buffer` per byte.
 * - A consumer that is full returns `"pause"`: the unread rest of the chunk is kept as a view (no copy) until
 *   {@link FrameReader.resume}. The caller should stop reading the socket meanwhile, so TCP flow control
 *   slows the sender (as pion's TCP mux does); what arrives anyway is kept, never dropped.
 *
 * Everything here is pure and never throws, whatever the bytes (an exception thrown by `onFrame` itself
 * propagates to the caller of `push`/`resume`, and the rest of that chunk is then lost).
 */

/** The largest payload a 16-bit length can announce. */
export const MAX_FRAME_SIZE = 0xffff;

/** The length header's size. */
export const HEADER_SIZE = 2;

/** What a frame's consumer tells the {@link FrameReader} to do next. */
export type FrameAction =
  /** Go on: hand out the next frame. */
  | undefined
  /** The stream is being rejected: stop here and forget the rest; the reader is done ("stopped"). */
  | "stop"
  /** The consumer is full: hand out no more frames until {@link FrameReader.resume}, but keep the rest. */
  | "pause";

/** Receives each complete frame, in order. The frame is the consumer's to keep: it is never reused. */
export type FrameHandler = (frame: Buffer) => FrameAction;

/** What {@link FrameReader.push} or {@link FrameReader.resume} found. */
export type PushResult =
  /** Every complete frame was handed out; a frame not yet complete is held. */
  | "ok"
  /** `onFrame` returned `"stop"` (now or earlier): the reader is done and holds nothing. */
  | "stopped"
  /** `onFrame` returned `"pause"` (now or earlier): the unread rest is kept until {@link FrameReader.resume}. */
  | "paused"
  /** A header announced more than `maxFrameSize` bytes (now or earlier): the stream is unusable. */
  | "oversized";

/** No byte of a header is held. */
const NO_HEADER_BYTE = -1;

/**
 * Reads RFC 4571 frames from a byte stream fed chunk by chunk (see the module comment for the algorithm).
 *
 * Memory: {@link held} bytes, at most `maxFrameSize + 2` for the frame being assembled plus, while paused,
 * the unread rest of the chunks pushed.
 *
 * `"stopped"` and `"oversized"` are final: every later `push`/`resume` returns the same result without
 * calling `onFrame` (the stream's frame boundaries are lost), and {@link clear} does not revive the reader.
 *
 * `onFrame` must not call `push`, `resume` or `clear` on the same reader; it returns `"stop"` or `"pause"`
 * instead.
 */
export class FrameReader {
  /** The first byte of a header whose second byte hasn't arrived, or {@link NO_HEADER_BYTE}. */
  #headerByte = NO_HEADER_BYTE;
  /** The payload of the frame being assembled, allocated at its full length once its header was read. */
  #frame: Buffer | undefined = undefined;
  /** Bytes of `#frame` received so far. */
  #filled = 0;
  /** What a pause left unread, oldest first: views of the chunks pushed, never copies. */
  #rest: Buffer[] = [];
  #restBytes = 0;
  #paused = false;
  /** Set once the stream is unusable; every later call returns it. */
  #done: "stopped" | "oversized" | undefined = undefined;

  /**
   * @param maxFrameSize the largest payload accepted; a header announcing more makes `push` return
   *   `"oversized"`. Can be raised later (e.g. from `onFrame`, after a first frame): it is checked when
   *   each header completes. @default MAX_FRAME_SIZE
   */
  constructor(public maxFrameSize: number = MAX_FRAME_SIZE) {}

  /** Whether a frame is partly received (at least one header byte, not yet complete): for a deadline. */
  get started(): boolean {
    return this.#headerByte !== NO_HEADER_BYTE || this.#frame !== undefined;
  }

  /** Bytes received for the frame not yet complete, header included (0 when none is {@link started}). */
  get buffered(): number {
    if (this.#frame !== undefined) return HEADER_SIZE + this.#filled;
    return this.#headerByte === NO_HEADER_BYTE ? 0 : 1;
  }

  /**
   * Bytes held in all: the frame being assembled, counted at its full announced size (its buffer is
   * allocated as soon as its header is read) plus its header, and the unread rest a pause kept (the bytes
   * of the views, not the whole chunks they pin). At most `maxFrameSize + 2` while not paused.
   */
  get held(): number {
    let bytes = this.#restBytes;
    if (this.#frame !== undefined) bytes += HEADER_SIZE + this.#frame.length;
    else if (this.#headerByte !== NO_HEADER_BYTE) bytes += 1;
    return bytes;
  }

  /** Whether `onFrame` returned `"pause"` and {@link resume} hasn't been called since. */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Feed the next chunk of the stream; `onFrame` gets each complete frame in order, until it returns
   * `"stop"` or `"pause"`. While paused, the chunk is only kept (a view, no copy) and `onFrame` is not
   * called: the result is `"paused"`. A frame lying whole in `chunk` is a view of it, so `chunk` must not
   * be written to afterwards (a `net.Socket` `'data'` chunk never is).
   */
  push(chunk: Buffer, onFrame: FrameHandler): PushResult {
    if (this.#done !== undefined) return this.#done;
    if (this.#paused) {
      this.#keep(chunk);
      return "paused";
    }
    return this.#read(chunk, onFrame);
  }

  /**
   * Leave a pause: hand out the frames in the kept rest, as `push` would have. `onFrame` may pause again
   * (`"paused"`). Returns `"ok"` when everything kept was read (a frame may be left incomplete, waiting for
   * the next `push`); harmless when not paused.
   */
  resume(onFrame: FrameHandler): PushResult {
    if (this.#done !== undefined) return this.#done;
    this.#paused = false;
    while (this.#rest.length > 0) {
      const piece = this.#rest.shift()!;
      this.#restBytes -= piece.length;
      const result = this.#read(piece, onFrame);
      if (result !== "ok") return result;
    }
    return "ok";
  }

  /**
   * Forget everything held: the frame being assembled, the rest a pause kept, the pause itself. The next
   * `push` starts at a frame boundary. A reader that returned `"stopped"` or `"oversized"` stays so.
   */
  clear(): void {
    this.#headerByte = NO_HEADER_BYTE;
    this.#frame = undefined;
    this.#filled = 0;
    this.#rest = [];
    this.#restBytes = 0;
    this.#paused = false;
  }

  /** Read `data` (not paused): finish the frame started, hand out the whole ones, start the next. */
  #read(data: Buffer, onFrame: FrameHandler): PushResult {
    const end = data.length;
    let offset = 0;
    let action: FrameAction;

    // 1. Finish a frame started in earlier chunks.
    if (this.#frame !== undefined) {
      const payload = this.#frame;
      const take = Math.min(payload.length - this.#filled, end);
      data.copy(payload, this.#filled, 0, take);
      this.#filled += take;
      if (this.#filled < payload.length) return "ok";
      this.#frame = undefined;
      this.#filled = 0;
      offset = take;
      action = onFrame(payload);
    } else if (this.#headerByte !== NO_HEADER_BYTE) {
      if (end === 0) return "ok";
      const length = (this.#headerByte << 8) | data[0]!;
      this.#headerByte = NO_HEADER_BYTE;
      if (length > this.maxFrameSize) return this.#finish("oversized");
      offset = 1;
      if (end - offset < length) return this.#start(data, offset, length);
      // Only the header was split: the payload lies whole in this chunk, so it can be a view too.
      offset += length;
      action = onFrame(data.subarray(1, offset));
    }
    if (action !== undefined) {
      if (action === "stop") return this.#finish("stopped");
      if (action === "pause") return this.#pause(data, offset);
    }

    // 2. The hot path: frames lying whole in this chunk, as views of it.
    while (end - offset >= HEADER_SIZE) {
      const length = (data[offset]! << 8) | data[offset + 1]!;
      if (length > this.maxFrameSize) return this.#finish("oversized");
      const start = offset + HEADER_SIZE;
      if (end - start < length) return this.#start(data, start, length);
      offset = start + length;
      action = onFrame(data.subarray(start, offset));
      if (action !== undefined) {
        if (action === "stop") return this.#finish("stopped");
        if (action === "pause") return this.#pause(data, offset);
      }
    }

    // 3. Half a header: a number, not a Buffer.
    if (offset < end) this.#headerByte = data[offset]!;
    return "ok";
  }

  /** A frame of `length` bytes whose payload begins at `data[offset]` and runs past its end. */
  #start(data: Buffer, offset: number, length: number): PushResult {
    // allocUnsafeSlow: a buffer of its own, so a small frame doesn't pin a shared 8 KiB pool slab.
    const payload = Buffer.allocUnsafeSlow(length);
    this.#filled = data.copy(payload, 0, offset);
    this.#frame = payload;
    return "ok";
  }

  /** `onFrame` paused with `data` read up to `offset`: keep the rest for {@link resume}. */
  #pause(data: Buffer, offset: number): PushResult {
    this.#paused = true;
    if (offset < data.length) {
      // In front: when resume pauses again, this piece precedes the chunks pushed while paused.
      this.#rest.unshift(offset === 0 ? data : data.subarray(offset));
      this.#restBytes += data.length - offset;
    }
    return "paused";
  }

  /** Append a chunk pushed while paused. */
  #keep(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#rest.push(chunk);
    this.#restBytes += chunk.length;
  }

  /** The stream is unusable: release everything and remember why. */
  #finish(result: "stopped" | "oversized"): PushResult {
    this.clear();
    this.#done = result;
    return result;
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

/**
 * RFC 4571 framing, property-based: any frames, cut into any chunks, with the consumer pausing (and
 * resuming after some more chunks arrived) or stopping anywhere, come out the same, in order, byte for byte;
 * any bytes at all give the frames up to the first header over `maxFrameSize`, then "oversized", and never
 * an exception. After every call, what the reader holds is checked against a model of the stream.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type FrameAction,
  FrameReader,
  frame,
  HEADER_SIZE,
  MAX_FRAME_SIZE,
  type PushResult,
} from "../../src/tcp/framing.js";

/** `length` bytes drawn from `seed` (xorshift32): quick to make even at 65,535 bytes, unlike fc.uint8Array. */
function payload(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Mostly media-sized payloads (0–2,000 bytes), now and then up to the 16-bit limit. */
const payloadArb = fc
  .record({
    length: fc.oneof(
      { weight: 40, arbitrary: fc.integer({ min: 0, max: 2000 }) },
      { weight: 1, arbitrary: fc.integer({ min: 2001, max: MAX_FRAME_SIZE }) },
    ),
    seed: fc.integer(),
  })
  .map(({ length, seed }) => payload(length, seed));

/** How a stream is cut: every byte alone, all in one chunk, or chunks of the sizes listed (cycled). */
const cuttingArb = fc.oneof(
  fc.constant("bytes" as const),
  fc.constant("whole" as const),
  fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 30 }),
  fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 30 }),
  fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 10 }), // up to net's 64 KiB reads
);

/** `stream` cut as `cutting` says, each chunk a buffer of its own, as `net.Socket` gives. */
function cut(stream: Buffer, cutting: "bytes" | "whole" | number[]): Buffer[] {
  if (cutting === "whole") return [Buffer.from(stream)];
  const sizes = cutting === "bytes" ? [1] : cutting;
  const chunks: Buffer[] = [];
  for (let at = 0, i = 0; at < stream.length; i++) {
    const size = sizes[i % sizes.length]!;
    chunks.push(Buffer.from(stream.subarray(at, at + size)));
    at += size;
  }
  return chunks;
}

/**
 * When the consumer pauses (`pauses`, cycled, one entry per frame) and how many chunks are pushed while it
 * is paused before it resumes (`delays`, cycled, one entry per pause).
 */
const scheduleArb = fc.record({
  pauses: fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }),
  delays: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 10 }),
});
type Schedule = typeof scheduleArb extends fc.Arbitrary<infer T> ? T : never;

interface Drive {
  reader: FrameReader;
  chunks: Buffer[];
  schedule: Schedule;
  /** The frame index on which the consumer returns "stop". */
  stopAt?: number | undefined;
  /** Raise `maxFrameSize` to the 16-bit limit after the first frame, as the TCP mux does. */
  raise?: boolean;
}

/**
 * Push every chunk, pausing and resuming as `schedule` says, then resume until the reader is no longer
 * paused; checks the reader's state against the stream after every call. The frames are copied.
 */
function drive({ reader, chunks, schedule, stopAt, raise }: Drive): { frames: Buffer[]; result: PushResult } {
  const stream = Buffer.concat(chunks);
  const frames: Buffer[] = [];
  /** Bytes of the stream handed out as frames, headers included. */
  let consumed = 0;
  let pushed = 0;
  const onFrame = (f: Buffer): FrameAction => {
    const n = frames.length;
    frames.push(Buffer.from(f));
    consumed += HEADER_SIZE + f.length;
    if (raise) reader.maxFrameSize = MAX_FRAME_SIZE;
    if (n === stopAt) return "stop";
    return schedule.pauses[n % schedule.pauses.length] ? "pause" : undefined;
  };

  /** The first "stopped" or "oversized", and how many frames had come out by then. */
  let final: { result: PushResult; frames: number } | undefined;
  // Checked after every call, up to ~10^5 calls a run: plain comparisons, `expect` only to report a failure.
  const check = (result: PushResult) => {
    const { buffered, held, started, paused } = reader;
    if (final !== undefined) {
      // Final: every later call returns the same, reads nothing.
      if (result !== final.result || frames.length !== final.frames) {
        expect({ result, frames: frames.length }).toEqual(final);
      }
    } else if (result === "stopped" || result === "oversized") {
      final = { result, frames: frames.length };
    }
    if (final !== undefined) {
      if (held !== 0 || buffered !== 0 || started || paused) {
        expect({ held, buffered, started, paused }).toEqual({
          held: 0,
          buffered: 0,
          started: false,
          paused: false,
        });
      }
      return;
    }
    /** Pushed and not yet read: the rest a pause kept. */
    const rest = pushed - consumed - buffered;
    // The frame being assembled is held at its announced size as soon as its header is read.
    const assembling = buffered === 0 ? 0 : buffered === 1 ? 1 : HEADER_SIZE + stream.readUInt16BE(consumed);
    const ok =
      paused === (result === "paused") &&
      started === buffered > 0 &&
      !(paused && started) && // a pause comes between frames
      rest >= 0 &&
      (paused || rest === 0) &&
      held === rest + assembling &&
      held <= reader.maxFrameSize + HEADER_SIZE + rest;
    if (!ok) {
      expect({ result, paused, started, buffered, held, rest, assembling, max: reader.maxFrameSize }).toBe(
        "consistent (see the conditions above)",
      );
    }
  };

  let result: PushResult = "ok";
  const resumeUntilRead = () => {
    while (result === "paused") {
      result = reader.resume(onFrame);
      check(result);
    }
  };
  let pauses = 0;
  let waited = 0;
  for (const chunk of chunks) {
    result = reader.push(chunk, onFrame);
    pushed += chunk.length;
    check(result);
    if (result !== "paused") continue;
    if (waited < schedule.delays[pauses % schedule.delays.length]!) {
      waited++; // the next chunks arrive while paused
      continue;
    }
    pauses++;
    waited = 0;
    resumeUntilRead();
  }
  resumeUntilRead();
  return { frames, result };
}

/**
 * `expect(actual).toEqual(expected)` for lists of buffers, without its cost (~200 ms per 64 KiB buffer):
 * compared with `Buffer.equals`, and on a mismatch, the first differing frame is what is reported.
 */
function expectSameFrames(actual: Buffer[], expected: Buffer[]): void {
  const n = Math.max(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    const a = actual[i];
    const e = expected[i];
    if (a === undefined || e === undefined || !a.equals(e)) {
      const describe = (b: Buffer | undefined) =>
        b === undefined ? "none" : `${b.length} B ${b.toString("hex", 0, 16)}…`;
      expect({ frame: i, of: actual.length, got: describe(a) }).toEqual({
        frame: i,
        of: expected.length,
        got: describe(e),
      });
    }
  }
}

/** What a correct reader hands out for `stream`: the frames up to the first header over the limit. */
function reference(stream: Buffer, maxFrameSize: number, raise: boolean) {
  const frames: Buffer[] = [];
  let max = maxFrameSize;
  let at = 0;
  while (stream.length - at >= HEADER_SIZE) {
    const length = stream.readUInt16BE(at);
    if (length > max) return { frames, oversized: true };
    if (at + HEADER_SIZE + length > stream.length) break;
    frames.push(stream.subarray(at + HEADER_SIZE, at + HEADER_SIZE + length));
    at += HEADER_SIZE + length;
    if (raise) max = MAX_FRAME_SIZE;
  }
  return { frames, oversized: false };
}

describe("FrameReader (property)", () => {
  it("any frames, any chunking, any pauses: the same frames, in order, byte for byte", () => {
    fc.assert(
      fc.property(
        fc.array(payloadArb, { maxLength: 20 }),
        cuttingArb,
        scheduleArb,
        (payloads, cutting, schedule) => {
          const stream = Buffer.concat(payloads.map((p) => frame(p)!));
          const reader = new FrameReader();
          const { frames, result } = drive({ reader, chunks: cut(stream, cutting), schedule });
          expect(result).toBe("ok");
          expectSameFrames(frames, payloads);
          expect([reader.held, reader.buffered, reader.started, reader.paused]).toEqual([0, 0, false, false]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('"stop" on any frame: the frames up to it, then "stopped" for good, holding nothing', () => {
    fc.assert(
      fc.property(
        fc.array(payloadArb, { minLength: 1, maxLength: 10 }),
        fc.nat(),
        cuttingArb,
        scheduleArb,
        (payloads, stop, cutting, schedule) => {
          const stopAt = stop % payloads.length;
          const stream = Buffer.concat(payloads.map((p) => frame(p)!));
          const reader = new FrameReader();
          const { frames, result } = drive({ reader, chunks: cut(stream, cutting), schedule, stopAt });
          expect(result).toBe("stopped");
          expectSameFrames(frames, payloads.slice(0, stopAt + 1));
          expect(reader.held).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('any bytes: the frames before the first header over maxFrameSize, then "oversized"; never a throw', () => {
    fc.assert(
      fc.property(
        // Some well-formed frames (not all under the limit) before random bytes, so both ends are reached.
        fc.array(fc.uint8Array({ maxLength: 400 }), { maxLength: 5 }),
        fc.uint8Array({ maxLength: 3000 }),
        fc.integer({ min: 0, max: 300 }),
        fc.boolean(),
        cuttingArb,
        scheduleArb,
        (prefix, noise, maxFrameSize, raise, cutting, schedule) => {
          const stream = Buffer.concat([...prefix.map((p) => frame(p)!), noise]);
          const reader = new FrameReader(maxFrameSize);
          const { frames, result } = drive({ reader, chunks: cut(stream, cutting), schedule, raise });
          const expected = reference(stream, maxFrameSize, raise);
          expectSameFrames(frames, expected.frames);
          expect(result).toBe(expected.oversized ? "oversized" : "ok");
        },
      ),
      { numRuns: 300 },
    );
  });
});

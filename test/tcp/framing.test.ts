/** RFC 4571 framing: byte-level cases and a property test over arbitrary chunkings of a frame stream. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrameReader, frame, MAX_FRAME_SIZE } from "../../src/tcp/framing.js";

/** Every frame `reader` hands out for `chunks`, copied (views of chunks are only valid while read). */
function read(reader: FrameReader, chunks: Buffer[]): { frames: Buffer[]; results: string[] } {
  const frames: Buffer[] = [];
  const results = chunks.map((c) => reader.push(c, (f) => void frames.push(Buffer.from(f))));
  return { frames, results };
}

describe("frame", () => {
  it("prefixes the 16-bit big-endian length", () => {
    expect(frame(Buffer.from([0xaa, 0xbb, 0xcc]))).toEqual(
      Buffer.from([0x00, 0x03 /* length 3 */, 0xaa, 0xbb, 0xcc]),
    );
    expect(frame(Buffer.alloc(0))).toEqual(Buffer.from([0x00, 0x00]));
    expect(frame(Buffer.alloc(MAX_FRAME_SIZE))?.readUInt16BE(0)).toBe(0xffff);
  });

  it("refuses what 16 bits can't announce", () => {
    expect(frame(Buffer.alloc(MAX_FRAME_SIZE + 1))).toBeUndefined();
  });
});

describe("FrameReader", () => {
  it("several frames in one chunk", () => {
    const chunk = Buffer.from([0x00, 0x01, 0x11, 0x00, 0x02, 0x21, 0x22, 0x00, 0x00]);
    const { frames } = read(new FrameReader(), [chunk]);
    expect(frames).toEqual([Buffer.from([0x11]), Buffer.from([0x21, 0x22]), Buffer.alloc(0)]);
  });

  it("a header split across chunks, and a frame over three chunks", () => {
    const reader = new FrameReader();
    const { frames } = read(reader, [
      Buffer.from([0x00]), // half a header
      Buffer.from([0x04, 0x01]), // the rest of it, one payload byte
      Buffer.from([0x02, 0x03]),
      Buffer.from([0x04, 0x00, 0x01]), // the last byte, then the next frame's header (length 1)
    ]);
    expect(frames).toEqual([Buffer.from([1, 2, 3, 4])]);
    expect(reader.buffered).toBe(2);
    const more = read(reader, [Buffer.from([0x09])]);
    expect(more.frames).toEqual([Buffer.from([0x09])]);
    expect(reader.buffered).toBe(0);
  });

  it("a whole frame in one chunk is a view of it, not a copy", () => {
    const chunk = Buffer.from([0x00, 0x02, 0x05, 0x06]);
    const seen: Buffer[] = [];
    new FrameReader().push(chunk, (f) => void seen.push(f));
    expect(seen[0]?.buffer).toBe(chunk.buffer);
  });

  it.each([
    ["in one chunk", [Buffer.from([0x01, 0x00, 0x00])]],
    ["with the header split", [Buffer.from([0x01]), Buffer.from([0x00])]],
    ["after a good frame", [Buffer.from([0x00, 0x01, 0x07, 0x01]), Buffer.from([0x00])]],
  ])("a header over maxFrameSize is oversized (%s)", (_name, chunks) => {
    const { results } = read(new FrameReader(255), chunks);
    expect(results.at(-1)).toBe("oversized");
  });

  it("stops when onFrame returns false, leaving the rest unread", () => {
    const reader = new FrameReader();
    const seen: number[] = [];
    const result = reader.push(Buffer.from([0x00, 0x01, 0x01, 0x00, 0x01, 0x02]), (f) => {
      seen.push(f[0]!);
      return false;
    });
    expect(result).toBe("stopped");
    expect(seen).toEqual([1]);
  });

  it("any chunking of any frames gives back the same frames, in order", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 50 }),
        (payloads, cuts) => {
          const stream = Buffer.concat(payloads.map((p) => frame(p)!));
          const chunks: Buffer[] = [];
          for (let at = 0, i = 0; at < stream.length; i++) {
            const size = cuts[i % cuts.length]!;
            chunks.push(Buffer.from(stream.subarray(at, at + size))); // each chunk its own buffer, as net gives
            at += size;
          }
          const reader = new FrameReader();
          const { frames, results } = read(reader, chunks);
          expect(results.every((r) => r === "ok")).toBe(true);
          expect(frames).toEqual(payloads.map((p) => Buffer.from(p)));
          expect(reader.buffered).toBe(0);
        },
      ),
    );
  });
});

/**
 * classifyFirstBytes: ICE-TCP or the web, from a connection's first bytes. Byte-level tables, then
 * properties: every prefix of a framed STUN message short of 10 bytes is undecided and 10 decide "stun";
 * once any prefix is decided, every longer one says the same.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CLASSIFY_BYTES, classifyFirstBytes } from "../../src/tcp/classify.js";
import { frame } from "../../src/tcp/framing.js";
import { bindingRequest } from "../helpers.js";

const MAX = 2048; // the default maxFirstFrameSize

/** A framed Binding Request: length, then the STUN header (see classify.ts), then attributes. */
const check = frame(bindingRequest("ufragA:peer", "password-of-at-least-22-chars"))!;

const bytes = (...values: number[]) => Buffer.from(values);

describe("classifyFirstBytes", () => {
  it("decides ICE-TCP only at the 10th byte of a framed STUN message", () => {
    for (let n = 0; n < CLASSIFY_BYTES; n++)
      expect(classifyFirstBytes(check.subarray(0, n), MAX)).toBeUndefined();
    expect(classifyFirstBytes(check.subarray(0, CLASSIFY_BYTES), MAX)).toBe("stun");
    expect(classifyFirstBytes(check, MAX)).toBe("stun");
  });

  it("decides the smallest STUN message (a bare 20-byte header) too", () => {
    // biome-ignore format: one field per line
    const header = bytes(
      0x00, 0x14, /* frame length 20 */
      0x00, 0x01, /* Binding Request */
      0x00, 0x00, /* message length 0 */
      0x21, 0x12, 0xa4, 0x42, /* magic cookie */
    );
    expect(classifyFirstBytes(header, MAX)).toBe("stun");
  });

  it.each([
    ["a TLS ClientHello", bytes(0x16 /* handshake */, 0x03, 0x01, 0x02, 0x00), 1],
    ["an HTTP GET", Buffer.from("GET / HTTP/1.1\r\n"), 1],
    ["an HTTP/2 preface", Buffer.from("PRI * HTTP/2.0\r\n"), 1],
    ["a frame one byte over maxFirstFrameSize", bytes(0x08, 0x01), 2],
    ["a frame shorter than a STUN header", bytes(0x00, 0x13 /* 19 */), 2],
    ["an empty frame", bytes(0x00, 0x00), 2],
    ["a body that is no multiple of 4", bytes(0x00, 0x16 /* 22 = 20 + 2 */), 2],
    ["a message type with its first bits set (not STUN: e.g. RTP, DTLS)", bytes(0x00, 0x14, 0x40), 3],
    ["a STUN length that isn't the frame's body (high byte)", bytes(0x00, 0x18, 0x00, 0x01, 0x01), 5],
    ["a STUN length that isn't the frame's body (low byte)", bytes(0x00, 0x18, 0x00, 0x01, 0x00, 0x08), 6],
    ["a bad first cookie byte", bytes(0x00, 0x14, 0x00, 0x01, 0x00, 0x00, 0x22), 7],
    ["a bad last cookie byte", bytes(0x00, 0x14, 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x43), 10],
  ])("sends %s to the web as soon as its byte %i arrives", (_, input, decidingByte) => {
    for (let n = 0; n < decidingByte; n++)
      expect(classifyFirstBytes(input.subarray(0, n), MAX)).toBeUndefined();
    expect(classifyFirstBytes(input.subarray(0, decidingByte), MAX)).toBe("web");
    expect(classifyFirstBytes(input, MAX)).toBe("web");
  });

  it("reads the frame length against maxFirstFrameSize", () => {
    expect(classifyFirstBytes(bytes(0x08), 2048)).toBeUndefined(); // 0x0800 = 2048 may still follow
    expect(classifyFirstBytes(bytes(0x08, 0x00), 2048)).toBeUndefined();
    expect(classifyFirstBytes(bytes(0x09), 2048)).toBe("web"); // 2304 at least
    expect(classifyFirstBytes(bytes(0x00, 0x78 /* 120 */), 100)).toBe("web");
    expect(classifyFirstBytes(bytes(0x16), 0xffff)).toBeUndefined(); // a TLS record could be a 5,635-byte frame
  });

  it("never throws, and a decision never changes as more bytes come", () => {
    const arbitrary = fc.oneof(
      fc.uint8Array({ maxLength: 16 }),
      // mostly STUN-like streams, so that later bytes get their turn
      fc.uint8Array({ maxLength: 16 }).map((tail) => Buffer.concat([check.subarray(0, 6), tail])),
    );
    fc.assert(
      fc.property(arbitrary, fc.integer({ min: 20, max: 0xffff }), (input, max) => {
        let decided: string | undefined;
        for (let n = 0; n <= input.length; n++) {
          const kind = classifyFirstBytes(input.subarray(0, n), max);
          if (decided !== undefined) expect(kind).toBe(decided);
          decided = kind;
          if (n >= CLASSIFY_BYTES) expect(kind).toBeDefined();
        }
      }),
    );
  });
});

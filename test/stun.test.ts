import { describe, expect, it } from "vitest";
import {
  classOf,
  encodeBindingRequest,
  hasUsername,
  isIceUfrag,
  isStunMessage,
  parseBindingRequest,
  parseErrorCode,
  parseMappedAddress,
} from "../src/stun.js";
import { bindingError, bindingRequest, bindingSuccess } from "./helpers.js";

/** A Binding Request with USERNAME "abcd:wxyz", written out by hand. */
const CHECK = Buffer.from([
  0x00, 0x01, /* type: Binding Request */ 0x00, 0x10 /* length: 16 */, 0x21, 0x12, 0xa4,
  0x42 /* magic cookie */, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
  0x0c /* transaction ID */, 0x00, 0x06, /* USERNAME */ 0x00, 0x09 /* length 9 */, 0x61, 0x62, 0x63, 0x64,
  0x3a, 0x77, 0x78, 0x79 /* "abcd:wxy" */, 0x7a, 0x00, 0x00, 0x00 /* "z" + padding */,
]);

function withUsername(username: Buffer | string): Buffer {
  const value = Buffer.isBuffer(username) ? username : Buffer.from(username, "latin1");
  const padded = Buffer.alloc((value.length + 3) & ~3);
  value.copy(padded);
  const header = Buffer.from(CHECK.subarray(0, 20));
  header.writeUInt16BE(4 + padded.length, 2);
  const attr = Buffer.alloc(4);
  attr.writeUInt16BE(0x0006, 0);
  attr.writeUInt16BE(value.length, 2);
  return Buffer.concat([header, attr, padded]);
}

describe("isStunMessage", () => {
  it("accepts a framed message", () => {
    expect(isStunMessage(CHECK)).toBe(true);
  });

  it.each([
    ["empty", Buffer.alloc(0)],
    ["19 bytes", CHECK.subarray(0, 19)],
    ["top bits set (RTP)", Buffer.concat([Buffer.from([0x80]), CHECK.subarray(1)])],
    ["DTLS record", Buffer.from([0x16, 0xfe, 0xfd, ...new Array(30).fill(0)])],
    ["wrong cookie", Buffer.from(CHECK).fill(0x00, 4, 5)],
    ["length longer than datagram", Buffer.from(CHECK).fill(0x20, 3, 4)],
    ["length shorter than datagram", Buffer.concat([CHECK, Buffer.alloc(4)])],
    [
      "length not a multiple of 4",
      (() => {
        const b = Buffer.concat([CHECK, Buffer.alloc(2)]);
        b.writeUInt16BE(14, 2);
        return b;
      })(),
    ],
  ])("rejects %s", (_, buf) => {
    expect(isStunMessage(buf)).toBe(false);
  });
});

describe("classOf", () => {
  it.each([
    [0x0001, "request"],
    [0x0011, "indication"],
    [0x0101, "success"],
    [0x0111, "error"],
  ] as const)("0x%s is a %s", (type, cls) => {
    expect(classOf(type)).toBe(cls);
  });
});

describe("parseBindingRequest", () => {
  it("takes the local ufrag from before ':' (RFC 8445 §7.2.2)", () => {
    expect(parseBindingRequest(CHECK)).toEqual({
      localUfrag: "abcd",
      remoteUfrag: "wxyz",
      integrityOffset: -1,
      fingerprintOffset: -1,
    });
  });

  it("agrees with the stun package's encoder, with MESSAGE-INTEGRITY and FINGERPRINT", () => {
    const buf = bindingRequest("Local+/9:Remote12", "secret-password");
    const req = parseBindingRequest(buf);
    expect(req?.localUfrag).toBe("Local+/9");
    expect(req?.remoteUfrag).toBe("Remote12");
    expect(req?.integrityOffset).toBeGreaterThan(20);
    expect(req?.fingerprintOffset).toBe(buf.length - 8);
  });

  it("accepts 256-char ufrags on both sides (USERNAME of 513 bytes is too long)", () => {
    const u = "a".repeat(255);
    expect(parseBindingRequest(withUsername(`${u}:${u}`))?.localUfrag).toBe(u);
    expect(parseBindingRequest(withUsername(`${"a".repeat(256)}:${"b".repeat(256)}`))).toBeUndefined();
  });

  it.each([
    ["no ':'", "abcdwxyz"],
    ["empty", ""],
    ["only ':'", ":"],
    ["empty local half", ":wxyz"],
    ["empty remote half", "abcd:"],
    ["short local half", "abc:wxyz"],
    ["short remote half", "abcd:wxy"],
    ["non-ice-char local", "ab-d:wxyz"],
    ["non-ice-char remote", "abcd:wx z"],
    ["two colons", "abcd:wx:z"],
    ["utf-8 in a half", "abcdé:wxyz"],
    ["NUL byte", "abcd:wx\u0000z"],
  ])("rejects USERNAME with %s", (_, username) => {
    expect(parseBindingRequest(withUsername(username))).toBeUndefined();
  });

  it("rejects a Binding Request without USERNAME", () => {
    expect(parseBindingRequest(bindingRequest())).toBeUndefined();
  });

  it.each([
    ["a success response", 0x0101],
    ["an indication", 0x0011],
    ["another method's request", 0x0003],
  ])("rejects %s", (_, type) => {
    const buf = Buffer.from(CHECK);
    buf.writeUInt16BE(type, 0);
    expect(parseBindingRequest(buf)).toBeUndefined();
  });

  it("rejects an attribute whose length runs past the message", () => {
    const buf = Buffer.from(CHECK);
    buf.writeUInt16BE(200, 22); // USERNAME claims 200 bytes
    expect(parseBindingRequest(buf)).toBeUndefined();
  });

  it("rejects a truncated datagram", () => {
    expect(parseBindingRequest(CHECK.subarray(0, CHECK.length - 4))).toBeUndefined();
  });

  it("rejects MESSAGE-INTEGRITY of the wrong size and FINGERPRINT that is not last", () => {
    const signed = bindingRequest("abcd:wxyz", "pw");
    const fp = signed.length - 8;
    const notLast = Buffer.concat([signed, Buffer.from([0x80, 0x22, 0x00, 0x00])]); // SOFTWARE after FINGERPRINT
    notLast.writeUInt16BE(notLast.length - 20, 2);
    expect(parseBindingRequest(notLast)).toBeUndefined();
    const badMi = Buffer.from(signed);
    badMi.writeUInt16BE(16, fp - 24 + 2); // MESSAGE-INTEGRITY claims 16 bytes
    expect(parseBindingRequest(badMi)).toBeUndefined();
  });

  it("ignores a USERNAME after MESSAGE-INTEGRITY (RFC 5389 §15.4)", () => {
    const mi = Buffer.alloc(24);
    mi.writeUInt16BE(0x0008, 0);
    mi.writeUInt16BE(20, 2);
    const attr = withUsername("abcd:wxyz").subarray(20);
    const buf = Buffer.concat([CHECK.subarray(0, 20), mi, attr]);
    buf.writeUInt16BE(buf.length - 20, 2);
    expect(parseBindingRequest(buf)).toBeUndefined();
  });
});

describe("isIceUfrag", () => {
  it.each([
    ["abcd", true],
    ["AZaz09+/", true],
    ["a".repeat(256), true],
    ["abc", false],
    ["a".repeat(257), false],
    ["ab:d", false],
    ["abc-", false],
  ])("%s → %s", (ufrag, ok) => {
    expect(isIceUfrag(ufrag)).toBe(ok);
  });
});

describe("hasUsername", () => {
  it("tells a server query from a check", () => {
    expect(hasUsername(bindingRequest())).toBe(false);
    expect(hasUsername(bindingRequest("abcd:wxyz"))).toBe(true);
  });
});

describe("responses", () => {
  it("reads XOR-MAPPED-ADDRESS for IPv4 and IPv6", () => {
    const req = encodeBindingRequest();
    expect(parseMappedAddress(bindingSuccess(req, { address: "203.0.113.7", port: 40001 }))).toEqual({
      address: "203.0.113.7",
      port: 40001,
      family: "IPv4",
    });
    expect(parseMappedAddress(bindingSuccess(req, { address: "2001:db8::1", port: 5 }))).toEqual({
      address: "2001:db8::1",
      port: 5,
      family: "IPv6",
    });
  });

  it("reads ERROR-CODE", () => {
    expect(parseErrorCode(bindingError(encodeBindingRequest(), 420))).toBe(420);
    expect(parseErrorCode(CHECK)).toBe(0);
  });

  it("encodes a Binding Request with a random transaction ID", () => {
    const a = encodeBindingRequest();
    const b = encodeBindingRequest();
    expect(isStunMessage(a)).toBe(true);
    expect(a.readUInt16BE(0)).toBe(0x0001);
    expect(a.subarray(8).equals(b.subarray(8))).toBe(false);
  });
});

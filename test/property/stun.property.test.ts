/**
 * Property-based tests of the routing path's STUN parser against two independent decoders: the `stun`
 * package (first USERNAME wins) and werift-ice's `parseMessage` (the parser werift itself routes with; last
 * USERNAME wins, and it checks FINGERPRINT). The parser runs before any authentication, on bytes an
 * attacker chose, so it must be total: a value or `undefined`, never an exception.
 */
import fc from "fast-check";
import stun from "stun";
import { describe, expect, it } from "vitest";
import { parseMessage } from "werift-ice/lib/ice/src/stun/message.js";
import { verifyFingerprint, verifyMessageIntegrity } from "../../src/integrity.js";

const verifyBindingRequest = (buf: Buffer, req: BindingRequest, password: string) =>
  verifyFingerprint(buf, req) && verifyMessageIntegrity(buf, req, password);

import { type BindingRequest, parseBindingRequest } from "../../src/stun.js";

const { constants } = stun;
const ATTR_USERNAME = constants.STUN_ATTR_USERNAME;

/** RFC 8839 §5.4 ice-char; USERNAME is "L:R" (RFC 8445 §7.2.2) and under 513 bytes (RFC 5389 §15.3). */
const ICE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
const ICE_USERNAME = /^[A-Za-z0-9+/]{4,256}:[A-Za-z0-9+/]{4,256}$/;

const ufrag = (maxLength = 256) =>
  fc.string({ unit: fc.constantFrom(...ICE_CHARS), minLength: 4, maxLength });

/** Attributes a real ICE check carries besides USERNAME (RFC 8445 §7.1.1), in a random order. */
const extraAttribute = fc.oneof(
  fc.record({ kind: fc.constant("priority" as const), value: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({ kind: fc.constant("use-candidate" as const) }),
  fc.record({ kind: fc.constant("software" as const), value: fc.string({ maxLength: 40 }) }),
);
type Extra = typeof extraAttribute extends fc.Arbitrary<infer T> ? T : never;

interface ValidSpec {
  username: string;
  before: Extra[];
  after: Extra[];
  password: string | undefined;
  fingerprint: boolean;
}

const validSpec: fc.Arbitrary<ValidSpec> = fc.record({
  // 256 + ':' + 255 bytes: the longest USERNAME under RFC 5389's 513-byte limit.
  username: fc.tuple(ufrag(256), ufrag(255)).map(([l, r]) => `${l}:${r}`),
  before: fc.array(extraAttribute, { maxLength: 3 }),
  after: fc.array(extraAttribute, { maxLength: 3 }),
  password: fc.option(fc.string({ minLength: 1, maxLength: 64 }), { nil: undefined }),
  fingerprint: fc.boolean(),
});

function addExtra(msg: ReturnType<typeof stun.createMessage>, extra: Extra): void {
  if (extra.kind === "priority") msg.addAttribute(constants.STUN_ATTR_PRIORITY, extra.value);
  else if (extra.kind === "use-candidate") msg.addAttribute(constants.STUN_ATTR_USE_CANDIDATE);
  else msg.addAttribute(constants.STUN_ATTR_SOFTWARE, extra.value);
}

/** A Binding Request encoded by the `stun` package. */
function encode(spec: ValidSpec): Buffer {
  const msg = stun.createMessage(constants.STUN_BINDING_REQUEST);
  for (const extra of spec.before) addExtra(msg, extra);
  msg.addAttribute(ATTR_USERNAME, spec.username);
  for (const extra of spec.after) addExtra(msg, extra);
  if (spec.password !== undefined) msg.addMessageIntegrity(spec.password);
  if (spec.fingerprint) msg.addFingerprint();
  return msg.toBuffer();
}

/** The first USERNAME as the `stun` package decodes it; `undefined` when it can't decode the message. */
function stunPackageUsername(buf: Buffer): string | undefined {
  let decoded: ReturnType<typeof stun.decode>;
  try {
    decoded = stun.decode(buf);
  } catch {
    return undefined; // the reference decoder throws on malformed input; ours must not
  }
  const value = decoded.getAttribute(ATTR_USERNAME)?.value;
  return Buffer.isBuffer(value) ? value.toString("latin1") : undefined;
}

/** werift-ice's view: `undefined` unless it parses a Binding Request (method 1, class request). */
function weriftUsername(buf: Buffer): string | undefined {
  const msg = parseMessage(buf);
  if (msg === undefined || msg.messageMethod !== 0x0001 || msg.messageClass !== 0x0000) return undefined;
  return msg.getAttributeValue("USERNAME") as string | undefined;
}

/** How many USERNAME attributes the message's top-level attribute walk finds (for werift's last-wins). */
function usernameCount(buf: Buffer): number {
  let count = 0;
  for (let at = 20; at + 4 <= buf.length; at += 4 + ((buf.readUInt16BE(at + 2) + 3) & ~3)) {
    if (buf.readUInt16BE(at) === ATTR_USERNAME) count++;
  }
  return count;
}

const joined = (req: BindingRequest) => `${req.localUfrag}:${req.remoteUfrag}`;

/** Mutations an attacker (or a broken peer) applies to a valid check. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("xor" as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("append" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
  fc.record({ kind: fc.constant("fix-length" as const) }), // make the header's length honest again
  fc.record({ kind: fc.constant("attr-length" as const), value: fc.integer({ min: 0, max: 0xffff }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(input: Buffer, mutations: Mutation[]): Buffer {
  let buf = Buffer.from(input);
  for (const m of mutations) {
    if (buf.length === 0) break;
    if (m.kind === "set") buf[m.at % buf.length] = m.value;
    else if (m.kind === "xor") buf[m.at % buf.length]! ^= m.mask;
    else if (m.kind === "truncate") buf = buf.subarray(0, m.at % buf.length);
    else if (m.kind === "append") buf = Buffer.concat([buf, m.bytes]);
    else if (m.kind === "fix-length" && buf.length >= 20) buf.writeUInt16BE((buf.length - 20) & 0xffff, 2);
    else if (m.kind === "attr-length" && buf.length >= 24) buf.writeUInt16BE(m.value, 22); // first attribute
  }
  return buf;
}

/** Random bodies behind an honest Binding Request header: gets past the framing check, unlike plain noise. */
const framedNoise = fc
  .tuple(fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.integer({ min: 0, max: 150 }))
  .chain(([tid, words]) =>
    fc.uint8Array({ minLength: words * 4, maxLength: words * 4 }).map((body) => {
      const header = Buffer.alloc(20);
      header.writeUInt16BE(0x0001, 0);
      header.writeUInt16BE(body.length, 2);
      header.writeUInt32BE(0x2112a442, 4);
      header.set(tid, 8);
      return Buffer.concat([header, body]);
    }),
  );

/**
 * Whatever our parser accepted, a reference that decodes the message must read the same USERNAME. The
 * references may refuse a whole message for an attribute the mux never reads (a PRIORITY of the wrong
 * size, a FINGERPRINT that fails — only a conn with a password checks that); the mux ignores those by
 * design. Returns how many references decoded it, so a caller can check agreement was really exercised.
 */
function expectAgreement(buf: Buffer, req: BindingRequest): number {
  let compared = 0;
  const theirs = stunPackageUsername(buf);
  if (theirs !== undefined) {
    expect(theirs).toBe(joined(req));
    compared++;
  }
  // werift keeps the last USERNAME; ours (like the stun package) the first.
  const werift = usernameCount(buf) === 1 ? weriftUsername(buf) : undefined;
  if (werift !== undefined) {
    expect(werift).toBe(joined(req));
    compared++;
  }
  return compared;
}

describe("parseBindingRequest (property)", () => {
  it("agrees with the stun package and werift-ice on every valid check, and finds its integrity attributes", () => {
    fc.assert(
      fc.property(validSpec, (spec) => {
        const buf = encode(spec);
        const req = parseBindingRequest(buf);
        expect(req).toBeDefined();
        expect(joined(req!)).toBe(spec.username);
        expect(stunPackageUsername(buf)).toBe(spec.username);
        expect(weriftUsername(buf)).toBe(spec.username);
        expect(req!.integrityOffset !== -1).toBe(spec.password !== undefined);
        expect(req!.fingerprintOffset !== -1).toBe(spec.fingerprint);
        expect(verifyFingerprint(buf, req!)).toBe(true);
        if (spec.password !== undefined) {
          expect(verifyBindingRequest(buf, req!, spec.password)).toBe(true);
          expect(verifyBindingRequest(buf, req!, `${spec.password}x`)).toBe(false);
          // werift's own check of the same MESSAGE-INTEGRITY agrees.
          expect(parseMessage(buf, Buffer.from(spec.password, "utf8"))).toBeDefined();
        }
      }),
      { numRuns: 400 },
    );
  });

  it("accepts a USERNAME exactly when it is two ICE ufrags joined by ':' within 512 bytes", () => {
    const anyUsername = fc.oneof(
      fc.string({ unit: fc.constantFrom(...ICE_CHARS, ":", " ", "-", "_", "é", "\u0000"), maxLength: 40 }),
      fc.tuple(ufrag(260), ufrag(260)).map(([l, r]) => `${l}:${r}`),
      fc.tuple(fc.string({ maxLength: 8 }), ufrag(8)).map(([l, r]) => `${l}:${r}`),
      fc.string({ unit: "grapheme", maxLength: 20 }),
    );
    fc.assert(
      fc.property(anyUsername, (username) => {
        const buf = encode({ username, before: [], after: [], password: undefined, fingerprint: false });
        const valid = ICE_USERNAME.test(username) && Buffer.byteLength(username) <= 512;
        const req = parseBindingRequest(buf);
        if (valid) {
          expect(req).toBeDefined();
          expect(joined(req!)).toBe(username);
        } else {
          expect(req).toBeUndefined();
        }
      }),
      { numRuns: 400 },
    );
  });

  it("never throws on random bytes, and anything it accepts the references decode alike", () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 600 }), framedNoise), (bytes) => {
        const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        const req = parseBindingRequest(buf); // throwing fails the property
        if (req !== undefined) expectAgreement(buf, req);
      }),
      { numRuns: 2000 },
    );
  });

  it("never throws on mutated valid checks, and anything it accepts the references decode alike", () => {
    let accepted = 0;
    let compared = 0;
    fc.assert(
      fc.property(validSpec, fc.array(mutation, { minLength: 1, maxLength: 4 }), (spec, mutations) => {
        const original = encode(spec);
        const buf = mutate(original, mutations);
        const req = parseBindingRequest(buf);
        if (req === undefined) return;
        accepted++;
        compared += expectAgreement(buf, req);
        // A mutated check verifies only if the signed bytes (all but the length field) are untouched.
        const mi = req.integrityOffset;
        if (spec.password !== undefined && mi !== -1 && verifyBindingRequest(buf, req, spec.password)) {
          expect(buf.subarray(0, 2)).toEqual(original.subarray(0, 2));
          expect(buf.subarray(4, mi + 24)).toEqual(original.subarray(4, mi + 24));
        }
      }),
      { numRuns: 1500 },
    );
    // The property must have exercised the accepting branch, not only the rejecting one.
    expect(accepted).toBeGreaterThan(50);
    expect(compared).toBeGreaterThan(accepted);
  });
});

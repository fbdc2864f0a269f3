/**
 * The mux's port as a STUN server (`serveStun`) and as a shared port (`onUnrouted`), over real loopback
 * sockets; requests encoded and answers decoded by the independent `stun` package.
 */
import type dgram from "node:dgram";
import { isIPv6, SocketAddress } from "node:net";
import stun from "stun";
import { afterEach, describe, expect, it } from "vitest";
import { encodeBindingSuccess, isServerBindingRequest } from "../../src/stun-server.js";
import { bindingRequest, closeAll, mux, nextMessage, sendTo, socket, until } from "../helpers.js";

const { constants } = stun;

afterEach(closeAll);

/** A Binding Request as a STUN client sends one: no USERNAME, optionally a FINGERPRINT. */
function query(fingerprint = false): Buffer {
  const msg = stun.createMessage(constants.STUN_BINDING_REQUEST);
  if (fingerprint) msg.addFingerprint();
  return msg.toBuffer();
}

describe("serveStun", () => {
  it.each([
    ["IPv4", "127.0.0.1", "udp4"],
    ["IPv6", "::1", "udp6"],
  ] as const)(
    "answers a client's query with its own address (%s), transaction ID and FINGERPRINT",
    async (_f, address, type) => {
      const m = await mux({ address, serveStun: true });
      const client = await socket(type);
      for (const fingerprint of [false, true]) {
        const request = query(fingerprint);
        const answer = nextMessage(client);
        client.send(request, m.getListenAddresses()[0]!.port, address);
        const { msg } = await answer;
        const decoded = stun.decode(msg);
        expect(decoded.type).toBe(constants.STUN_BINDING_RESPONSE);
        expect(decoded.transactionId).toEqual(request.subarray(8, 20));
        expect(decoded.getAttribute(constants.STUN_ATTR_XOR_MAPPED_ADDRESS)?.value).toMatchObject({
          address,
          port: client.address().port,
        });
        expect(stun.validateFingerprint(decoded)).toBe(true);
        expect(msg.length - request.length).toBeLessThanOrEqual(32); // no amplification worth the name
      }
      expect(m.stats()).toMatchObject({ stunServed: 2, dropped: 0 });
    },
  );

  it("is off by default: a query is dropped, not answered", async () => {
    const m = await mux();
    const client = await socket();
    await sendTo(m, client, query());
    expect(m.stats()).toMatchObject({ stunServed: 0, droppedByReason: { "bad-username": 1 } });
  });

  it("still routes connectivity checks by USERNAME", async () => {
    const m = await mux({ serveStun: true });
    const conn = m.getConn("checked");
    const client = await socket();
    await sendTo(m, client, bindingRequest("checked:peer"));
    expect((await conn.readFrom()).port).toBe(client.address().port);
    expect(m.stats().stunServed).toBe(0);
  });

  it("stays within maxStunResponsesPerSecond under a flood", async () => {
    const m = await mux({ serveStun: true, maxStunResponsesPerSecond: 50 });
    const client = await socket();
    let answers = 0;
    client.on("message", () => answers++);
    const { port } = m.getListenAddresses()[0]!;
    for (let i = 0; i < 500; i++) client.send(query(), port, "127.0.0.1");
    await until(() => m.stats().received === 500, 5000);
    const { stunServed, droppedByReason } = m.stats();
    // 50 a second: the flood took well under a second, so at most the burst plus a second's refill.
    expect(stunServed).toBeGreaterThanOrEqual(50);
    expect(stunServed).toBeLessThanOrEqual(100);
    expect(stunServed + droppedByReason["stun-rate-limited"]!).toBe(500);
    await until(() => answers === stunServed);
  });
});

/** An IP literal as the 4 or 16 bytes it stands for, however it is spelled. */
function ipBytes(address: string): string {
  return isIPv6(address) ? new SocketAddress({ address, family: "ipv6" }).address : address;
}

function flipLastByte(buf: Buffer): Buffer {
  const out = Buffer.from(buf);
  out[out.length - 1]! ^= 0xff;
  return out;
}

/** `buf` with its header's length field set to `length`. */
function withLength(buf: Buffer, length: number): Buffer {
  const out = Buffer.from(buf);
  out.writeUInt16BE(length, 2);
  return out;
}

describe("isServerBindingRequest / encodeBindingSuccess", () => {
  it.each([
    ["a check (USERNAME)", bindingRequest("a:b")],
    ["a signed check", bindingRequest("a:b", "password-password")],
    ["a response", stun.createMessage(constants.STUN_BINDING_RESPONSE).toBuffer()],
    ["a bad FINGERPRINT", flipLastByte(query(true))],
    [
      "an attribute longer than the message",
      withLength(Buffer.concat([query(), Buffer.from([0x80, 0x22, 0x00, 0x08])]), 4),
    ],
  ])("is not a STUN server query: %s", (_name, buf) => {
    expect(isServerBindingRequest(buf)).toBe(false);
  });

  it("encodes what the stun package decodes, IPv6 with the transaction ID in the XOR", () => {
    const request = query();
    for (const [address, family] of [
      ["2001:db8::1:2", "IPv6"],
      ["::ffff:1.2.3.4", "IPv6"],
      ["198.51.100.7", "IPv4"],
    ] as const) {
      const decoded = stun.decode(encodeBindingSuccess(request, address, 54321, family));
      const mapped = decoded.getAttribute(constants.STUN_ATTR_XOR_MAPPED_ADDRESS)?.value as {
        address: string;
      };
      expect(mapped).toMatchObject({ port: 54321 });
      expect(ipBytes(mapped.address)).toEqual(ipBytes(address));
    }
  });
});

describe("onUnrouted", () => {
  it("gets junk and STUN for no conn, never a conn's traffic; what it takes is counted apart from drops", async () => {
    const seen: Buffer[] = [];
    const m = await mux({ onUnrouted: (msg) => seen.push(Buffer.from(msg)) > 0 && msg[0] === 0x51 });
    const conn = m.getConn("owner");
    const peer = await socket();
    await sendTo(m, peer, bindingRequest("owner:peer")); // a check: the conn's, and peer's address with it
    await sendTo(m, peer, Buffer.from("conn data")); // from an associated address: the conn's
    const stranger = await socket();
    await sendTo(m, stranger, Buffer.from("QUIC-ish")); // 0x51 'Q': taken
    await sendTo(m, stranger, Buffer.from("junk")); // not taken: dropped
    await sendTo(m, stranger, stun.createMessage(constants.STUN_BINDING_RESPONSE).toBuffer()); // STUN for nobody
    expect(seen.map((b) => b.toString("latin1").slice(0, 4))).toEqual(["QUIC", "junk", expect.any(String)]);
    expect(seen[2]!.readUInt16BE(0)).toBe(constants.STUN_BINDING_RESPONSE);
    expect((await conn.readFrom()).data.readUInt16BE(0)).toBe(constants.STUN_BINDING_REQUEST);
    expect((await conn.readFrom()).data.toString()).toBe("conn data");
    expect(m.stats()).toMatchObject({
      received: 5,
      delivered: 2,
      unrouted: 1,
      dropped: 2,
      droppedByReason: { "not-stun": 1, "unknown-address": 1 },
    });
  });

  it("a throwing handler counts as a drop and doesn't break routing", async () => {
    const m = await mux({
      onUnrouted: () => {
        throw new Error("handler bug");
      },
    });
    const stranger: dgram.Socket = await socket();
    await sendTo(m, stranger, Buffer.from("junk"));
    expect(m.stats()).toMatchObject({ unrouted: 0, droppedByReason: { "not-stun": 1 } });
  });

  it("is validated", async () => {
    await expect(mux({ onUnrouted: "yes" as never })).rejects.toMatchObject({ code: "ERR_INVALID_ARG_TYPE" });
    await expect(mux({ serveStun: 1 as never })).rejects.toMatchObject({ code: "ERR_INVALID_ARG_TYPE" });
  });
});

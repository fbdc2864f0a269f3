/**
 * The mux's port as a STUN server (`serveStun`) and as a shared port (`onUnrouted`), over real loopback
 * sockets; requests encoded and answers decoded by the independent `stun` package.
 */
import dgram from "node:dgram";
import { once } from "node:events";
import { isIPv6, SocketAddress } from "node:net";
import stun from "stun";
import { afterEach, describe, expect, it } from "vitest";
import { sourceKey } from "../../src/address.js";
import { DEFAULTS } from "../../src/options.js";
import {
  encodeBindingSuccess,
  isServerBindingRequest,
  MAX_TRACKED_SOURCES,
  StunResponder,
} from "../../src/stun-server.js";
import {
  bindingRequest,
  closeAll,
  MUX_RECV_BUFFER,
  mux,
  nextMessage,
  sendTo,
  socket,
  track,
  until,
} from "../helpers.js";

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
    // The per-source limit out of the way: this is about the total.
    const m = await mux({
      serveStun: true,
      maxStunResponsesPerSecond: 50,
      maxStunResponsesPerSecondPerSource: 1000,
    });
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

  it("limits per source: a source flooding 1,000 queries gets its share, another source all its answers", async () => {
    const m = await mux({ serveStun: true }); // defaults: 10 a second per source, 500 in total
    const perSource = DEFAULTS.maxStunResponsesPerSecondPerSource;
    const { port } = m.getListenAddresses()[0]!;
    const flooder = await socket(); // 127.0.0.1
    let flooderAnswers = 0;
    flooder.on("message", () => flooderAnswers++);
    // Another port on 127.0.0.1 would be the same source: the other client is another loopback address.
    const client = track(dgram.createSocket({ type: "udp4", recvBufferSize: MUX_RECV_BUFFER }));
    client.bind(0, "127.0.0.2");
    await once(client, "listening");
    const answered = new Set<string>();
    client.on("message", (msg: Buffer) => {
      const decoded = stun.decode(msg);
      expect(decoded.getAttribute(constants.STUN_ATTR_XOR_MAPPED_ADDRESS)?.value).toMatchObject({
        address: "127.0.0.2",
        port: client.address().port,
      });
      answered.add(Buffer.from(decoded.transactionId).toString("hex"));
    });

    for (let i = 0; i < 1000; i++) flooder.send(query(), port, "127.0.0.1");
    await until(() => m.stats().received === 1000, 5000);
    // With one bucket for everyone, the flood would have spent the whole total (500) by now.
    const asked = Array.from({ length: 5 }, () => query());
    for (const q of asked) client.send(q, port, "127.0.0.1");
    await until(() => answered.size === asked.length);
    expect([...answered].sort()).toEqual(asked.map((q) => q.subarray(8, 20).toString("hex")).sort());

    const { stunServed, droppedByReason, received } = m.stats();
    const flooderServed = stunServed - asked.length;
    // A burst of `perSource`, plus one second's refill if the 1 s sweep ticked during the flood.
    expect(flooderServed).toBeGreaterThanOrEqual(perSource);
    expect(flooderServed).toBeLessThanOrEqual(2 * perSource);
    expect(received).toBe(1000 + asked.length);
    expect(droppedByReason).toEqual({ "stun-rate-limited": 1000 - flooderServed });
    await until(() => flooderAnswers === flooderServed);
  });

  it("counts an IPv6 source by its /64, and IPv4 and IPv6 apart (::1 and 127.0.0.1)", async () => {
    const m = await mux({ address: "::", serveStun: true, maxStunResponsesPerSecondPerSource: 3 });
    const { port } = m.getListenAddresses()[0]!;
    const v6 = await socket("udp6");
    const v4 = await socket("udp4");
    for (const [s, to] of [
      [v6, "::1"],
      [v4, "127.0.0.1"],
    ] as const) {
      const before = m.stats().received;
      for (let i = 0; i < 10; i++) s.send(query(), port, to);
      await until(() => m.stats().received === before + 10);
    }
    expect(m.stats()).toMatchObject({ stunServed: 6, droppedByReason: { "stun-rate-limited": 14 } });
  });
});

describe("StunResponder", () => {
  it("answers a source up to its rate, other sources independently, and everyone up to the total", () => {
    const r = new StunResponder(5, 2, 0);
    const take = (source: string, times: number) =>
      Array.from({ length: times }, () => r.take(sourceKey(source), 0));
    expect(take("192.0.2.1", 4)).toEqual([true, true, false, false]);
    // One /64: two addresses, one budget; another /64 has its own.
    expect([...take("2001:db8::1", 1), ...take("2001:db8::ffff:2", 2)]).toEqual([true, true, false]);
    expect(take("2001:db8:0:1::1", 2)).toEqual([true, false]); // the total (5) is spent by then
    expect(r.served).toBe(5);
    expect(take("192.0.2.1", 3)).toEqual([false, false, false]);
    // A second later, each source has its rate again.
    expect(r.take("192.0.2.1", 1000)).toBe(true);
    expect(r.take("192.0.2.1", 1000)).toBe(true);
    expect(r.take("192.0.2.1", 1000)).toBe(false);
    expect(r.take("2001:db8:0:1::/64", 1000)).toBe(true);
  });

  it("refills a source at its rate", () => {
    const r = new StunResponder(1000, 10, 0);
    for (let i = 0; i < 10; i++) expect(r.take("a", 0)).toBe(true);
    expect(r.take("a", 0)).toBe(false);
    expect(r.take("a", 99)).toBe(false); // 0.99 of a token
    expect(r.take("a", 100)).toBe(true);
    expect(r.take("a", 100)).toBe(false);
  });

  it(`tracks at most ${MAX_TRACKED_SOURCES} sources, forgetting the least recently seen first`, () => {
    const r = new StunResponder(1e9, 1, 0, 4);
    expect(r.take("kept", 0)).toBe(true);
    for (let i = 0; i < 100; i++) {
      r.take(`spoofed-${i}`, 0);
      expect(r.take("kept", 0)).toBe(false); // seen again: stays tracked, its budget stays spent
      expect(r.trackedSources).toBeLessThanOrEqual(4);
    }
    // The first spoofed source was forgotten long ago: it starts again with a full budget.
    expect(r.take("spoofed-0", 0)).toBe(true);
    const big = new StunResponder(1e9, 1, 0);
    for (let i = 0; i < 10 * MAX_TRACKED_SOURCES; i++) big.take(`s${i}`, 0);
    expect(big.trackedSources).toBe(MAX_TRACKED_SOURCES);
  });

  it("forgets at the sweep the sources silent for a second (their budget is whole again)", () => {
    const r = new StunResponder(1000, 10, 0);
    r.take("old", 0);
    r.take("recent", 500);
    r.sweep(999);
    expect(r.trackedSources).toBe(2);
    r.sweep(1000);
    expect(r.trackedSources).toBe(1);
    r.sweep(1500);
    expect(r.trackedSources).toBe(0);
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

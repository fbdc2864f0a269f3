/** The routing decision over real loopback sockets: the Go reference's scenarios and the list. */
import { afterEach, describe, expect, it } from "vitest";
import { parseBindingRequest } from "../../src/stun.js";
import { bindingRequest, closeAll, mux, port, sendTo, socket, until } from "../helpers.js";

afterEach(closeAll);

describe("first contact and accept", () => {
  it("accepts new ufrags in order, and keeps the first packet for the conn", async () => {
    const m = await mux();
    const a = await socket();
    const b = await socket();
    await sendTo(m, a, bindingRequest("ufragA1:remote1"));
    await sendTo(m, b, bindingRequest("ufragB1:remote2"));
    const first = await m.accept();
    const second = await m.accept();
    expect(first).toEqual({
      localUfrag: "ufragA1",
      remoteUfrag: "remote1",
      address: "127.0.0.1",
      port: port(a),
      family: "IPv4",
    });
    expect(second.localUfrag).toBe("ufragB1");
    expect(second.port).toBe(port(b));
    const conn = m.getConn("ufragA1");
    const packet = await conn.readFrom();
    expect(packet.port).toBe(port(a));
    expect(parseBindingRequest(packet.data)).toMatchObject({ localUfrag: "ufragA1", remoteUfrag: "remote1" });
    expect(packet.data.readUInt16BE(0)).toBe(0x0001);
    expect(m.stats()).toMatchObject({ connections: 2, addresses: 2, acceptQueue: 0, received: 2 });
  });

  it("does not accept a ufrag twice, from the same socket or a new one", async () => {
    const m = await mux();
    const a = await socket();
    const b = await socket();
    await sendTo(m, a, bindingRequest("repeat1:remote"));
    await sendTo(m, a, bindingRequest("repeat1:remote"));
    await sendTo(m, b, bindingRequest("repeat1:remote"));
    expect(m.stats().acceptQueue).toBe(1);
    await m.accept();
    const controller = new AbortController();
    const next = m.accept({ signal: controller.signal });
    await sendTo(m, b, bindingRequest("repeat1:remote"));
    controller.abort(new Error("no second candidate"));
    await expect(next).rejects.toThrow("no second candidate");
    expect(m.stats().connections).toBe(1);
  });

  it("routes by the part of USERNAME before ':' (not after, as the Go reference did)", async () => {
    const m = await mux();
    const s = await socket();
    const mine = m.getConn("serverUfrag");
    await sendTo(m, s, bindingRequest("serverUfrag:clientUfrag"));
    expect((await mine.readFrom()).port).toBe(port(s));
    expect(m.stats().connections).toBe(1);
    await sendTo(m, s, bindingRequest("clientUfrag:serverUfrag")); // names a ufrag nobody has here
    expect((await m.accept()).localUfrag).toBe("clientUfrag");
  });

  it("drops the packet and removes the new conn when the accept queue is full", async () => {
    const m = await mux({ acceptQueueSize: 2 });
    const s = await socket();
    for (const u of ["full1:rrrr", "full2:rrrr", "full3:rrrr"]) await sendTo(m, s, bindingRequest(u));
    expect(m.stats()).toMatchObject({
      connections: 2,
      acceptQueue: 2,
      addresses: 1,
      dropped: 1,
      droppedByReason: { "accept-queue-full": 1 },
    });
    expect((await m.accept()).localUfrag).toBe("full1");
    expect((await m.accept()).localUfrag).toBe("full2");
  });
});

describe("getConn", () => {
  it("yields the binding request and then data, each with its own source", async () => {
    const m = await mux();
    const conn = m.getConn("getconn1");
    const s1 = await socket();
    const s2 = await socket();
    await sendTo(m, s1, bindingRequest("getconn1:peer"));
    await sendTo(m, s2, bindingRequest("getconn1:peer"));
    await sendTo(m, s1, Buffer.from("data-1"));
    await sendTo(m, s2, Buffer.from("data-2"));
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await conn.readFrom());
    expect(got.map((p) => p.port)).toEqual([port(s1), port(s2), port(s1), port(s2)]);
    expect(got[2]!.data.toString()).toBe("data-1");
    expect(got[3]!.data.toString()).toBe("data-2");
    expect(m.stats().acceptQueue).toBe(0); // getConn's ufrag is not a new peer
  });

  it("routes 3 ufrags × 3 sockets × 3 messages exactly", async () => {
    const m = await mux();
    const ufrags = ["route1", "route2", "route3"];
    const conns = ufrags.map((u) => m.getConn(u));
    const sockets = await Promise.all(ufrags.map(() => Promise.all([socket(), socket(), socket()])));
    for (const [i, u] of ufrags.entries()) {
      for (const s of sockets[i]!) await sendTo(m, s, bindingRequest(`${u}:remote`));
    }
    for (const [i, u] of ufrags.entries()) {
      for (const [j, s] of sockets[i]!.entries()) {
        for (let k = 0; k < 3; k++) await sendTo(m, s, Buffer.from(`${u}/${j}/${k}`));
      }
    }
    for (const [i, conn] of conns.entries()) {
      const packets = [];
      for (let n = 0; n < 12; n++) packets.push(await conn.readFrom());
      const data = packets.slice(3).map((p) => p.data.toString());
      expect(data.every((d) => d.startsWith(`${ufrags[i]}/`))).toBe(true);
      for (const p of packets) expect(sockets[i]!.map(port)).toContain(p.port);
    }
    expect(m.stats()).toMatchObject({ connections: 3, addresses: 9, dropped: 0, delivered: 36 });
  });

  it("keeps IPv4 and IPv6 apart: getConn picks the family from addr", async () => {
    const m = await mux({ address: "::", type: "udp6" });
    const v4 = m.getConn("family1", { address: "127.0.0.1" });
    const v6 = m.getConn("family1", { address: "::1" });
    expect(v4).not.toBe(v6);
    expect(v4.family).toBe("IPv4");
    expect(v6.family).toBe("IPv6");
    expect(m.getConn("family1")).toBe(v6); // default: the socket's family
  });
});

describe("removeConnByUfrag", () => {
  it("frees the addresses for another ufrag; getConn of the old one is a new conn", async () => {
    const m = await mux();
    const old = m.getConn("remove1");
    const s = await socket();
    await sendTo(m, s, bindingRequest("remove1:peer"));
    expect(m.stats().addresses).toBe(1);
    m.removeConnByUfrag("remove1");
    expect(old.closed).toBe(true);
    expect(m.stats()).toMatchObject({ connections: 0, addresses: 0 });
    const other = m.getConn("remove2");
    await sendTo(m, s, bindingRequest("remove2:peer"));
    await sendTo(m, s, Buffer.from("after"));
    await other.readFrom();
    expect((await other.readFrom()).data.toString()).toBe("after");
    const again = m.getConn("remove1");
    expect(again).not.toBe(old);
    expect(again.closed).toBe(false);
  });

  it("rejects a pending read with ERR_CONN_CLOSED and drops a waiting candidate", async () => {
    const m = await mux();
    const s = await socket();
    const conn = m.getConn("pending1");
    await sendTo(m, s, bindingRequest("pending1:peer"));
    await conn.readFrom();
    const read = conn.readFrom();
    await sendTo(m, s, bindingRequest("waiting1:peer"));
    expect(m.stats().acceptQueue).toBe(1);
    m.removeConnByUfrag("pending1");
    m.removeConnByUfrag("waiting1");
    await expect(read).rejects.toMatchObject({ code: "ERR_CONN_CLOSED" });
    expect(m.stats()).toMatchObject({ acceptQueue: 0, connections: 0 });
  });

  it("removes both families", async () => {
    const m = await mux({ address: "::", type: "udp6" });
    const v4 = m.getConn("both1", { address: "127.0.0.1" });
    const v6 = m.getConn("both1", { address: "::1" });
    m.removeConnByUfrag("both1");
    expect([v4.closed, v6.closed]).toEqual([true, true]);
  });
});

describe("what is dropped", () => {
  it.each([
    ["no ':'", bindingRequest("abcdefgh"), "bad-username"],
    ["empty USERNAME", bindingRequest(""), "bad-username"],
    ["short half", bindingRequest("abc:defg"), "bad-username"],
    ["long half", bindingRequest(`${"a".repeat(257)}:defg`), "bad-username"],
    ["non-ice-char", bindingRequest("ab_d:defg"), "bad-username"],
    ["no USERNAME", bindingRequest(), "bad-username"],
    [
      "a success response nobody asked for",
      Buffer.from([1, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, ...new Array(12).fill(7)]),
      "unknown-address",
    ],
    ["a truncated header", Buffer.from([0, 1, 0, 0, 0x21, 0x12]), "not-stun"],
    [
      "a lying length",
      Buffer.from([0, 1, 0, 40, 0x21, 0x12, 0xa4, 0x42, ...new Array(12).fill(7)]),
      "not-stun",
    ],
    ["junk", Buffer.from("GET / HTTP/1.1\r\n\r\n"), "not-stun"],
    ["an empty datagram", Buffer.alloc(0), "not-stun"],
  ])("%s: nothing created, counted, mux alive", async (_, datagram, reason) => {
    const m = await mux();
    const s = await socket();
    await sendTo(m, s, datagram);
    expect(m.stats()).toMatchObject({
      connections: 0,
      addresses: 0,
      acceptQueue: 0,
      dropped: 1,
      droppedByReason: { [reason]: 1 },
    });
    await sendTo(m, s, bindingRequest("alive123:peer"));
    expect((await m.accept()).localUfrag).toBe("alive123");
  });

  it("delivers non-STUN data only from associated addresses", async () => {
    const m = await mux();
    const conn = m.getConn("assoc1");
    const stranger = await socket();
    await sendTo(m, stranger, Buffer.from([0x17, 0xfe, 0xfd, 1, 2, 3])); // a DTLS record
    expect(m.stats().droppedByReason).toEqual({ "not-stun": 1 });
    const friend = await socket();
    await sendTo(m, friend, bindingRequest("assoc1:peer"));
    await sendTo(m, friend, Buffer.from([0x17, 0xfe, 0xfd, 1, 2, 3]));
    await conn.readFrom();
    expect((await conn.readFrom()).data[0]).toBe(0x17);
  });
});

describe("address association", () => {
  it("first association wins", async () => {
    const m = await mux();
    const first = m.getConn("first1");
    const second = m.getConn("second1");
    const s = await socket();
    await sendTo(m, s, bindingRequest("first1:peer"));
    await sendTo(m, s, bindingRequest("second1:peer")); // delivered by ufrag, but R stays with first1
    await sendTo(m, s, Buffer.from("data"));
    expect((await second.readFrom()).data.readUInt16BE(0)).toBe(0x0001);
    await first.readFrom();
    expect((await first.readFrom()).data.toString()).toBe("data");
    expect(m.stats().addresses).toBe(1);
  });

  it("caps the addresses of one ufrag at maxAddressesPerUfrag, still delivering the checks", async () => {
    const m = await mux({ maxAddressesPerUfrag: 2 });
    const conn = m.getConn("capped1");
    const sockets = [await socket(), await socket(), await socket()];
    for (const s of sockets) await sendTo(m, s, bindingRequest("capped1:peer"));
    expect(m.stats().addresses).toBe(2);
    for (let i = 0; i < 3; i++) await conn.readFrom();
    await sendTo(m, sockets[2]!, Buffer.from("unassociated"));
    expect(m.stats().droppedByReason).toEqual({ "not-stun": 1 });
  });

  it("writeTo associates the destination, but a STUN server query does not", async () => {
    const m = await mux();
    const conn = m.getConn("writer1");
    const peer = await socket();
    const server = await socket();
    await conn.writeTo(Buffer.from("hello"), { address: "127.0.0.1", port: port(peer) });
    await conn.writeTo(bindingRequest(), { address: "127.0.0.1", port: port(server) });
    expect(m.stats().addresses).toBe(1);
    await sendTo(m, peer, Buffer.from("reply"));
    expect((await conn.readFrom()).data.toString()).toBe("reply");
    await sendTo(m, server, Buffer.from("not a response"));
    expect(m.stats().droppedByReason).toEqual({ "not-stun": 1 });
  });
});

describe("IPv6 and dual stack", () => {
  it("routes over ::1", async () => {
    const m = await mux({ address: "::1" });
    const s = await socket("udp6");
    await sendTo(m, s, bindingRequest("six12345:peer"));
    const c = await m.accept();
    expect(c).toMatchObject({ family: "IPv6", address: "::1", port: port(s) });
    const conn = m.getConn("six12345", { address: "::1" });
    await sendTo(m, s, Buffer.from("v6 data"));
    await conn.readFrom();
    expect((await conn.readFrom()).data.toString()).toBe("v6 data");
  });

  it("gives v4 and v6 sources of one ufrag different conns; v4-mapped sources read as IPv4", async () => {
    const m = await mux({ address: "::", type: "udp6" });
    const s4 = await socket("udp4");
    const s6 = await socket("udp6");
    await sendTo(m, s4, bindingRequest("dual1234:peer"));
    await sendTo(m, s6, bindingRequest("dual1234:peer"));
    const a = await m.accept();
    const b = await m.accept();
    expect(a).toMatchObject({ family: "IPv4", address: "127.0.0.1", port: port(s4) });
    expect(b).toMatchObject({ family: "IPv6", address: "::1", port: port(s6) });
    const v4 = m.getConn("dual1234", { address: "127.0.0.1" });
    const v6 = m.getConn("dual1234", { address: "::1" });
    expect(v4).not.toBe(v6);
    expect(await v4.readFrom()).toMatchObject({ address: "127.0.0.1", family: "IPv4" });
    expect(await v6.readFrom()).toMatchObject({ address: "::1", family: "IPv6" });
    // and the conn can answer an IPv4 peer from the dual-stack socket
    const got = new Promise<Buffer>((resolve) => s4.once("message", resolve));
    await v4.writeTo(Buffer.from("pong"), { address: "127.0.0.1", port: port(s4) });
    expect((await got).toString()).toBe("pong");
    await until(() => m.stats().addresses === 2);
  });
});

/**
 * Every map and queue an attacker can make the mux fill has a bound (issue 5, item 3), and time-bounded
 * entries expire. Time runs on fake timers: the mux reads the monotonic clock (`performance.now()`) and arms
 * its 1 s sweep in `start()`, so each mux is created after `vi.useFakeTimers()`. `Date` is faked too, so a
 * test can step the wall clock (`vi.setSystemTime`) while the monotonic one stays. Datagrams still travel over real loopback sockets.
 */
import dgram from "node:dgram";
import { once } from "node:events";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DEFAULTS, type UDPMuxOptions } from "../../src/index.js";
import { UDPMux } from "../../src/mux.js";
import { bindingRequest, bindingSuccess, closeAll, MUX_RECV_BUFFER, socket, track } from "../helpers.js";

beforeEach(() => {
  vi.useFakeTimers({
    toFake: ["setInterval", "clearInterval", "setTimeout", "clearTimeout", "Date", "performance"],
  });
});

afterEach(async () => {
  await closeAll();
  vi.useRealTimers();
});

/** A started mux on a socket the test can watch: `arrive()` resolves once the mux has routed a datagram. */
async function watchedMux(options?: UDPMuxOptions) {
  const s = dgram.createSocket({ type: "udp4", recvBufferSize: MUX_RECV_BUFFER });
  s.bind(0, "127.0.0.1");
  await once(s, "listening");
  const m = track(new UDPMux(s, options));
  m.start();
  const port = s.address().port;
  /** Send from `from` and wait until the mux's own 'message' listener (registered first) has run. */
  const send = async (from: dgram.Socket, data: Buffer) => {
    const routed = once(s, "message");
    from.send(data, port, "127.0.0.1");
    await routed;
  };
  return { m, send };
}

/** received = delivered + dropped + what still waits in conn queues. */
function queued(m: UDPMux): number {
  const { received, delivered, dropped } = m.stats();
  return received - delivered - dropped;
}

describe("acceptTimeoutMs", () => {
  it("removes a conn made by an inbound check and claimed by nobody, exactly at the default 10 s", async () => {
    const { m, send } = await watchedMux();
    const peer = await socket();
    const claimed = m.getConn("claimedUfrag");
    await send(peer, bindingRequest("strangerUfrag:peer"));
    expect(m.stats()).toMatchObject({ connections: 2, addresses: 1, acceptQueue: 1 });
    expect(queued(m)).toBe(1); // the first check waits for the conn's reader

    vi.advanceTimersByTime(DEFAULTS.acceptTimeoutMs - 1);
    expect(m.stats()).toMatchObject({ connections: 2, addresses: 1, acceptQueue: 1 });

    vi.advanceTimersByTime(1);
    expect(m.stats()).toMatchObject({ connections: 1, addresses: 0, acceptQueue: 0 });
    expect(m.stats().droppedByReason.expired).toBe(1); // its queued check, counted
    expect(queued(m)).toBe(0);
    expect(claimed.closed).toBe(false);

    // Nothing of the expired conn is left: the same ufrag is a new candidate again.
    await send(peer, bindingRequest("strangerUfrag:peer"));
    expect(await m.accept()).toMatchObject({ localUfrag: "strangerUfrag", port: peer.address().port });
  });

  it("keeps a conn once accept() claimed it", async () => {
    const { m, send } = await watchedMux({ acceptTimeoutMs: 2000 });
    const peer = await socket();
    await send(peer, bindingRequest("acceptedUfrag:peer"));
    const candidate = await m.accept();
    vi.advanceTimersByTime(10_000);
    expect(m.stats()).toMatchObject({ connections: 1, addresses: 1 });
    const conn = m.getConn(candidate.localUfrag);
    expect((await conn.readFrom()).port).toBe(peer.address().port);
  });

  it("after expiry, getConn() of the same ufrag makes a fresh conn that never expires", async () => {
    const { m, send } = await watchedMux({ acceptTimeoutMs: 3000 });
    const peer = await socket();
    await send(peer, bindingRequest("lateUfrag:peer"));
    vi.advanceTimersByTime(3000);
    expect(m.stats().connections).toBe(0);
    const conn = m.getConn("lateUfrag");
    expect(conn.closed).toBe(false);
    vi.advanceTimersByTime(10_000); // claimed by getConn: never expires
    expect(conn.closed).toBe(false);
  });
});

describe("a wall-clock step", () => {
  it.each([
    ["an hour forward", 3_600_000],
    ["an hour back", -3_600_000],
  ])("(%s) neither expires an unclaimed conn early nor stalls its expiry", async (_name, step) => {
    const { m, send } = await watchedMux();
    const peer = await socket();
    await send(peer, bindingRequest("steppedUfrag:peer"));
    const wallBefore = Date.now();
    const monotonicBefore = performance.now();

    vi.setSystemTime(Date.now() + step); // NTP, a resumed VM, an operator: the monotonic clock doesn't move
    expect(Date.now() - wallBefore).toBe(step);
    expect(performance.now()).toBe(monotonicBefore);
    vi.advanceTimersByTime(1000); // a sweep on the far side of the step: forward, Date.now() would expire it
    expect(m.stats()).toMatchObject({ connections: 1, acceptQueue: 1 });

    vi.advanceTimersByTime(DEFAULTS.acceptTimeoutMs - 1000 - 1);
    expect(m.stats().connections).toBe(1);
    vi.advanceTimersByTime(1); // back, Date.now() would keep it another hour
    expect(m.stats()).toMatchObject({ connections: 0, acceptQueue: 0 });
    expect(m.stats().droppedByReason.expired).toBe(1);
  });
});

describe("maxConnections", () => {
  it("counts conns however made, and refuses first contacts beyond the cap", async () => {
    const { m, send } = await watchedMux({ maxConnections: 3 });
    const peer = await socket();
    const a = m.getConn("ownUfragA");
    m.getConn("ownUfragB");
    await send(peer, bindingRequest("newUfrag1:peer"));
    await send(peer, bindingRequest("newUfrag2:peer"));
    expect(m.stats()).toMatchObject({ connections: 3, acceptQueue: 1 });
    expect(m.stats().droppedByReason["cap-reached"]).toBe(1);

    // Existing conns still get their checks at the cap.
    const other = await socket();
    await send(other, bindingRequest("ownUfragA:peer"));
    expect((await a.readFrom()).port).toBe(other.address().port);

    m.removeConnByUfrag("ownUfragB");
    await send(peer, bindingRequest("newUfrag2:peer"));
    expect(m.stats()).toMatchObject({ connections: 3, acceptQueue: 2 });
  });
});

describe("accept queue", () => {
  it("holds acceptQueueSize candidates; a check beyond it leaves no conn and no address", async () => {
    const { m, send } = await watchedMux({ acceptQueueSize: 2 });
    const peers = [await socket(), await socket(), await socket(), await socket()];
    for (const [i, peer] of peers.entries()) await send(peer, bindingRequest(`queued${i}:peer`));
    expect(m.stats()).toMatchObject({ connections: 2, addresses: 2, acceptQueue: 2 });
    expect(m.stats().droppedByReason["accept-queue-full"]).toBe(2);
    expect((await m.accept()).localUfrag).toBe("queued0");
    expect((await m.accept()).localUfrag).toBe("queued1");
  });
});

describe("pull queue", () => {
  it("holds maxQueuedPackets datagrams and drops the newest beyond it", async () => {
    const { m, send } = await watchedMux({ maxQueuedPackets: 4 });
    const peer = await socket();
    const conn = m.getConn("pullUfrag");
    await send(peer, bindingRequest("pullUfrag:peer"));
    for (let i = 1; i <= 6; i++) await send(peer, Buffer.from([0x80, i])); // RTP-like, not STUN
    expect(m.stats().droppedByReason["queue-full"]).toBe(3);
    expect(queued(m)).toBe(4);
    expect((await conn.readFrom()).data.readUInt16BE(0)).toBe(0x0001);
    for (let i = 1; i <= 3; i++) expect([...(await conn.readFrom()).data]).toEqual([0x80, i]);
    expect(queued(m)).toBe(0);
  });
});

describe("maxAddressesPerUfrag", () => {
  it("associates at most the cap, by checks or by writeTo", async () => {
    const { m, send } = await watchedMux({ maxAddressesPerUfrag: 2 });
    const conn = m.getConn("cappedUfrag");
    const peers = [await socket(), await socket(), await socket()];
    for (const peer of peers) await send(peer, bindingRequest("cappedUfrag:peer"));
    expect(m.stats().addresses).toBe(2);
    await send(peers[2]!, Buffer.from([0x80, 1])); // not associated: dropped
    expect(m.stats().droppedByReason["not-stun"]).toBe(1);

    const fourth = await socket();
    await conn.writeTo(Buffer.from("hello"), { address: "127.0.0.1", port: fourth.address().port });
    expect(m.stats().addresses).toBe(2);
    await send(fourth, Buffer.from([0x80, 2]));
    expect(m.stats().droppedByReason["not-stun"]).toBe(2);
  });
});

describe("STUN transactions", () => {
  it("tracks at most maxTransactionsPerConn per conn, forgetting the oldest", async () => {
    const { m, send } = await watchedMux({ maxTransactionsPerConn: 4 });
    const server = await socket();
    const to = { address: "127.0.0.1", port: server.address().port };
    const a = m.getConn("txUfragA");
    const b = m.getConn("txUfragB");
    const requests = Array.from({ length: 6 }, () => bindingRequest());
    for (const request of requests) await a.writeTo(request, to);
    await b.writeTo(bindingRequest(), to);
    expect(m.stats().transactions).toBe(5); // 4 of a's, 1 of b's
    expect(m.stats().addresses).toBe(0); // a STUN server query captures no address

    await send(server, bindingSuccess(requests[0]!, { address: "127.0.0.1", port: 1 }));
    expect(m.stats().droppedByReason["unknown-address"]).toBe(1); // forgotten: routed nowhere
    await send(server, bindingSuccess(requests[5]!, { address: "127.0.0.1", port: 1 }));
    expect((await a.readFrom()).data.subarray(8, 20)).toEqual(requests[5]!.subarray(8, 20));
    expect(m.stats().transactions).toBe(4); // answered: forgotten

    m.removeConnByUfrag("txUfragA");
    expect(m.stats().transactions).toBe(1); // none survives its conn
  });

  it("expires transactions after transactionTimeoutMs (default 30 s); a late response goes nowhere", async () => {
    const { m, send } = await watchedMux();
    const server = await socket();
    const conn = m.getConn("expiryUfrag");
    const request = bindingRequest();
    await conn.writeTo(request, { address: "127.0.0.1", port: server.address().port });
    expect(m.stats().transactions).toBe(1);
    vi.advanceTimersByTime(DEFAULTS.transactionTimeoutMs - 1);
    expect(m.stats().transactions).toBe(1);
    vi.advanceTimersByTime(1);
    expect(m.stats().transactions).toBe(0);
    await send(server, bindingSuccess(request, { address: "127.0.0.1", port: 1 }));
    expect(m.stats().droppedByReason["unknown-address"]).toBe(1);
    expect(m.stats().delivered).toBe(0);
  });
});

describe("close", () => {
  it("empties every map and clears its timers", async () => {
    const { m, send } = await watchedMux();
    const peer = await socket();
    m.getConn("closeUfrag");
    await send(peer, bindingRequest("closeUfrag:peer"));
    await send(peer, bindingRequest("otherUfrag:peer"));
    await m
      .getConn("closeUfrag")
      .writeTo(bindingRequest(), { address: "127.0.0.1", port: peer.address().port });
    // The sweep, and on Linux the kernelDrops refresh (kernelDropsIntervalMs).
    expect(vi.getTimerCount()).toBe(process.platform === "linux" ? 2 : 1);
    await m.close();
    expect(vi.getTimerCount()).toBe(0);
    const stats = m.stats();
    expect(stats).toMatchObject({ connections: 0, addresses: 0, acceptQueue: 0, transactions: 0 });
    expect(stats.received).toBe(stats.delivered + stats.dropped);
  });
});

/**
 * Server-reflexive candidates through the shared socket: one srflx candidate per configured STUN server per
 * agent, learned with one Binding Request per server per cache period however many agents gather.
 */
import { beforeEach, describe, expect, it, vi } from "vitest";
import { UDPMux } from "../../src/index.js";
import { attachUDPMux } from "../../src/werift/index.js";
import { until } from "../helpers.js";
import {
  connectAgents,
  ICE_FLAVORS,
  type IceAgent,
  LOOPBACK_ICE_OPTIONS,
  plainAgent,
  roundTrip,
  useWeriftSuite,
} from "./helpers.js";
import { type LoopbackStunServer, startStunServer } from "./stun-server.js";

const { closer } = useWeriftSuite({ afterEachFirst: () => vi.useRealTimers() });

const srflxOf = (agent: IceAgent) => agent.localCandidates.filter((c) => c.type === "srflx");

describe.each(ICE_FLAVORS)("$name: srflx through the mux", ({ create }) => {
  let mux: UDPMux;
  let port: number;
  let stun: LoopbackStunServer;
  beforeEach(async () => {
    mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    port = mux.getListenAddresses()[0]!.port;
    stun = closer.add(await startStunServer());
  });
  const agent = (servers: { address: string; port: number }[]) =>
    closer.add(attachUDPMux(create(true, { ...LOOPBACK_ICE_OPTIONS }), mux, { stunServers: servers }));

  it("50 agents get their srflx candidate with one request on the wire", async () => {
    const agents = Array.from({ length: 50 }, () => agent([stun]));
    await Promise.all(agents.map((a) => a.gatherCandidates()));
    expect(stun.requests).toEqual([{ address: "127.0.0.1", port }]);
    for (const a of agents) {
      // the mapped address is the mux's own here: the candidate is kept even though it equals the host one
      expect(srflxOf(a).map((c) => [c.host, c.port, c.relatedAddress])).toEqual([
        ["127.0.0.1", port, "127.0.0.1"],
      ]);
    }
    // a second round within the cache period asks nobody
    const more = Array.from({ length: 10 }, () => agent([stun]));
    await Promise.all(more.map((a) => a.gatherCandidates()));
    expect(stun.requests).toHaveLength(1);
    expect(more.every((a) => srflxOf(a).length === 1)).toBe(true);
  });

  it("asks again once the cached answer expired (25 s after it arrived)", async () => {
    vi.useFakeTimers({ toFake: ["Date", "performance"] }); // expiry reads performance.now()
    await agent([stun]).gatherCandidates();
    vi.advanceTimersByTime(24_000);
    await agent([stun]).gatherCandidates();
    expect(stun.requests).toHaveLength(1);
    vi.advanceTimersByTime(1_001);
    const late = agent([stun]);
    await late.gatherCandidates();
    expect(stun.requests).toHaveLength(2);
    expect(srflxOf(late)).toHaveLength(1);
  });

  it("one srflx candidate per configured server, each with its own foundation", async () => {
    const other = closer.add(await startStunServer());
    const a = agent([stun, other]);
    await a.gatherCandidates();
    const srflx = srflxOf(a) as unknown as { foundation: string; priority: number }[];
    expect(srflx).toHaveLength(2);
    expect(new Set(srflx.map((c) => c.foundation)).size).toBe(2);
    expect(new Set(srflx.map((c) => c.priority)).size).toBe(2);
    expect([stun.requests.length, other.requests.length]).toEqual([1, 1]);
  });

  it("the srflx candidate carries the mapped address, related to the first host candidate of its family", async () => {
    stun.mapped = { address: "203.0.113.7", port: 40_001 }; // a NAT's answer: only written, never sent to
    const a = closer.add(
      attachUDPMux(create(true, { ...LOOPBACK_ICE_OPTIONS }), mux, {
        announcedAddresses: ["127.0.0.1", "127.0.0.2"],
        stunServers: [stun],
      }),
    );
    await a.gatherCandidates();
    const srflx = srflxOf(a) as unknown as {
      host: string;
      port: number;
      relatedAddress: string;
      relatedPort: number;
    }[];
    expect(srflx.map((c) => [c.host, c.port, c.relatedAddress, c.relatedPort])).toEqual([
      ["203.0.113.7", 40_001, "127.0.0.1", port],
    ]);
  });

  it("an answer that arrives after an ICE restart is not advertised in the new generation", async () => {
    stun.delayMs = 300;
    stun.mapped = { address: "203.0.113.7", port: 40_001 };
    const a = agent([stun]);
    const first = a.gatherCandidates();
    await until(() => stun.requests.length === 1); // the query is in flight
    await a.restart();
    await Promise.all([first, a.gatherCandidates()]);
    const srflx = srflxOf(a) as unknown as { generation: number }[];
    expect(srflx.map((c) => c.generation)).toEqual([a.generation]); // one, of the current generation
  });

  it("an ICE-lite agent advertises host candidates only, and asks no STUN server", async () => {
    const lite = closer.add(
      attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS, iceLite: true } as never), mux, {
        stunServers: [stun],
      }),
    );
    await lite.gatherCandidates();
    expect(srflxOf(lite)).toEqual([]);
    expect(lite.localCandidates.map((c) => c.type)).toEqual(["host"]);
    expect(stun.requests).toEqual([]);
  });

  it("an error response gives no srflx candidate, and gathering still completes", async () => {
    stun.mode = "error";
    const a = agent([stun]);
    await a.gatherCandidates();
    expect(srflxOf(a)).toEqual([]);
    expect(a.localCandidates.map((c) => c.type)).toEqual(["host"]);
  });

  it("a muxed agent with a srflx candidate still connects to a plain peer", async () => {
    const a = agent([stun]);
    const b = closer.add(plainAgent(create, false));
    await connectAgents(a, b);
    expect(srflxOf(a)).toHaveLength(1);
    expect(await roundTrip(a, b, "srflx")).toBe("srflx");
  });
});

describe("srflx timeout then retry (werift 0.25 `stunGatherTimeout`)", () => {
  it("a silent server: gathering ends without srflx after the timeout, the next gather asks again", async () => {
    const mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    const stun = closer.add(await startStunServer());
    stun.mode = "silent";
    const create = ICE_FLAVORS.find((f) => f.name.startsWith("werift 0.25"))!.create;
    const first = closer.add(
      attachUDPMux(create(true, { ...LOOPBACK_ICE_OPTIONS, stunGatherTimeout: 1 }), mux, {
        stunServers: [stun],
      }),
    );
    const started = Date.now();
    await first.gatherCandidates();
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(srflxOf(first)).toEqual([]);
    expect(stun.requests.length).toBeGreaterThanOrEqual(2); // RFC 5389 retransmissions at 500 ms
    expect(mux.stats().transactions).toBe(0); // the timed-out query was forgotten
    const asked = stun.requests.length;
    stun.mode = "answer";
    const second = closer.add(
      attachUDPMux(create(true, { ...LOOPBACK_ICE_OPTIONS, stunGatherTimeout: 1 }), mux, {
        stunServers: [stun],
      }),
    );
    await second.gatherCandidates();
    expect(stun.requests.length).toBe(asked + 1);
    expect(srflxOf(second)).toHaveLength(1);
  });
});

describe("srflx over IPv6", () => {
  it("a mux on ::1 gets an IPv6 srflx candidate from a STUN server on ::1", async () => {
    const mux = closer.add(await UDPMux.bind({ address: "::1" }));
    const port = mux.getListenAddresses()[0]!.port;
    const stun = closer.add(await startStunServer("::1"));
    const a = closer.add(
      attachUDPMux(ICE_FLAVORS[0]!.create(true, { ...LOOPBACK_ICE_OPTIONS }), mux, { stunServers: [stun] }),
    );
    await a.gatherCandidates();
    expect(a.localCandidates.map((c) => [c.type, c.host, c.port])).toEqual([
      ["host", "::1", port],
      ["srflx", "::1", port],
    ]);
  });
});

/**
 * How an attached agent's credentials reach the mux without accessors (`agent.ts`, "credentials"): the
 * adapter replaces werift's guessable 16-bit ufrag by a 96-bit one at attach and after every `restart()`
 * (which assigns `localUsername` / `localPassword`), and routes it at once; werift's own STUN server is
 * never used; and the agent keeps V8's fast properties on every Node.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { UDPMux } from "../../src/index.js";
import { attachUDPMux } from "../../src/werift/index.js";
import { ICE_FLAVORS, LOOPBACK_ICE_OPTIONS, plainAgent, useWeriftSuite } from "./helpers.js";

const { closer } = useWeriftSuite();

/** What the adapter draws: 12 random bytes in base64, 16 ice-chars (RFC 8839 §5.4), no padding. */
const ADAPTER_UFRAG = /^[A-Za-z0-9+/]{16}$/;

/** V8's own answers (vitest.config.ts runs the workers with --allow-natives-syntax). */
const v8 = {
  hasFastProperties: new Function("o", "return %HasFastProperties(o)") as (o: object) => boolean,
  haveSameMap: new Function("a", "b", "return %HaveSameMap(a, b)") as (a: object, b: object) => boolean,
};

describe.each(ICE_FLAVORS)("$name agent's credentials", ({ create }) => {
  let mux: UDPMux;
  beforeEach(async () => {
    mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
  });

  it("attach gives the agent a fresh 96-bit ufrag in place of werift's 16-bit one, routed with its password", () => {
    const raw = create(false, { ...LOOPBACK_ICE_OPTIONS });
    const drawn = raw.localUsername;
    expect(drawn).toMatch(/^[0-9a-f]{4}$/); // what werift draws: the reason for the replacement
    const agent = closer.add(attachUDPMux(raw, mux));
    expect(agent.localUsername).toMatch(ADAPTER_UFRAG);
    expect(agent.localUsername).not.toBe(drawn);
    expect(agent.userHistory[agent.localUsername]).toBe(agent.localPassword);
    expect(Object.keys(agent.userHistory)).not.toContain(drawn);
    expect(mux.stats().connections).toBe(1); // werift's ufrag was never registered
    expect(mux.getConn(agent.localUsername).password).toBe(agent.localPassword);
  });

  it("every restart() gets a fresh 96-bit ufrag too, in place of the one werift drew", async () => {
    const raw = create(false, { ...LOOPBACK_ICE_OPTIONS });
    const drawn: string[] = [];
    const restart = raw.restart.bind(raw);
    raw.restart = () => {
      const result = restart(); // werift assigns its credentials in the synchronous part
      drawn.push(raw.localUsername);
      return result;
    };
    const agent = closer.add(attachUDPMux(raw, mux));
    const seen = [agent.localUsername];
    for (let i = 0; i < 2; i++) {
      await agent.restart();
      expect(agent.localUsername).toMatch(ADAPTER_UFRAG);
      expect(agent.localUsername).not.toBe(drawn[i]);
      expect(seen).not.toContain(agent.localUsername);
      seen.push(agent.localUsername);
      expect(agent.userHistory[agent.localUsername]).toBe(agent.localPassword);
      expect(Object.keys(agent.userHistory)).not.toContain(drawn[i]);
      expect(mux.getConn(agent.localUsername).password).toBe(agent.localPassword);
    }
    expect(drawn).toHaveLength(2);
    expect(mux.stats().connections).toBe(3); // the adapter's three ufrags, none of werift's
  });

  it("after restart() the host candidates carry the new ufrag, also before the next gather", async () => {
    const agent = closer.add(attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS }), mux));
    await agent.gatherCandidates();
    await agent.restart();
    const ufrags = agent.protocols.map(
      (p) => (p as { localCandidate?: { ufrag?: string } }).localCandidate?.ufrag,
    );
    expect(ufrags.length).toBeGreaterThan(0);
    expect(ufrags).toEqual(ufrags.map(() => agent.localUsername));
  });

  it("restart() registers the new ufrag, with the new password, before it returns", () => {
    const agent = closer.add(attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS }), mux));
    const before = agent.localUsername;
    void agent.restart();
    const after = agent.localUsername;
    expect(after).not.toBe(before);
    expect(mux.stats().connections).toBe(2); // both generations stay routable
    expect(mux.getConn(after).password).toBe(agent.localPassword);
    expect(mux.getConn(before).password).not.toBe(agent.localPassword); // the old one keeps its own
  });

  it("a restart ufrag another agent of the mux owns is replaced, in the agent's fields too", () => {
    const a = closer.add(attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS }), mux));
    const taken = a.localUsername;
    // werift's ufrags are only 16 bits: make b's restart draw the one `a` owns, as a clash would.
    const raw = create(false, { ...LOOPBACK_ICE_OPTIONS });
    const wrapped = raw.restart.bind(raw);
    raw.restart = () => {
      const result = wrapped();
      raw.localUsername = taken;
      raw.userHistory[taken] = raw.localPassword;
      return result;
    };
    const b = closer.add(attachUDPMux(raw, mux));
    void b.restart();
    expect(b.localUsername).not.toBe(taken);
    expect(b.userHistory[b.localUsername]).toBe(b.localPassword);
    expect(mux.getConn(b.localUsername).password).toBe(b.localPassword);
    expect(a.localUsername).toBe(taken); // a keeps its ufrag and its conn
  });

  it("werift's STUN server is never used: pinned at attach, cleared again before every gather", async () => {
    const agent = closer.add(attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS }), mux));
    expect(agent.stunServer).toBeUndefined();
    agent.stunServer = ["127.0.0.1", 3478]; // as werift 0.25's setConfiguration would
    await agent.gatherCandidates();
    expect(agent.stunServer).toBeUndefined();
    expect(agent.localCandidates.map((c) => c.type)).toEqual(["host"]);
  });

  it("attached agents keep fast properties and share one map", () => {
    const [a, b] = [0, 1].map(() =>
      closer.add(attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS }), mux)),
    );
    const plain = closer.add(plainAgent(create, false));
    expect([v8.hasFastProperties(plain), v8.hasFastProperties(a!), v8.hasFastProperties(b!)]).toEqual([
      true,
      true,
      true,
    ]);
    expect(v8.haveSameMap(a!, b!)).toBe(true);
    void a!.restart();
    expect(v8.hasFastProperties(a!)).toBe(true);
  });
});

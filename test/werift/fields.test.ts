/**
 * The watched fields (src/werift/fields.ts): an attached agent's `localUsername`, `localPassword` and
 * `stunServer` are accessors of its class prototype; agents that are not attached keep plain fields of their
 * own and never notice the accessors.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { UDPMux } from "../../src/index.js";
import { attachUDPMux } from "../../src/werift/index.js";
import { ICE_FLAVORS, LOOPBACK_ICE_OPTIONS, plainAgent, useWeriftSuite } from "./helpers.js";

const { closer } = useWeriftSuite();

/** V8's own answers (vitest.config.ts runs the workers with --allow-natives-syntax). */
const v8 = {
  hasFastProperties: new Function("o", "return %HasFastProperties(o)") as (o: object) => boolean,
  haveSameMap: new Function("a", "b", "return %HaveSameMap(a, b)") as (a: object, b: object) => boolean,
};

describe.each(ICE_FLAVORS)("$name agent's watched fields", ({ create }) => {
  let mux: UDPMux;
  beforeEach(async () => {
    mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
  });

  it("an assignment to an attached agent's localUsername/localPassword registers it with the mux at once", () => {
    const agent = closer.add(attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS }), mux));
    expect(Object.hasOwn(agent, "localUsername")).toBe(false);
    expect(mux.stats().connections).toBe(1);
    agent.localUsername = "Fld1";
    agent.localPassword = "a-password-of-22-chars";
    expect([agent.localUsername, agent.localPassword]).toEqual(["Fld1", "a-password-of-22-chars"]);
    expect(mux.stats().connections).toBe(2);
    expect(mux.getConn("Fld1").password).toBe("a-password-of-22-chars");
  });

  it("attached agents keep fast properties and share one map (accessors on the instance made a dictionary)", () => {
    const [a, b] = [0, 1].map(() =>
      closer.add(attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS }), mux)),
    );
    expect([v8.hasFastProperties(a!), v8.hasFastProperties(b!)]).toEqual([true, true]);
    expect(v8.haveSameMap(a!, b!)).toBe(true);
    a!.localUsername = "Fast"; // the setter path leaves it fast too
    expect(v8.hasFastProperties(a!)).toBe(true);
  });

  it("an attached agent's stunServer reads undefined whatever is assigned", () => {
    const agent = closer.add(attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS }), mux));
    agent.stunServer = ["127.0.0.1", 3478];
    expect(agent.stunServer).toBeUndefined();
  });

  it("an agent that is not attached (made before or after) keeps its own plain fields", () => {
    const before = closer.add(plainAgent(create, true));
    closer.add(attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS }), mux));
    const after = closer.add(plainAgent(create, true));
    for (const agent of [before, after]) {
      expect(Object.getOwnPropertyDescriptor(agent, "localUsername")).toMatchObject({ writable: true });
      agent.localUsername = "Own1";
      agent.stunServer = ["127.0.0.1", 3478];
      expect([agent.localUsername, agent.stunServer]).toEqual(["Own1", ["127.0.0.1", 3478]]);
      agent.stunServer = undefined;
    }
    expect(mux.stats().connections).toBe(1); // the attached agent's ufrag only: the mux never heard of Own1
  });

  it("an object of the class with no fields of its own: an assignment makes a plain field", () => {
    closer.add(attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS }), mux));
    const bare = Object.create(
      Object.getPrototypeOf(create(false, { ...LOOPBACK_ICE_OPTIONS })) as object,
    ) as {
      localUsername?: string;
    };
    expect(bare.localUsername).toBeUndefined();
    bare.localUsername = "Bare";
    expect(Object.getOwnPropertyDescriptor(bare, "localUsername")).toMatchObject({
      value: "Bare",
      writable: true,
    });
  });
});

/**
 * The one werift seam (`src/werift/hooks.ts`): every werift member the adapter hooks is a prototype member
 * of werift's classes (this file fails the day werift moves one into the constructor, renames or removes
 * it), each is patched once per werift copy, attached agents get no property of the adapter's, a caller's
 * own wrapper is dispatched once, and a missing member is refused with `ERR_UNSUPPORTED_WERIFT`.
 * (Agents that are not attached are unchanged: the control cases of empty-check-list.test.ts, tcp.test.ts
 * and leak.test.ts run plain agents in the same process as attached ones.)
 */
import { beforeEach, describe, expect, it } from "vitest";
import { TCPMux, UDPMux } from "../../src/index.js";
import { attachUDPMux } from "../../src/werift/index.js";
import {
  CONNECTION_HOOKS,
  PEER_CONNECTION_HOOKS,
  SECURE_MANAGER_HOOKS,
  TCP_PORT_GETTER,
  TCP_PROTOCOL_HOOKS,
} from "../../src/werift/internals.js";
import {
  ICE_FLAVORS,
  LOOPBACK_ICE_OPTIONS,
  LOOPBACK_PC_CONFIG,
  PC_FLAVORS,
  useWeriftSuite,
} from "./helpers.js";

const { closer } = useWeriftSuite();

/** Where `name` is defined on `object`'s prototype chain: `"own"`, `"prototype"` or `"missing"`. */
function definedOn(object: object, name: string): "own" | "prototype" | "missing" {
  if (Object.hasOwn(object, name)) return "own";
  for (let o = Object.getPrototypeOf(object); o !== null; o = Object.getPrototypeOf(o)) {
    if (Object.hasOwn(o, name)) return "prototype";
  }
  return "missing";
}

let mux: UDPMux;
beforeEach(async () => {
  mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
});

describe.each(ICE_FLAVORS)("$name Connection", ({ create }) => {
  it.each(CONNECTION_HOOKS)("%s is a prototype method werift's own agents share", (member) => {
    const agent = closer.add(create(false, { ...LOOPBACK_ICE_OPTIONS }));
    expect(definedOn(agent, member)).toBe("prototype");
    expect(typeof (agent as unknown as Record<string, unknown>)[member]).toBe("function");
  });

  it("attaching adds no property to the agent and patches its class once", () => {
    const plain = closer.add(create(false, { ...LOOPBACK_ICE_OPTIONS }));
    const keys = Object.getOwnPropertyNames(plain);
    const first = closer.add(attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS }), mux));
    const proto = Object.getPrototypeOf(first) as Record<string, unknown>;
    const hooked = CONNECTION_HOOKS.map((m) => proto[m]);
    const second = closer.add(attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS }), mux));
    expect(Object.getOwnPropertyNames(first)).toEqual(keys);
    expect(Object.getOwnPropertyNames(second)).toEqual(keys);
    expect(CONNECTION_HOOKS.map((m) => proto[m])).toEqual(hooked); // not wrapped again
    for (const member of CONNECTION_HOOKS) expect(definedOn(second, member)).toBe("prototype");
  });

  it.each(CONNECTION_HOOKS)(
    "an agent without %s is refused with ERR_UNSUPPORTED_WERIFT, naming it",
    (member) => {
      const agent = closer.add(create(false, { ...LOOPBACK_ICE_OPTIONS }));
      // a werift that renamed the member: an own `undefined` shadows the prototype's
      (agent as unknown as Record<string, unknown>)[member] = undefined;
      expect(() => attachUDPMux(agent, mux)).toThrow(
        expect.objectContaining({ code: "ERR_UNSUPPORTED_WERIFT", missing: [`connection.${member}`] }),
      );
      expect(mux.stats().connections).toBe(0);
    },
  );

  it("a caller's own wrapper of a hooked method is dispatched once, after the wrapper", async () => {
    const raw = create(false, { ...LOOPBACK_ICE_OPTIONS });
    const calls: string[] = [];
    const restart = raw.restart;
    raw.restart = function (this: typeof raw) {
      const result = restart.call(this);
      calls.push(this.localUsername); // what werift drew: the adapter replaces it after this wrapper
      return result;
    };
    const agent = closer.add(attachUDPMux(raw, mux));
    await agent.restart();
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatch(/^[0-9a-f]{4}$/);
    expect(agent.localUsername).not.toBe(calls[0]);
    expect(mux.stats().connections).toBe(2); // the first ufrag and the restart's, registered once
  });
});

describe.each(PC_FLAVORS)("$name RTCPeerConnection", ({ RTCPeerConnection }) => {
  it("close() and secureManager.createTransport() are prototype methods; attaching adds no property", () => {
    const plain = closer.add(new RTCPeerConnection(LOOPBACK_PC_CONFIG));
    const pc = closer.add(attachUDPMux(new RTCPeerConnection(LOOPBACK_PC_CONFIG), mux));
    const managerOf = (p: object) => (p as { secureManager: { iceTransports: unknown[] } }).secureManager;
    for (const member of PEER_CONNECTION_HOOKS) expect(definedOn(pc, member)).toBe("prototype");
    for (const member of SECURE_MANAGER_HOOKS) expect(definedOn(managerOf(pc), member)).toBe("prototype");
    pc.createDataChannel("hooks"); // werift makes the ICE transport now, through the hooked createTransport
    expect(managerOf(pc).iceTransports).toHaveLength(1);
    expect(Object.getOwnPropertyNames(pc)).toEqual(Object.getOwnPropertyNames(plain));
    expect(Object.getOwnPropertyNames(managerOf(pc))).toEqual(Object.getOwnPropertyNames(managerOf(plain)));
    expect(mux.stats().connections).toBe(1);
  });
});

describe.each(ICE_FLAVORS)("$name TcpPassiveProtocol", ({ create }) => {
  it("its hooked members are prototype members; a taken-over protocol gets no property", async () => {
    const tcpMux = closer.add(await TCPMux.listen({ address: "127.0.0.1" }));
    const agent = closer.add(attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS }), mux, { tcpMux }));
    await agent.gatherCandidates();
    const passive = agent.protocols.find((p) => (p as { type?: string }).type === "tcp") as object;
    expect(passive).toBeDefined();
    for (const member of [...TCP_PROTOCOL_HOOKS, TCP_PORT_GETTER])
      expect(definedOn(passive, member)).toBe("prototype");
    const tcp = agent.localCandidates.filter((c) => (c as { transport?: string }).transport === "tcp");
    expect(tcp.map((c) => c.port)).toEqual([tcpMux.getListenAddresses()[0]!.port]);
  });
});

/**
 * attachUDPMux()'s contract: what it refuses (bad arguments, unsupported werift shapes, too late, closed
 * mux, attached twice) and what it changes on an agent (announced addresses, the STUN default, ufrags).
 */
import { networkInterfaces } from "node:os";
import { beforeEach, describe, expect, it } from "vitest";
import { UDPMux } from "../../src/index.js";
import { attachUDPMux, MAX_UFRAGS_PER_AGENT, SUPPORTED_WERIFT_VERSIONS } from "../../src/werift/index.js";
import {
  connectAgents,
  ICE_FLAVORS,
  LOOPBACK_ICE_OPTIONS,
  plainAgent,
  roundTrip,
  useWeriftSuite,
} from "./helpers.js";

const { closer } = useWeriftSuite();
let mux: UDPMux;
beforeEach(async () => {
  mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
});

const iceAgent = (controlling = true) =>
  closer.add(ICE_FLAVORS[0]!.create(controlling, { ...LOOPBACK_ICE_OPTIONS }));

describe("arguments", () => {
  it.each([null, undefined, 42, "agent"])("target %o: ERR_INVALID_ARG_TYPE", (target) => {
    expect(() => attachUDPMux(target as unknown as object, mux)).toThrow(
      expect.objectContaining({ name: "TypeError", code: "ERR_INVALID_ARG_TYPE" }),
    );
  });

  it.each([null, {}, { getConn: 1 }])("mux %o: ERR_INVALID_ARG_TYPE", (bad) => {
    expect(() => attachUDPMux(iceAgent(), bad as unknown as UDPMux)).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_ARG_TYPE" }),
    );
  });

  it.each([
    [{ announcedAddresses: "127.0.0.1" }, "ERR_INVALID_ARG_TYPE"],
    [{ announcedAddresses: [7] }, "ERR_INVALID_ARG_TYPE"],
    [{ announcedAddresses: ["localhost"] }, "ERR_INVALID_ARG_VALUE"], // never resolved
    [{ announcedAddresses: ["::1"] }, "ERR_INVALID_ARG_VALUE"], // the mux is IPv4
    [{ announcedAddresses: ["0.0.0.0"] }, "ERR_INVALID_ARG_VALUE"],
    [{ stunServers: { address: "127.0.0.1", port: 3478 } }, "ERR_INVALID_ARG_TYPE"],
    [{ stunServers: [{ address: "stun.example.com", port: 3478 }] }, "ERR_INVALID_ARG_VALUE"],
    [{ stunServers: [{ address: "127.0.0.1", port: 0 }] }, "ERR_INVALID_ARG_VALUE"],
    [{ stunServers: [{ address: "127.0.0.1", port: "3478" }] }, "ERR_INVALID_ARG_TYPE"],
    [{ stunServers: [{ address: "::1", port: 3478 }] }, "ERR_INVALID_ARG_VALUE"],
    ["options", "ERR_INVALID_ARG_TYPE"],
  ])("options %o: %s, and the agent is untouched", (options, code) => {
    const agent = iceAgent();
    const ensureProtocol = (agent as unknown as { ensureProtocol: unknown }).ensureProtocol;
    expect(() => attachUDPMux(agent, mux, options as never)).toThrow(expect.objectContaining({ code }));
    expect((agent as unknown as { ensureProtocol: unknown }).ensureProtocol).toBe(ensureProtocol);
    expect(mux.stats().connections).toBe(0);
  });

  it("a wildcard mux announces the interface addresses, and refuses when there is none", async () => {
    const wildcard = closer.add(await UDPMux.bind({ address: "0.0.0.0" }));
    const external = Object.values(networkInterfaces())
      .flat()
      .filter((i) => i !== undefined && i.family === "IPv4" && !i.internal);
    const agent = iceAgent();
    if (external.length === 0) {
      // e.g. in CI's loopback-only namespace: nothing to announce, and an agent with no candidate is useless
      expect(() => attachUDPMux(agent, wildcard)).toThrow(
        expect.objectContaining({
          code: "ERR_NO_ADDRESS_TO_ANNOUNCE",
          message: expect.stringContaining("options.announcedAddresses"),
        }),
      );
      // An explicit empty list is the caller's own mistake: an argument error naming it.
      expect(() => attachUDPMux(iceAgent(), wildcard, { announcedAddresses: [] })).toThrow(
        expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }),
      );
      expect(wildcard.stats().connections).toBe(0);
    } else {
      expect(attachUDPMux(agent, wildcard)).toBe(agent); // gathers nothing until asked: no datagram sent
    }
  });

  it("a closed mux: ERR_MUX_CLOSED", async () => {
    await mux.close();
    expect(() => attachUDPMux(iceAgent(), mux)).toThrow(expect.objectContaining({ code: "ERR_MUX_CLOSED" }));
  });

  it("the same agent twice: ERR_INVALID_ARG_VALUE", () => {
    const agent = attachUDPMux(iceAgent(), mux);
    expect(() => attachUDPMux(agent, mux)).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }),
    );
    expect(mux.stats().connections).toBe(1);
  });
});

describe("ERR_UNSUPPORTED_WERIFT", () => {
  it.each([
    ["an empty object", () => ({})],
    ["a pc without secureManager.createTransport", () => ({ setLocalDescription() {}, secureManager: {} })],
    [
      "an agent without ensureProtocol",
      () => {
        const agent = ICE_FLAVORS[0]!.create(true, {});
        (agent as unknown as { ensureProtocol: unknown }).ensureProtocol = undefined;
        return agent;
      },
    ],
    [
      "an agent whose localUsername is an accessor",
      () => {
        const agent = ICE_FLAVORS[0]!.create(true, {});
        Object.defineProperty(agent, "localUsername", { get: () => "abcd", configurable: true });
        return agent;
      },
    ],
  ])("refuses %s, naming what is missing and the supported versions", (_name, make) => {
    const target = make();
    let error: unknown;
    try {
      attachUDPMux(target as object, mux);
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: "ERR_UNSUPPORTED_WERIFT", supported: SUPPORTED_WERIFT_VERSIONS });
    expect((error as { missing: string[] }).missing.length).toBeGreaterThan(0);
    expect((error as Error).message).toContain(SUPPORTED_WERIFT_VERSIONS);
    expect(mux.stats().connections).toBe(0);
  });
});

describe.each(ICE_FLAVORS)("$name", ({ create }) => {
  const muxedAgent = (options?: Parameters<typeof attachUDPMux>[2]) =>
    closer.add(attachUDPMux(create(true, { ...LOOPBACK_ICE_OPTIONS }), mux, options));

  it("ERR_ALREADY_GATHERING once the agent gathered on its own sockets", async () => {
    const agent = closer.add(plainAgent(create, true));
    await agent.gatherCandidates();
    expect(() => attachUDPMux(agent, mux)).toThrow(
      expect.objectContaining({ code: "ERR_ALREADY_GATHERING" }),
    );
    expect(mux.stats().connections).toBe(0);
  });

  it("werift's stun.l.google.com default never applies, even when werift sets it again", async () => {
    const agent = muxedAgent();
    expect(agent.stunServer).toBeUndefined();
    agent.stunServer = ["127.0.0.1", 3478];
    const setIceServers = (agent as unknown as { setIceServers?: (o: object) => void }).setIceServers;
    setIceServers?.call(agent, { stunServer: undefined }); // werift 0.25: falls back to Google again
    await agent.gatherCandidates(); // the adapter clears the field before werift gathers
    expect(agent.stunServer).toBeUndefined();
    expect(agent.localCandidates.map((c) => c.type)).toEqual(["host"]);
  });

  it("announcedAddresses: one host candidate per address, all on the mux's port, distinct priorities", async () => {
    const port = mux.getListenAddresses()[0]!.port;
    const a = muxedAgent({ announcedAddresses: ["127.0.0.1", "127.0.0.2"] });
    const b = closer.add(plainAgent(create, false));
    await connectAgents(a, b);
    const hosts = a.localCandidates as unknown as { host: string; port: number; priority: number }[];
    expect(hosts.map((c) => [c.host, c.port])).toEqual([
      ["127.0.0.1", port],
      ["127.0.0.2", port],
    ]);
    expect(hosts[0]!.priority).toBeGreaterThan(hosts[1]!.priority);
    expect(await roundTrip(a, b, "announced")).toBe("announced");
  });

  it("a ufrag another agent on the mux owns is replaced before it is advertised", async () => {
    const a = muxedAgent();
    const taken = create(false, { ...LOOPBACK_ICE_OPTIONS });
    taken.localUsername = a.localUsername; // werift's ufrags have 16 bits: clashes happen
    const b = closer.add(attachUDPMux(taken, mux));
    expect(b.localUsername).not.toBe(a.localUsername);
    expect(b.userHistory[b.localUsername]).toBe(b.localPassword);
    // (a clash drawn by werift's restart() is replaced too: credentials.test.ts)
    // both still work
    const pa = closer.add(plainAgent(create, false));
    const pb = closer.add(plainAgent(create, true));
    await Promise.all([connectAgents(a, pa), connectAgents(b, pb)]);
    expect(await roundTrip(pa, a, "to a")).toBe("to a");
    expect(await roundTrip(pb, b, "to b")).toBe("to b");
  });

  it(`keeps at most ${MAX_UFRAGS_PER_AGENT} ufrags of an agent routed`, async () => {
    const a = muxedAgent();
    for (let i = 0; i < MAX_UFRAGS_PER_AGENT + 4; i++) await a.restart();
    expect(mux.stats().connections).toBe(MAX_UFRAGS_PER_AGENT);
    expect(a.state).not.toBe("closed"); // dropping old generations is not closing the agent
    await a.close();
    expect(mux.stats().connections).toBe(0);
  });

  it("each registered ufrag's conn requires the password of its own generation", async () => {
    const a = muxedAgent();
    const [ufrag0, password0] = [a.localUsername, a.localPassword];
    await a.restart();
    expect(a.localUsername).not.toBe(ufrag0);
    expect(mux.getConn(ufrag0).password).toBe(password0);
    expect(mux.getConn(a.localUsername).password).toBe(a.localPassword);
    expect(mux.stats().connections).toBe(2); // getConn found them: nothing new was created
  });
});

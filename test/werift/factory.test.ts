/**
 * `createPeerConnectionFactory()` (werift 0.24.4 and 0.25.2): its peer connections are attached — no socket
 * of their own, one conn each on the mux — and closed when they fail (ICE that never connects; consent
 * expiry after the peer went away), which frees their conn; argument checks.
 */
import { describe, expect, it } from "vitest";
import { UDPMux } from "../../src/index.js";
import { attachUDPMux, createPeerConnectionFactory } from "../../src/werift/index.js";
import { PC_FLAVORS, udpHandles, useWeriftSuite } from "./helpers.js";
import { candidatelessOffer } from "./offer-rewrite.js";
import { connectionState, echo, offerAnswer, openChannels, type PC, plainPc } from "./pc.js";

const suite = useWeriftSuite();
const { closer } = suite;

/** How long a server left without the peer's checks waits before ICE fails, in the failure tests. */
const PEER_CHECK_TIMEOUT_MS = 200;
/** werift's RFC 7675 consent expiry (`CONSENT_TIMEOUT`, 30 s in 0.24.4 and 0.25.2), plus slack. */
const CONSENT_EXPIRY_MS = 30_000;
const CONSENT_SLACK_MS = 8_000;

async function bindMux(): Promise<UDPMux> {
  return closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
}

/** A subclass of werift's `Base` that counts the peer connections made: what a refusing factory must not make. */
function countingPeerConnections<T extends (typeof PC_FLAVORS)[number]["RTCPeerConnection"]>(
  Base: T,
): { Counting: T; made: () => number } {
  let made = 0;
  class Counting extends Base {
    constructor(config?: ConstructorParameters<T>[0]) {
      super(config);
      made++;
    }
  }
  return { Counting, made: () => made };
}

/** The states `pc` goes through from now on. */
function recordStates(pc: PC): string[] {
  const states: string[] = [];
  pc.connectionStateChange.subscribe((s) => states.push(s));
  return states;
}

function candidateLines(pc: PC): string[] {
  return pc.localDescription!.sdp.split(/\r?\n/).filter((l) => l.startsWith("a=candidate:"));
}

describe.each(PC_FLAVORS)("$name: createPeerConnectionFactory", ({ RTCPeerConnection }) => {
  it("its peer connections are attached: max-bundle, host candidate on the mux's port, no socket of their own", async () => {
    const mux = await bindMux();
    const { port } = mux.getListenAddresses()[0]!;
    const newPeerConnection = createPeerConnectionFactory(RTCPeerConnection, mux);
    const handles = udpHandles();
    const binds = suite.guard.binds.length;
    const a = closer.add(newPeerConnection()) satisfies InstanceType<typeof RTCPeerConnection>;
    const b = closer.add(newPeerConnection({ iceServers: [] }));
    expect(a.config.bundlePolicy).toBe("max-bundle");
    const { offererChannel, answererChannel } = await openChannels(a as PC, b as PC);
    expect(await echo(offererChannel, answererChannel, "a→b")).toBe("a→b");
    expect(await echo(answererChannel, offererChannel, "b→a")).toBe("b→a");
    for (const pc of [a, b]) {
      expect(candidateLines(pc as PC)).toEqual([expect.stringContaining(` 127.0.0.1 ${port} typ host`)]);
    }
    expect(mux.stats().connections).toBe(2);
    expect(suite.guard.binds.length).toBe(binds);
    expect(udpHandles()).toBe(handles);
    // attached already: a second attach is refused
    expect(() => attachUDPMux(a, mux)).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }));
    await a.close();
    expect(mux.stats().connections).toBe(1);
  });

  it("passes the config on, with max-bundle filled in", async () => {
    const mux = await bindMux();
    const pc = closer.add(createPeerConnectionFactory(RTCPeerConnection, mux)({ iceUseIpv6: false }));
    expect(pc.config).toMatchObject({ bundlePolicy: "max-bundle", iceUseIpv6: false });
    const explicit = closer.add(
      createPeerConnectionFactory(RTCPeerConnection, mux)({ bundlePolicy: "max-bundle" }),
    );
    expect(explicit.config.bundlePolicy).toBe("max-bundle");
  });

  it("closes a peer connection whose ICE fails, which frees its conn on the mux", async () => {
    const mux = await bindMux();
    const server = closer.add(
      createPeerConnectionFactory(RTCPeerConnection, mux, { peerCheckTimeoutMs: PEER_CHECK_TIMEOUT_MS })(),
    ) as PC;
    const client = closer.add(plainPc(RTCPeerConnection));
    const states = recordStates(server);
    const closed = connectionState(server, "closed");
    client.createDataChannel("echo");
    // no candidate in the offer, and the client never gets the answer: no check ever reaches the server
    await offerAnswer(client, server, { rewriteOffer: candidatelessOffer });
    expect(mux.stats().connections).toBe(1);
    await closed;
    expect(states.slice(-2)).toEqual(["failed", "closed"]);
    expect(mux.stats().connections).toBe(0);
  });

  it("closeOnFailure: false leaves a failed peer connection (and its conn) to the caller", async () => {
    const mux = await bindMux();
    const factory = createPeerConnectionFactory(RTCPeerConnection, mux, {
      peerCheckTimeoutMs: PEER_CHECK_TIMEOUT_MS,
      closeOnFailure: false,
    });
    const server = closer.add(factory()) as PC;
    const client = closer.add(plainPc(RTCPeerConnection));
    const states = recordStates(server);
    client.createDataChannel("echo");
    const failed = connectionState(server, "failed");
    await offerAnswer(client, server, { rewriteOffer: candidatelessOffer });
    await failed;
    await new Promise((resolve) => setTimeout(resolve, 100)); // a close would have begun a microtask later
    expect(states.at(-1)).toBe("failed");
    expect(server.connectionState).toBe("failed");
    expect(mux.stats().connections).toBe(1);
    await server.close();
    expect(mux.stats().connections).toBe(0);
  });

  it("refuses another bundle policy before it makes a peer connection", async () => {
    const mux = await bindMux();
    const { Counting, made } = countingPeerConnections(RTCPeerConnection);
    const factory = createPeerConnectionFactory(Counting, mux);
    for (const bundlePolicy of ["balanced", "max-compat", "disable"] as const) {
      expect(() => factory({ bundlePolicy })).toThrow(
        expect.objectContaining({ code: "ERR_BUNDLE_POLICY", bundlePolicy }),
      );
    }
    expect(made()).toBe(0);
    closer.add(factory());
    expect(made()).toBe(1);
  });
});

it(
  "closes a peer connection whose peer went away when werift's consent expires (both werift versions)",
  async () => {
    await Promise.all(
      PC_FLAVORS.map(async ({ RTCPeerConnection }) => {
        const mux = await bindMux();
        const server = closer.add(createPeerConnectionFactory(RTCPeerConnection, mux)()) as PC;
        const client = closer.add(plainPc(RTCPeerConnection));
        await openChannels(client, server);
        await connectionState(server, "connected");
        const states = recordStates(server);
        const closed = connectionState(server, "closed");
        const gone = performance.now();
        await client.close(); // its socket closes: the server's consent checks go unanswered
        await closed;
        const elapsed = performance.now() - gone;
        expect(elapsed).toBeGreaterThan(CONSENT_EXPIRY_MS - CONSENT_SLACK_MS);
        expect(states).toEqual(["failed", "closed"]);
        expect(mux.stats().connections).toBe(0);
      }),
    );
  },
  CONSENT_EXPIRY_MS + 2 * CONSENT_SLACK_MS,
);

describe("createPeerConnectionFactory: arguments", () => {
  const { RTCPeerConnection } = PC_FLAVORS[1];

  it.each([
    ["no class", undefined],
    ["an instance, not the class", {}],
    ["a string", "RTCPeerConnection"],
  ])("RTCPeerConnection: %s is refused with ERR_INVALID_ARG_TYPE", async (_, value) => {
    const mux = await bindMux();
    expect(() => createPeerConnectionFactory(value as never, mux)).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_ARG_TYPE" }),
    );
  });

  it.each([
    ["no mux", undefined],
    ["null", null],
    ["not a mux", { close() {} }],
  ])("mux: %s is refused with ERR_INVALID_ARG_TYPE", (_, value) => {
    expect(() => createPeerConnectionFactory(RTCPeerConnection, value as never)).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_ARG_TYPE" }),
    );
  });

  it.each([
    ["options not an object", "closeOnFailure", "ERR_INVALID_ARG_TYPE"],
    ["closeOnFailure not a boolean", { closeOnFailure: "yes" }, "ERR_INVALID_ARG_TYPE"],
    ["an announced host name", { announcedAddresses: ["example.com"] }, "ERR_INVALID_ARG_VALUE"],
    ["an announced address of another family", { announcedAddresses: ["::1"] }, "ERR_INVALID_ARG_VALUE"],
    ["peerCheckTimeoutMs negative", { peerCheckTimeoutMs: -1 }, "ERR_OUT_OF_RANGE"],
    ["a misspelled option", { closeOnFailur: false }, "ERR_INVALID_ARG_VALUE"],
  ])("options: %s is refused when the factory is made (%s → %s)", async (_, options, code) => {
    const mux = await bindMux();
    expect(() => createPeerConnectionFactory(RTCPeerConnection, mux, options as never)).toThrow(
      expect.objectContaining({ code }),
    );
  });

  it("a misspelled factory option is told the factory's own option name", async () => {
    const mux = await bindMux();
    expect(() =>
      createPeerConnectionFactory(RTCPeerConnection, mux, { closeOnFailur: false } as never),
    ).toThrow(
      expect.objectContaining({
        code: "ERR_INVALID_ARG_VALUE",
        message: expect.stringContaining("did you mean `closeOnFailure`?"),
      }),
    );
  });

  it("a closed mux: refused when the factory is made, and by a factory before it makes a peer connection", async () => {
    const mux = await bindMux();
    const { Counting, made } = countingPeerConnections(RTCPeerConnection);
    const factory = createPeerConnectionFactory(Counting, mux);
    await mux.close();
    expect(() => createPeerConnectionFactory(Counting, mux)).toThrow(
      expect.objectContaining({ code: "ERR_MUX_CLOSED" }),
    );
    expect(() => factory()).toThrow(expect.objectContaining({ code: "ERR_MUX_CLOSED" }));
    expect(made()).toBe(0);
  });

  it("config not an object is refused with ERR_INVALID_ARG_TYPE", async () => {
    const factory = createPeerConnectionFactory(RTCPeerConnection, await bindMux());
    expect(() => factory("max-bundle" as never)).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_ARG_TYPE" }),
    );
  });

  it("a class that isn't werift's: ERR_UNSUPPORTED_WERIFT, and what it made is closed", async () => {
    const mux = await bindMux();
    const made: { closed: boolean }[] = [];
    class NotWerift {
      closed = false;
      readonly connectionStateChange = { subscribe: () => ({ unSubscribe() {} }) };
      constructor() {
        made.push(this);
      }
      async close() {
        this.closed = true;
      }
    }
    const factory = createPeerConnectionFactory(NotWerift, mux);
    expect(() => factory()).toThrow(expect.objectContaining({ code: "ERR_UNSUPPORTED_WERIFT" }));
    expect(made).toEqual([{ closed: true, connectionStateChange: expect.anything() }]);
  });

  it("copies its options: changing the object afterwards changes nothing", async () => {
    const mux = await bindMux();
    const options = { announcedAddresses: ["127.0.0.1"] };
    const factory = createPeerConnectionFactory(RTCPeerConnection, mux, options);
    options.announcedAddresses[0] = "127.0.0.2";
    const a = closer.add(factory()) as PC;
    const b = closer.add(factory()) as PC;
    await openChannels(a, b);
    expect(candidateLines(a)).toEqual([expect.stringContaining(" 127.0.0.1 ")]);
  });
});

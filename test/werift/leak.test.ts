/**
 * Nothing an attached agent leaves behind keeps it alive: once a peer connection (werift 0.24.4, 0.25.2) or
 * an ICE agent (werift-ice 0.2.3 and werift's bundled copies) has connected and closed, it can be garbage
 * collected while its mux lives on. Observed with a `WeakRef` and `global.gc` (vitest.config.ts gives the
 * workers `--expose-gc`). The same agent on its own sockets is the control: it shows the method sees a
 * collection, so a pass means something.
 */
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { UDPMux } from "../../src/index.js";
import { attachUDPMux } from "../../src/werift/index.js";
import {
  connectAgents,
  ICE_FLAVORS,
  LOOPBACK_ICE_OPTIONS,
  PC_FLAVORS,
  plainAgent,
  roundTrip,
  useWeriftSuite,
} from "./helpers.js";
import { echo, openChannels, type PC, plainPc } from "./pc.js";

const { closer } = useWeriftSuite();

const gc = (globalThis as { gc?: () => void }).gc;

/** How many gc rounds to try (with a macrotask between) before calling an object leaked. */
const GC_ROUNDS = 30;
/** Between rounds: werift's own timers (retransmissions, consent) may hold a closed agent briefly. */
const GC_ROUND_MS = 50;

/** Whether `ref`'s target was collected within {@link GC_ROUNDS} rounds of gc. */
async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let round = 0; round < GC_ROUNDS; round++) {
    await new Promise((resolve) => setTimeout(resolve, GC_ROUND_MS));
    gc!();
    if (ref.deref() === undefined) return true;
  }
  return false;
}

beforeAll(() => {
  // Not a skip: without --expose-gc this file can prove nothing, so it fails.
  expect(gc, "vitest must run the workers with --expose-gc (vitest.config.ts execArgv)").toBeTypeOf(
    "function",
  );
});

/** `client` offers a data channel, `server` answers; one message crosses. */
async function connectPcs(client: PC, server: PC): Promise<void> {
  const { offererChannel, answererChannel } = await openChannels(client, server, "leak");
  expect(await echo(offererChannel, answererChannel, "hello")).toBe("hello");
}

describe.each(PC_FLAVORS)("$name RTCPeerConnection, connected then closed", ({ RTCPeerConnection }) => {
  let mux: UDPMux;
  beforeEach(async () => {
    mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
  });

  /**
   * Connect a server pc (attached to the mux, or not) with a plain client, close both; a WeakRef to the
   * server and to its ICE agent. Nothing here outlives the call but the refs.
   */
  async function connectedThenClosed(attach: boolean): Promise<WeakRef<object>[]> {
    const client = plainPc(RTCPeerConnection);
    const server = attach
      ? (attachUDPMux(new RTCPeerConnection({ bundlePolicy: "max-bundle" }), mux) as unknown as PC)
      : plainPc(RTCPeerConnection);
    try {
      await connectPcs(client, server);
      if (attach) expect(mux.stats().connections).toBe(1);
      const agent = (server as unknown as { secureManager: { iceTransports: { connection: object }[] } })
        .secureManager.iceTransports[0]!.connection;
      return [new WeakRef(server), new WeakRef(agent)];
    } finally {
      await Promise.all([server.close(), client.close()]);
    }
  }

  it("control: a plain peer connection is collected after close", async () => {
    const [pc, agent] = await connectedThenClosed(false);
    expect(await collected(pc!)).toBe(true);
    expect(await collected(agent!)).toBe(true);
  });

  it("an attached peer connection and its ICE agent are collected after close, the mux still open", async () => {
    const [pc, agent] = await connectedThenClosed(true);
    expect(mux.closed).toBe(false);
    expect(mux.stats()).toMatchObject({ connections: 0, addresses: 0, transactions: 0 });
    expect(await collected(pc!)).toBe(true);
    expect(await collected(agent!)).toBe(true);
  });

  it("a second attached peer connection too (not only the first on a mux)", async () => {
    const [first] = await connectedThenClosed(true);
    const [second] = await connectedThenClosed(true);
    expect(await collected(first!)).toBe(true);
    expect(await collected(second!)).toBe(true);
  });
});

describe.each(ICE_FLAVORS)("$name agent, connected then closed", ({ create }) => {
  let mux: UDPMux;
  beforeEach(async () => {
    mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
  });

  async function connectedThenClosed(attach: boolean): Promise<WeakRef<object>> {
    const client = plainAgent(create, true);
    const server = attach
      ? attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS }), mux)
      : plainAgent(create, false);
    try {
      await connectAgents(client, server);
      expect(await roundTrip(client, server, "hello")).toBe("hello");
      return new WeakRef(server);
    } finally {
      await Promise.all([server.close(), client.close()]);
    }
  }

  it("control: a plain agent is collected after close", async () => {
    expect(await collected(await connectedThenClosed(false))).toBe(true);
  });

  it("an attached agent is collected after close, the mux still open", async () => {
    const ref = await connectedThenClosed(true);
    expect(mux.closed).toBe(false);
    expect(mux.stats()).toMatchObject({ connections: 0, addresses: 0, transactions: 0 });
    expect(await collected(ref)).toBe(true);
  });
});

/**
 * werift ICE agents (werift-ice 0.2.3, werift 0.24.4 and 0.25.2's bundled copy) on a UDPMux, over real
 * loopback sockets: data both ways, hairpin (both ends on one mux), 50 pairs at once, sockets bound,
 * ICE restart, close in both directions.
 */
import dgram from "node:dgram";
import { once } from "node:events";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { classes, Message, methods, parseMessage } from "werift-ice";
import { UDPMux } from "../../src/index.js";
import { attachUDPMux } from "../../src/werift/index.js";
import {
  connectAgents,
  ICE_FLAVORS,
  LOOPBACK_ICE_OPTIONS,
  nextData,
  plainAgent,
  roundTrip,
  stateReached,
  udpHandles,
  useWeriftSuite,
} from "./helpers.js";

const suite = useWeriftSuite();
const { closer } = suite;

/** A Binding Request as a peer agent sends it: USERNAME `ufrag:peer`, signed with `password`. */
function check(ufrag: string, password: string): Buffer {
  const msg = new Message(methods.BINDING, classes.REQUEST);
  msg.setAttribute("USERNAME", `${ufrag}:peer`);
  msg.setAttribute("PRIORITY", 1853824767);
  msg.setAttribute("ICE-CONTROLLED", 42n);
  msg.addMessageIntegrity(Buffer.from(password, "utf8"));
  msg.addFingerprint();
  return msg.bytes;
}

/** The first STUN success response `socket` receives. */
async function nextResponse(socket: dgram.Socket): Promise<{ transactionIdHex: string }> {
  for (;;) {
    const [data] = (await once(socket, "message")) as [Buffer];
    const msg = parseMessage(data);
    if (msg !== undefined && msg.messageClass === classes.RESPONSE) return msg;
  }
}

describe.each(ICE_FLAVORS)("$name agent on a UDPMux", ({ create }) => {
  let mux: UDPMux;
  let port: number;
  beforeEach(async () => {
    mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    port = mux.getListenAddresses()[0]!.port;
  });

  const muxed = (controlling: boolean) =>
    closer.add(attachUDPMux(create(controlling, { ...LOOPBACK_ICE_OPTIONS }), mux));
  const plain = (controlling: boolean) => closer.add(plainAgent(create, controlling));

  it("muxed ↔ plain: connects and carries data both ways, from the mux's port", async () => {
    const a = muxed(true);
    const b = plain(false);
    await connectAgents(a, b);
    expect(a.localCandidates.map((c) => [c.type, c.host, c.port])).toEqual([["host", "127.0.0.1", port]]);
    expect(a.nominated?.localCandidate.port).toBe(port);
    expect(b.nominated?.remoteAddr).toEqual(["127.0.0.1", port]);
    expect(await roundTrip(a, b, "a→b")).toBe("a→b");
    expect(await roundTrip(b, a, "b→a")).toBe("b→a");
    expect(a.stunServer).toBeUndefined(); // werift's public STUN default is pinned off: never contacted
  });

  it("the plain side can be the controlling one", async () => {
    const a = muxed(false);
    const b = plain(true);
    await connectAgents(a, b);
    expect(await roundTrip(b, a, "b→a")).toBe("b→a");
    expect(await roundTrip(a, b, "a→b")).toBe("a→b");
  });

  it("muxed ↔ muxed on one mux: hairpin traffic reaches the right agent, no other socket", async () => {
    const handles = udpHandles();
    const binds = suite.guard.binds.length;
    const a = muxed(true);
    const b = muxed(false);
    await connectAgents(a, b);
    expect(a.localCandidates[0]).toMatchObject({ host: "127.0.0.1", port });
    expect(b.localCandidates[0]).toMatchObject({ host: "127.0.0.1", port });
    expect(await roundTrip(a, b, "to b")).toBe("to b");
    expect(await roundTrip(b, a, "to a")).toBe("to a");
    expect(suite.guard.binds.length).toBe(binds);
    expect(udpHandles()).toBe(handles);
    expect(mux.stats().connections).toBe(2);
  });

  it("binds no socket for the muxed agent: only the mux's", async () => {
    const handles = udpHandles();
    const binds = suite.guard.binds.length;
    const a = muxed(true);
    await a.gatherCandidates();
    expect(a.localCandidates).toHaveLength(1);
    expect(suite.guard.binds.length).toBe(binds);
    expect(udpHandles()).toBe(handles);
  });

  it("50 agent pairs through one mux at once all connect and echo", async () => {
    const pairs = Array.from({ length: 50 }, (_, i) => {
      const muxedControls = i % 2 === 0;
      return { a: muxed(muxedControls), b: plain(!muxedControls) };
    });
    await Promise.all(pairs.map(({ a, b }) => connectAgents(a, b)));
    expect(mux.stats().connections).toBe(50);
    // every plain peer echoes what it gets; each muxed agent must get its own payload back
    for (const { b } of pairs) b.onData.subscribe((data) => void b.send(data));
    const echoes = await Promise.all(
      pairs.map(async ({ a }, i) => {
        const back = nextData(a);
        await a.send(Buffer.from(`pair ${i}`));
        return (await back).toString();
      }),
    );
    expect(echoes).toEqual(pairs.map((_, i) => `pair ${i}`));
  });

  it("ICE restart with the remote on the same address: new ufrag routes, old one still answers", async () => {
    const a = muxed(true);
    const b = plain(false);
    await connectAgents(a, b);
    const oldUfrag = a.localUsername;
    const oldPassword = a.localPassword;
    await a.restart();
    await b.restart();
    expect(a.localUsername).not.toBe(oldUfrag);
    await connectAgents(a, b);
    expect(a.generation).toBe(1);
    expect(a.localCandidates[0]).toMatchObject({ host: "127.0.0.1", port });
    expect(await roundTrip(a, b, "after restart")).toBe("after restart");
    expect(await roundTrip(b, a, "back")).toBe("back");
    expect(mux.stats().connections).toBe(2); // the old ufrag and the new one

    // a check for the old ufrag, signed with the old password, still reaches the agent and is answered
    const peer = closer.add(dgram.createSocket("udp4"));
    peer.bind(0, "127.0.0.1");
    await once(peer, "listening");
    const answered = nextResponse(peer);
    peer.send(check(oldUfrag, oldPassword), port, "127.0.0.1");
    await answered;
    // signed with the wrong password, the mux drops it before werift sees it
    const before = mux.stats().droppedByReason["integrity-failed"] ?? 0;
    peer.send(check(oldUfrag, "not-the-password-at-all"), port, "127.0.0.1");
    await vi.waitFor(() => expect(mux.stats().droppedByReason["integrity-failed"]).toBe(before + 1));
  });

  it("ICE restart with the remote on a new address", async () => {
    const a = muxed(true);
    const b = plain(false);
    await connectAgents(a, b);
    const bPort = b.localCandidates[0]!.port;
    await b.close();
    await a.restart();
    // The peer comes back from another socket, as a restarted agent of the same generation: werift only
    // nominates a pair whose remote candidate has its own generation (plain werift does the same).
    const c = plain(false);
    await c.restart();
    await connectAgents(a, c);
    const cPort = c.localCandidates[0]!.port;
    expect(cPort).not.toBe(bPort);
    expect(a.nominated?.remoteAddr).toEqual(["127.0.0.1", cPort]);
    expect(await roundTrip(a, c, "to the new address")).toBe("to the new address");
    expect(await roundTrip(c, a, "from the new address")).toBe("from the new address");
  });

  it("closing the agent leaves the mux with no connection, address or transaction", async () => {
    const a = muxed(true);
    const b = plain(false);
    await connectAgents(a, b);
    expect(await roundTrip(b, a, "x")).toBe("x");
    await a.restart(); // two ufrags registered now
    expect(mux.stats()).toMatchObject({ connections: 2 });
    expect(mux.stats().addresses).toBeGreaterThan(0);
    await a.close();
    expect(mux.stats()).toMatchObject({ connections: 0, addresses: 0, transactions: 0, acceptQueue: 0 });
  });

  it("closing the mux closes the attached agents", async () => {
    const a = muxed(true);
    const b = muxed(false);
    await connectAgents(a, b);
    const closed = Promise.all([stateReached(a, "closed"), stateReached(b, "closed")]);
    await mux.close();
    await closed;
    expect([a.state, b.state]).toEqual(["closed", "closed"]);
  });

  it("a ufrag removed from the mux under the agent closes the agent", async () => {
    const a = muxed(true);
    await a.gatherCandidates();
    const closed = stateReached(a, "closed");
    mux.removeConnByUfrag(a.localUsername);
    await closed;
    expect(mux.stats().connections).toBe(0);
  });
});

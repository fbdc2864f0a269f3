/**
 * werift RTCPeerConnection (0.24.4 and 0.25.2, `bundlePolicy: "max-bundle"`) on a UDPMux: data channels
 * muxed↔plain and muxed↔muxed, 50 peer connections on one mux, ICE restart, close both ways.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { UDPMux } from "../../src/index.js";
import { attachUDPMux } from "../../src/werift/index.js";
import { PC_FLAVORS, udpHandles, useWeriftSuite } from "./helpers.js";
import {
  type Channel,
  connectionState,
  echo,
  gathered,
  negotiate,
  nextMessage,
  openChannels,
  opened,
  type PC,
  plainPc,
} from "./pc.js";

const suite = useWeriftSuite();
const { closer } = suite;

function candidateLines(pc: PC): string[] {
  return pc.localDescription!.sdp.split(/\r?\n/).filter((l) => l.startsWith("a=candidate:"));
}

describe.each(PC_FLAVORS)("$name RTCPeerConnection on a UDPMux", ({ RTCPeerConnection }) => {
  let mux: UDPMux;
  let port: number;
  beforeEach(async () => {
    mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    port = mux.getListenAddresses()[0]!.port;
  });

  const muxed = (): PC =>
    closer.add(attachUDPMux(new RTCPeerConnection({ bundlePolicy: "max-bundle" }), mux)) as PC;
  const plain = (): PC => closer.add(plainPc(RTCPeerConnection));

  it("data channel muxed (answerer) ↔ plain (offerer), both directions, one host candidate on the mux's port", async () => {
    const server = muxed();
    const client = plain();
    const { offererChannel, answererChannel } = await openChannels(client, server);
    expect(candidateLines(server)).toHaveLength(1);
    expect(candidateLines(server)[0]).toContain(` 127.0.0.1 ${port} typ host`);
    expect(await echo(offererChannel, answererChannel, "to the server")).toBe("to the server");
    expect(await echo(answererChannel, offererChannel, "to the client")).toBe("to the client");
  });

  it("data channel muxed (offerer) ↔ plain (answerer)", async () => {
    const a = muxed();
    const b = plain();
    const { offererChannel, answererChannel } = await openChannels(a, b);
    expect(await echo(offererChannel, answererChannel, "ping")).toBe("ping");
    expect(await echo(answererChannel, offererChannel, "pong")).toBe("pong");
  });

  it("data channel muxed ↔ muxed on one mux, no socket but the mux's", async () => {
    const handles = udpHandles();
    const binds = suite.guard.binds.length;
    const a = muxed();
    const b = muxed();
    const { offererChannel, answererChannel } = await openChannels(a, b);
    expect(await echo(offererChannel, answererChannel, "a→b")).toBe("a→b");
    expect(await echo(answererChannel, offererChannel, "b→a")).toBe("b→a");
    expect(suite.guard.binds.length).toBe(binds);
    expect(udpHandles()).toBe(handles);
  });

  it("50 peer connections through one mux", async () => {
    const pairs = Array.from({ length: 50 }, () => ({ server: muxed(), client: plain() }));
    const channels = await Promise.all(pairs.map(({ server, client }) => openChannels(client, server)));
    expect(mux.stats().connections).toBe(50);
    for (const { answererChannel } of channels) {
      answererChannel.onMessage.subscribe((data) => answererChannel.send(data));
    }
    const echoes = await Promise.all(
      channels.map(({ offererChannel }, i) => {
        const back = nextMessage(offererChannel);
        offererChannel.send(`pc ${i}`);
        return back;
      }),
    );
    expect(echoes).toEqual(pairs.map((_, i) => `pc ${i}`));
  });

  it("ICE restart: the new ufrag routes to the same peer connection", async () => {
    const server = muxed();
    const client = plain();
    const { offererChannel, answererChannel } = await openChannels(client, server);
    const ufragOf = (pc: PC) => /a=ice-ufrag:(\S+)/.exec(pc.localDescription!.sdp)![1]!;
    const before = ufragOf(server);
    await negotiate(client, server, { iceRestart: true });
    const after = ufragOf(server);
    expect(after).not.toBe(before);
    expect(mux.stats().connections).toBe(2);
    // werift (0.24.4 and 0.25.2, with or without a mux) leaves its ICE transports "completed" after a
    // restart renegotiation and never runs the new checks when both ends are werift; a browser peer would
    // run them. Start them as werift should.
    for (const pc of [server, client]) {
      for (const t of (pc as unknown as { secureManager: { iceTransports: { start(): Promise<void> }[] } })
        .secureManager.iceTransports) {
        void t.start();
      }
    }
    expect(await echo(offererChannel, answererChannel, "after restart")).toBe("after restart");
    expect(await echo(answererChannel, offererChannel, "back")).toBe("back");
  });

  it("pc.close() leaves the mux empty", async () => {
    const server = muxed();
    const client = plain();
    const { offererChannel, answererChannel } = await openChannels(client, server);
    expect(await echo(offererChannel, answererChannel, "x")).toBe("x");
    expect(mux.stats().connections).toBe(1);
    await server.close();
    expect(mux.stats()).toMatchObject({ connections: 0, addresses: 0, transactions: 0, acceptQueue: 0 });
  });

  it("closing the mux closes the peer connections", async () => {
    const a = muxed();
    const b = muxed();
    await openChannels(a, b);
    const closed = Promise.all([connectionState(a, "closed"), connectionState(b, "closed")]);
    await mux.close();
    await closed;
    expect([a.connectionState, b.connectionState]).toEqual(["closed", "closed"]);
  });

  it("closing the mux closes a peer connection that has no ICE transport yet", async () => {
    const pc = muxed(); // attached before createDataChannel / setRemoteDescription: no transport, no conn
    expect(mux.stats().connections).toBe(0);
    const closed = connectionState(pc, "closed");
    await mux.close();
    await closed;
    expect(pc.connectionState).toBe("closed");
  });

  it("a peer connection closed before the mux leaves nothing for the mux's close to do", async () => {
    const pc = muxed();
    await pc.close();
    expect(mux.listenerCount("close")).toBe(1); // one listener per mux, not one per peer connection
    await mux.close();
    expect(pc.connectionState).toBe("closed");
  });

  it.each(["max-compat", "balanced", undefined])(
    "refuses bundlePolicy %s with ERR_BUNDLE_POLICY",
    (policy) => {
      const pc = closer.add(
        new RTCPeerConnection(policy === undefined ? {} : { bundlePolicy: policy as "max-compat" }),
      );
      const createTransport = (pc as unknown as { secureManager: { createTransport: unknown } }).secureManager
        .createTransport;
      expect(() => attachUDPMux(pc, mux)).toThrow(expect.objectContaining({ code: "ERR_BUNDLE_POLICY" }));
      // nothing was hooked
      expect(
        (pc as unknown as { secureManager: { createTransport: unknown } }).secureManager.createTransport,
      ).toBe(createTransport);
    },
  );

  it("refuses a peer connection that already set its local description (ERR_ALREADY_GATHERING)", async () => {
    const pc = plain();
    pc.createDataChannel("x");
    await pc.setLocalDescription(await pc.createOffer());
    expect(() => attachUDPMux(pc, mux)).toThrow(expect.objectContaining({ code: "ERR_ALREADY_GATHERING" }));
  });

  it("binds the transports created before attach (createDataChannel first)", async () => {
    const server = new RTCPeerConnection({ bundlePolicy: "max-bundle" }) as unknown as PC;
    closer.add(server);
    const channel = server.createDataChannel("early");
    attachUDPMux(server, mux);
    const client = plain();
    const clientChannel = new Promise<Channel>((resolve) => client.onDataChannel.subscribe(resolve));
    await server.setLocalDescription(await server.createOffer());
    await gathered(server);
    expect(candidateLines(server)[0]).toContain(` 127.0.0.1 ${port} typ host`);
    await client.setRemoteDescription(server.localDescription);
    await client.setLocalDescription(await client.createAnswer());
    await gathered(client);
    await server.setRemoteDescription(client.localDescription);
    const remote = await opened(await clientChannel);
    expect(await echo(await opened(channel), remote, "early")).toBe("early");
  });
});

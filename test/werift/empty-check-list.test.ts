/**
 * An attached agent given no usable remote candidate and end-of-candidates — none at all, or only `.local`
 * (mDNS) ones, as a browser without media permission or STUN server offers — connects on the
 * peer-reflexive pair once the peer's checks arrive, and fails after `peerCheckTimeoutMs` when none come.
 * `.local` candidates are never resolved: no multicast socket, no DNS. Plain werift (the controls) fails
 * such a session at once: werift-ice 0.2.3, werift 0.24.4 and 0.25.2 (see src/werift/internals.ts).
 */
import { randomUUID } from "node:crypto";
import { beforeEach, describe, expect, it } from "vitest";
import { UDPMux } from "../../src/index.js";
import { attachUDPMux } from "../../src/werift/index.js";
import {
  ICE_FLAVORS,
  type IceAgent,
  LOOPBACK_ICE_OPTIONS,
  PC_FLAVORS,
  plainAgent,
  roundTrip,
  useWeriftSuite,
} from "./helpers.js";
import { candidateLines, candidatelessOffer, mdnsOffer } from "./offer-rewrite.js";
import { type Channel, connectionState, nextMessage, offerAnswer, opened, type PC, plainPc } from "./pc.js";

const suite = useWeriftSuite();
const { closer } = suite;

/** Short enough to keep the suite fast, long enough for a loopback check to arrive on a loaded machine. */
const SHORT_TIMEOUT_MS = 300;
/** The failure must come after the timeout, and not long after it (werift polls every 20 ms). */
const FAILURE_SLACK_MS = 3000;

/** Binds the plain peer makes (its one host socket on 127.0.0.1; werift binds it without an address). */
const PLAIN_PEER_SOCKETS = 1;

/** What werift's nominated pair exposes beyond the helpers' `IceAgent`. */
type Nominated = { remoteAddr: [string, number]; remoteCandidate: { type: string } };
const nominatedOf = (agent: IceAgent) => agent.nominated as unknown as Nominated | undefined;

/** Why a control that starts to pass means werift fixed its bug. */
const fixedUpstream = (version: string) =>
  `plain ${version} no longer fails an empty check list at end-of-candidates: werift fixed it; ` +
  "drop the workaround (src/werift/empty-check-list.ts) and this control";

describe.each(ICE_FLAVORS)("$name Connection with an empty check list", ({ name, create }) => {
  let mux: UDPMux;
  let bindsBefore: number;
  beforeEach(async () => {
    mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    bindsBefore = suite.guard.binds.length;
  });

  const muxed = (controlling: boolean, options?: { peerCheckTimeoutMs?: number }) =>
    closer.add(attachUDPMux(create(controlling, { ...LOOPBACK_ICE_OPTIONS }), mux, options));
  const plain = (controlling: boolean) => closer.add(plainAgent(create, controlling));

  /**
   * `a` learns `b`'s credentials, `remote` as its candidates and end-of-candidates; `b` (the checking
   * side) learns `a`'s candidates.
   */
  async function exchange(a: IceAgent, b: IceAgent, remote: (b: IceAgent) => unknown[]): Promise<void> {
    await Promise.all([a.gatherCandidates(), b.gatherCandidates()]);
    a.setRemoteParams({ iceLite: false, usernameFragment: b.localUsername, password: b.localPassword });
    b.setRemoteParams({ iceLite: false, usernameFragment: a.localUsername, password: a.localPassword });
    for (const c of remote(b)) await a.addRemoteCandidate(c);
    await a.addRemoteCandidate(undefined);
    for (const c of a.localCandidates) await b.addRemoteCandidate(c);
    await b.addRemoteCandidate(undefined);
  }

  /** `b`'s host candidates with their address replaced by an mDNS name, as a browser hides them. */
  const mdnsCandidates = (b: IceAgent) =>
    b.localCandidates.map((c) => {
      const Candidate = c.constructor as new (...args: unknown[]) => unknown;
      const { foundation, component, transport, priority, port, type } = c as unknown as Record<
        string,
        unknown
      >;
      return new Candidate(foundation, component, transport, priority, `${randomUUID()}.local`, port, type);
    });

  async function expectConnectedOnPrflx(a: IceAgent, b: IceAgent): Promise<void> {
    await Promise.all([a.connect(), b.connect()]);
    const host = b.localCandidates[0]!;
    expect(nominatedOf(a)?.remoteCandidate.type).toBe("prflx");
    expect(nominatedOf(a)?.remoteAddr).toEqual([host.host, host.port]);
    expect(await roundTrip(a, b, "a→b")).toBe("a→b");
    expect(await roundTrip(b, a, "b→a")).toBe("b→a");
    // The plain peer's one socket was bound, nothing else (no multicast socket), and nothing was looked up.
    expect(suite.guard.binds.slice(bindsBefore)).toHaveLength(PLAIN_PEER_SOCKETS);
    expect(suite.guard.violations).toEqual([]);
  }

  it("no remote candidate + end-of-candidates: connects on the peer-reflexive pair when the peer checks", async () => {
    const a = muxed(false);
    const b = plain(true);
    await exchange(a, b, () => []);
    await expectConnectedOnPrflx(a, b);
  });

  it("only .local candidates + end-of-candidates: ignored, never resolved, connects on the peer-reflexive pair", async () => {
    const a = muxed(false);
    const b = plain(true);
    await exchange(a, b, mdnsCandidates);
    expect(a.remoteCandidates).toEqual([]); // werift never saw them
    await expectConnectedOnPrflx(a, b);
  });

  it("the attached agent can be the controlling one", async () => {
    const a = muxed(true);
    const b = plain(false);
    await exchange(a, b, mdnsCandidates);
    await expectConnectedOnPrflx(a, b);
  });

  it("no check from the peer: connect() rejects, after peerCheckTimeoutMs, as werift would", async () => {
    const a = muxed(false, { peerCheckTimeoutMs: SHORT_TIMEOUT_MS });
    await a.gatherCandidates();
    a.setRemoteParams({ iceLite: false, usernameFragment: "peer", password: "p".repeat(22) });
    await a.addRemoteCandidate(mdnsCandidates(a)[0]);
    await a.addRemoteCandidate(undefined);
    const started = performance.now();
    await expect(a.connect()).rejects.toThrow(Error);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(SHORT_TIMEOUT_MS);
    expect(elapsed).toBeLessThan(SHORT_TIMEOUT_MS + FAILURE_SLACK_MS);
    expect(a.nominated).toBeUndefined();
    expect(suite.guard.binds.slice(bindsBefore)).toEqual([]);
  });

  it("close() during the wait ends connect() at once", async () => {
    const a = muxed(false); // the default timeout: 39.5 s
    await a.gatherCandidates();
    a.setRemoteParams({ iceLite: false, usernameFragment: "peer", password: "p".repeat(22) });
    await a.addRemoteCandidate(undefined);
    const connecting = a.connect();
    const started = performance.now();
    await a.close();
    await expect(connecting).rejects.toThrow(Error);
    expect(performance.now() - started).toBeLessThan(FAILURE_SLACK_MS);
  });

  it(`control: plain ${name} fails at once although the peer's checks arrive (the werift bug)`, async () => {
    const a = plain(false);
    const b = plain(true);
    await exchange(a, b, () => []);
    const [own, peer] = await Promise.allSettled([a.connect(), b.connect()]);
    expect(own.status, fixedUpstream(name)).toBe("rejected");
    expect(peer.status).toBe("fulfilled"); // werift answered the peer's checks all the same
  });
});

describe("peerCheckTimeoutMs", () => {
  // As every `*Ms` option: an integer a timer can hold (here 0 too: fail at once, as werift does).
  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31])(
    "%s is refused with ERR_OUT_OF_RANGE",
    async (value) => {
      const mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
      const agent = ICE_FLAVORS[0]!.create(false, { ...LOOPBACK_ICE_OPTIONS });
      expect(() => attachUDPMux(agent, mux, { peerCheckTimeoutMs: value })).toThrow(
        expect.objectContaining({ name: "RangeError", code: "ERR_OUT_OF_RANGE" }),
      );
    },
  );

  it("a string is refused with ERR_INVALID_ARG_TYPE", async () => {
    const mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    const agent = ICE_FLAVORS[0]!.create(false, { ...LOOPBACK_ICE_OPTIONS });
    const options = { peerCheckTimeoutMs: "300" } as unknown as { peerCheckTimeoutMs: number };
    expect(() => attachUDPMux(agent, mux, options)).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_ARG_TYPE" }),
    );
  });
});

// ---- RTCPeerConnection -------------------------------------------------------------------------------

describe.each(PC_FLAVORS)(
  "$name RTCPeerConnection answering an offer without usable candidates",
  ({ name, RTCPeerConnection }) => {
    let mux: UDPMux;
    let bindsBefore: number;
    beforeEach(async () => {
      mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
      bindsBefore = suite.guard.binds.length;
    });

    const muxed = (options?: { peerCheckTimeoutMs?: number }): PC =>
      closer.add(attachUDPMux(new RTCPeerConnection({ bundlePolicy: "max-bundle" }), mux, options)) as PC;
    const plain = (): PC => closer.add(plainPc(RTCPeerConnection));

    /** The client offers a channel; the server answers `rewrite(offer)`. */
    async function answerRewritten(
      client: PC,
      server: PC,
      rewrite: (sdp: string) => string,
    ): Promise<{ answer: string; clientChannel: Channel }> {
      const clientChannel = client.createDataChannel("echo");
      const { sdp: answer } = await offerAnswer(client, server, { rewriteOffer: rewrite });
      return { answer, clientChannel };
    }

    it.each([
      ["only .local candidates", mdnsOffer],
      ["no candidate", candidatelessOffer],
    ])(
      "%s + end-of-candidates: the data channel opens both ways, on the peer-reflexive pair",
      async (_, rewrite) => {
        const server = muxed();
        const client = plain();
        const serverChannel = new Promise<Channel>((resolve) => server.onDataChannel.subscribe(resolve));
        const { answer, clientChannel } = await answerRewritten(client, server, rewrite);
        expect(candidateLines(answer)).toHaveLength(1);
        await client.setRemoteDescription({ type: "answer", sdp: answer });
        const [near, far] = await Promise.all([opened(clientChannel), serverChannel.then(opened)]);
        const toServer = nextMessage(far);
        near.send("client→server");
        expect(await toServer).toBe("client→server");
        const toClient = nextMessage(near);
        far.send("server→client");
        expect(await toClient).toBe("server→client");
        await connectionState(server, "connected");
        const agent = server.iceTransports[0]!.connection as IceAgent;
        expect(nominatedOf(agent)?.remoteCandidate.type).toBe("prflx");
        expect(agent.remoteCandidates).toEqual([expect.objectContaining({ type: "prflx" })]);
        // The client's socket and nothing else: no multicast socket, no DNS.
        expect(suite.guard.binds.slice(bindsBefore)).toHaveLength(PLAIN_PEER_SOCKETS);
        expect(suite.guard.violations).toEqual([]);
      },
    );

    it("no check from the client: the connection fails after peerCheckTimeoutMs", async () => {
      const server = muxed({ peerCheckTimeoutMs: SHORT_TIMEOUT_MS });
      const client = plain();
      const started = performance.now();
      await answerRewritten(client, server, mdnsOffer); // the client never gets the answer, so never checks
      await connectionState(server, "failed");
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(SHORT_TIMEOUT_MS);
      expect(elapsed).toBeLessThan(SHORT_TIMEOUT_MS + FAILURE_SLACK_MS);
      expect(suite.guard.binds.slice(bindsBefore)).toHaveLength(PLAIN_PEER_SOCKETS);
    });

    it(`control: plain ${name} fails the same offer (the werift bug)`, async () => {
      const server = plain();
      const client = plain();
      const failed = connectionState(server, "failed");
      const { answer } = await answerRewritten(client, server, candidatelessOffer);
      await client.setRemoteDescription({ type: "answer", sdp: answer });
      const outcome = await Promise.race([
        failed.then(() => "failed"),
        connectionState(server, "connected").then(() => "connected"),
      ]);
      expect(outcome, fixedUpstream(name)).toBe("failed");
    });
  },
);

/**
 * udpmux issue 9: an offer without a usable candidate, as a browser without camera/microphone permission
 * and without a STUN server sends it — its host candidates hidden behind mDNS names (`<uuid>.local`), or
 * none at all, and `a=end-of-candidates`. The libwebrtc client (`@roamhq/wrtc`) offers, its offer is
 * rewritten that way before it reaches the server, and werift answers on the mux. The client, controlling,
 * checks the mux's candidate from the answer; werift learns the client's address from those checks
 * (peer-reflexive) and the data channels open.
 *
 * Plain werift (the control) fails the same offer at once: its `connect()` throws on the empty check list
 * before the client's checks arrive (see src/werift/internals.ts). The control uses the offer without
 * candidates: given `.local` candidates, plain werift would also send an mDNS query to 224.0.0.251, off
 * loopback, which this suite never does.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { RTCPeerConnection } from "werift";
import { candidateLines, candidatelessOffer, mdnsOffer } from "../werift/offer-rewrite.js";
import { explainFailure, within } from "./harness/failure.js";
import { countUdpHandles } from "./harness/network-guard.js";
import { describeServer, type InteropServer, startMuxServer, startPlainServer } from "./harness/servers.js";
import { useInteropSuite } from "./harness/suite.js";
import { WrtcEchoClient } from "./harness/wrtc-client.js";

/** Echoes per channel: enough to show the path carries data both ways, in order. */
const MESSAGES = 20;
/** How long the control waits for plain werift to decide (it fails within milliseconds). */
const CONTROL_DECISION_MS = 15_000;

/** The server's werift (its `exports` map hides package.json from require). */
const WERIFT_VERSION = (
  JSON.parse(readFileSync(new URL("../../node_modules/werift/package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;

/** The server-side peer connection's ICE agent, as far as these tests read it. */
interface ServerAgent {
  remoteCandidates: { type: string }[];
  nominated?: { remoteCandidate: { type: string } };
}

describe("offers without usable candidates (mDNS-only / none, with end-of-candidates)", () => {
  let server: InteropServer | undefined;
  let client: WrtcEchoClient | undefined;

  const explain = async () => [
    ...(client === undefined ? [] : [await client.describe()]),
    ...describeServer(server),
  ];

  const suite = useInteropSuite(async () => {
    client?.close();
    client = undefined;
    await server?.close();
    server = undefined;
  });

  it.each([
    { what: "its candidates rewritten to .local names", rewrite: mdnsOffer, hasCandidates: true },
    { what: "no candidate line at all", rewrite: candidatelessOffer, hasCandidates: false },
  ])(
    "libwebrtc offer with $what + end-of-candidates: data channels echo through werift on the mux, one socket",
    async ({ rewrite, hasCandidates }) => {
      const mux = await startMuxServer();
      server = mux;
      client = new WrtcEchoClient("client", { rewriteOffer: rewrite });
      const c = client;
      await explainFailure(async () => {
        await within(20_000, "connecting", c.connect(mux.url));
        expect(await within(20_000, "echoing (ordered)", c.echo(c.ordered, 0, MESSAGES))).toBe(MESSAGES);
        expect(await within(20_000, "echoing (unordered)", c.echo(c.unordered, 1, MESSAGES))).toBe(MESSAGES);

        // The offer the server got: end-of-candidates, and no candidate it could use.
        const offer = c.offers[0]!;
        expect(offer).toMatch(/^a=end-of-candidates\r?$/m);
        const addresses = candidateLines(offer).map((line) => line.split(" ")[4]!);
        expect(addresses.length > 0).toBe(hasCandidates);
        for (const address of addresses) expect(address).toMatch(/^[0-9a-f-]{36}\.local$/);
        // The server connected on the peer-reflexive candidate its checks taught it; the .local ones were
        // never resolved, never became remote candidates.
        const pc = mux.peers.get(c.id!) as RTCPeerConnection;
        const agent = pc.iceTransports[0]!.connection as unknown as ServerAgent;
        expect(agent.nominated?.remoteCandidate.type).toBe("prflx");
        expect(agent.remoteCandidates.map((candidate) => candidate.type)).toEqual(["prflx"]);
        // One UDP socket for the server, the mux's: no multicast socket, no lookup.
        expect(suite.guard.binds).toEqual(["127.0.0.1"]);
        expect(countUdpHandles()).toBe(suite.baseline + 1);
        expect(suite.guard.violations).toEqual([]);
      }, explain);
    },
  );

  it(`control: plain werift ${WERIFT_VERSION} fails the offer without candidates (drop the workaround when this fails)`, async () => {
    let decided!: (state: string) => void;
    const decision = new Promise<string>((resolve) => {
      decided = resolve;
    });
    const plain = await startPlainServer({
      preparePeer(pc) {
        pc.connectionStateChange.subscribe((state) => {
          if (state === "failed" || state === "connected") decided(state);
        });
      },
    });
    server = plain;
    client = new WrtcEchoClient("control", { rewriteOffer: candidatelessOffer });
    const c = client;
    // The client's channels never open against plain werift; its connect() is left pending (closed after).
    const connecting = c.connect(plain.url).then(
      () => "channels open",
      (error: unknown) => `connect failed: ${String(error)}`,
    );
    await explainFailure(async () => {
      const state = await within(CONTROL_DECISION_MS, "plain werift deciding", decision);
      expect(
        state,
        `plain werift ${WERIFT_VERSION} now connects an offer without usable candidates: werift fixed its ` +
          "empty-check-list failure; drop src/werift/empty-check-list.ts (and this control)",
      ).toBe("failed");
      expect(await Promise.race([connecting, Promise.resolve("pending")])).toBe("pending");
      expect(suite.guard.violations).toEqual([]);
    }, explain);
  });
});

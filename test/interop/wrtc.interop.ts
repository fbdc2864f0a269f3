/**
 * libwebrtc (Google's WebRTC, through the @roamhq/wrtc addon) as the client, werift as the server.
 *
 * 20 clients connect at once, each echoes 100 payloads of 1–16 KiB on an ordered and on an unordered
 * channel and checks every byte. 5 of them restart ICE halfway: the restart starts while messages are in
 * flight, and the last quarter of each stream is only sent once the client selected a candidate pair of the
 * new ICE generation, so those echoes prove the restarted path.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it, onTestFailed } from "vitest";
import { type EchoServer, iceUfrag, startEchoServer } from "./harness/echo-server.js";
import {
  assertLoopbackOnlyNamespace,
  installNetworkGuard,
  type NetworkGuard,
} from "./harness/network-guard.js";
import { within } from "./harness/timeout.js";
import { WrtcEchoClient } from "./harness/wrtc-client.js";

const CLIENTS = 20;
const MESSAGES = 100;
const RESTARTING = 5;
/** The restart starts once this many ordered echoes came back... */
const RESTART_AT = 50;
/** ...and payloads from this one on wait until it is done. */
const RESUME_AT = 75;

interface Outcome {
  echoed: number;
  /** ICE ufrags of the client's offers and the server's answers, before and after the restart. */
  ufrags?: { offers: [string?, string?]; answers: [string?, string?] };
}

/** Connects CLIENTS clients to `server`, runs the echo (with restarts) and returns what each one saw. */
async function runClients(server: EchoServer, clients: WrtcEchoClient[]): Promise<Outcome[]> {
  await within(
    30_000,
    "connecting the clients",
    Promise.all(clients.map((client) => client.connect(server.url))),
  );
  return within(
    90_000,
    "echoing",
    Promise.all(
      clients.map(async (client, i): Promise<Outcome> => {
        const restarts = i < RESTARTING;
        const firstOffer = client.pc.localDescription!.sdp;
        let startRestart!: () => void;
        const restarted = new Promise<void>((resolve) => {
          startRestart = resolve;
        }).then(() => client.restartIce(server.url));
        const hold = restarts ? { seq: RESUME_AT, until: restarted } : undefined;
        const [ordered, unordered] = await Promise.all([
          client.echo(client.ordered, 2 * i, MESSAGES, {
            hold,
            onEchoed: (n) => n === RESTART_AT && restarts && startRestart(),
          }),
          client.echo(client.unordered, 2 * i + 1, MESSAGES, { hold }),
        ]);
        if (!restarts) return { echoed: ordered + unordered };
        await restarted;
        return {
          echoed: ordered + unordered,
          ufrags: {
            offers: [iceUfrag(firstOffer), iceUfrag(client.pc.localDescription!.sdp)],
            answers: [iceUfrag(client.answers[0]!), iceUfrag(client.answers[1] ?? "")],
          },
        };
      }),
    ),
  );
}

describe("libwebrtc clients (@roamhq/wrtc) against werift", () => {
  let guard: NetworkGuard;
  let server: EchoServer | undefined;
  let clients: WrtcEchoClient[] = [];

  beforeAll(() => assertLoopbackOnlyNamespace());
  beforeEach(() => {
    guard = installNetworkGuard();
    onTestFailed(async () => {
      for (const client of clients) console.error(await client.describe());
      for (const [id, log] of server?.logs ?? []) console.error(`server ${id}\n  ${log.join("\n  ")}`);
    });
  });
  afterEach(async () => {
    for (const client of clients) client.close();
    clients = [];
    await server?.close();
    server = undefined;
    guard.restore();
  });

  it("control, werift without the mux: 20 clients echo, 5 restart ICE mid-stream", async () => {
    server = await startEchoServer({
      beforeAnswer(pc) {
        // A plain werift peer queries stun.l.google.com even with `iceServers: []`; turn that off.
        for (const transport of pc.iceTransports) transport.connection.stunServer = undefined;
      },
    });
    clients = Array.from({ length: CLIENTS }, (_, i) => new WrtcEchoClient(`client${i}`));
    const outcomes = await runClients(server, clients);

    expect(outcomes.map((outcome) => outcome.echoed)).toEqual(Array(CLIENTS).fill(2 * MESSAGES));
    for (const [i, outcome] of outcomes.slice(0, RESTARTING).entries()) {
      const { offers, answers } = outcome.ufrags!;
      expect(offers[1]).not.toBe(offers[0]);
      expect(answers[1]).not.toBe(answers[0]);
      // The server's ICE agent moved to the new credentials on both sides.
      const agent = server.peers.get(clients[i]!.id!)!.iceTransports[0]!.connection;
      expect([agent.localUsername, agent.remoteUsername]).toEqual([answers[1], offers[1]]);
    }
    expect(guard.violations).toEqual([]);
  });
});

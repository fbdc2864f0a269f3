/**
 * libwebrtc (Google's WebRTC, through the @roamhq/wrtc addon) as the client, werift as the server.
 *
 * 20 clients connect at once, each echoes 100 payloads of 1–16 KiB on an ordered channel, then 100 on an
 * unordered one, and checks every byte (and the order, on the ordered channel). 5 of them restart ICE
 * after the 50th ordered echo, while the other clients keep streaming through the mux; the second half of
 * that stream, and all of the unordered one, is only sent once the client selected a candidate pair of the
 * new ICE generation, so those echoes prove the restarted path. The same run against plain werift (a
 * socket per peer connection) is the control.
 *
 * The restarting client's own channel is idle during its restart. werift drops the application data it is
 * asked to send between `restart()` and the new nomination (`Connection.send` without a nominated pair or
 * fresh consent), so SCTP has to retransmit it after a T3 timeout, and werift 0.25.2's SCTP can then wedge
 * the association for good: `flightSize >= cwnd` with an empty sent queue and no timer running (seen in 2
 * of 18 runs with data in flight across the restart; failure report: `sentQueue=0 flightSize=6960
 * cwnd=6960 t3=idle`). From reading sctp.js, the likely leak: the T3 handler marks gap-acked chunks for
 * retransmission without clearing `acked`, and the cumulative ack then skips their `flightSize` decrease.
 *
 * One channel at a time per peer connection, because werift 0.25.2's SCTP strands complete ordered
 * messages when another stream's chunks interleave with theirs (werift-webrtc#706: `popMessages` yields
 * one message per arriving chunk once TSNs stop being adjacent). With both channels busy at once, an
 * ordered channel stalled that way in the control run, without the mux; see docs/interop.md.
 */
import { describe, expect, it } from "vitest";
import { iceUfrag, udpCandidatePorts } from "./harness/echo-server.js";
import { explainFailure, within } from "./harness/failure.js";
import { countUdpHandles, kernelUdpDrops } from "./harness/network-guard.js";
import {
  describeServer,
  expectAnswersOnMuxPort,
  type InteropServer,
  isMuxServer,
  startMuxServer,
  startPlainServer,
} from "./harness/servers.js";
import { useInteropSuite } from "./harness/suite.js";
import { WrtcEchoClient } from "./harness/wrtc-client.js";

const CLIENTS = 20;
const MESSAGES = 100;
const RESTARTING = 5;
/** The restart starts once this many ordered echoes came back; the rest wait until it is done. */
const RESTART_AT = 50;

interface Run {
  /** Verified echoes per client (both channels). */
  echoed: number[];
  /** UDP handles of this process while all clients were connected, and after the echo. */
  udpHandles: { connected: number; echoed: number };
  /** The server port each client's selected candidate pair uses, after the echo (restarts included). */
  selectedServerPorts: (number | undefined)[];
}

/** Connects the clients to `server` at once, runs the echo (with restarts) and returns what they saw. */
async function run(server: InteropServer, clients: WrtcEchoClient[]): Promise<Run> {
  await within(30_000, "connecting", Promise.all(clients.map((client) => client.connect(server.url))));
  const connected = countUdpHandles();
  const echoed = await within(
    90_000,
    "echoing",
    Promise.all(
      clients.map(async (client, i) => {
        const restarts = i < RESTARTING;
        let startRestart!: () => void;
        const restarted = new Promise<void>((resolve) => {
          startRestart = resolve;
        }).then(() => client.restartIce(server.url));
        const hold = restarts ? { seq: RESTART_AT, until: restarted } : undefined;
        const ordered = await client.echo(client.ordered, 2 * i, MESSAGES, {
          hold,
          onEchoed: (n) => n === RESTART_AT && restarts && startRestart(),
        });
        const unordered = await client.echo(client.unordered, 2 * i + 1, MESSAGES);
        return ordered + unordered;
      }),
    ),
  );
  const selected = await Promise.all(clients.map((client) => client.selectedPair()));
  return {
    echoed,
    udpHandles: { connected, echoed: countUdpHandles() },
    selectedServerPorts: selected.map((pair) => pair?.remotePort),
  };
}

type Drops = ReturnType<typeof kernelUdpDrops>;

/**
 * One line for the CI log: SCTP recovers from these drops, so no test fails on them, but they cost time
 * and are the first thing to look at when a run is slow or stalls.
 */
function reportKernelDrops(what: string, before: Drops, after: Drops): void {
  if (before === undefined || after === undefined) return;
  const server = Object.values(after.byPort)[0];
  console.log(
    `${what}: the kernel dropped ${after.total - before.total} datagrams for full receive buffers` +
      (server === undefined ? "" : `, ${server} of them at the mux's socket`),
  );
}

/** The restart really happened, on both sides: new ufrags offered and answered, and the server agent uses them. */
function expectRestarted(server: InteropServer, client: WrtcEchoClient): void {
  const [offers, answers] = [client.offers.map(iceUfrag), client.answers.map(iceUfrag)];
  expect(offers).toHaveLength(2);
  expect(answers).toHaveLength(2);
  expect(offers[1]).not.toBe(offers[0]);
  expect(answers[1]).not.toBe(answers[0]);
  const agent = server.peers.get(client.id!)!.iceTransports[0]!.connection;
  expect([agent.localUsername, agent.remoteUsername]).toEqual([answers[1], offers[1]]);
}

describe("libwebrtc clients (@roamhq/wrtc) against a werift server", () => {
  let server: InteropServer | undefined;
  let clients: WrtcEchoClient[] = [];

  const explain = async () => [
    ...(await Promise.all(clients.map((client) => client.describe()))),
    ...describeServer(server),
    `kernel UDP receive-buffer drops: ${JSON.stringify(kernelUdpDrops(isMuxServer(server) ? [server.udpPort] : []))}`,
  ];

  const createClients = () => {
    clients = Array.from({ length: CLIENTS }, (_, i) => new WrtcEchoClient(`client${i}`));
  };

  // After each test every socket of the server is closed, not leaked into the next test.
  const suite = useInteropSuite(async () => {
    for (const client of clients) client.close();
    clients = [];
    await server?.close();
    server = undefined;
  });

  it("20 clients on one UDPMux: every byte echoed, 5 ICE restarts mid-stream, one socket, one port", async () => {
    const dropsBefore = kernelUdpDrops();
    const mux = await startMuxServer();
    server = mux;
    createClients();
    await explainFailure(async () => {
      const result = await run(mux, clients);
      reportKernelDrops("mux", dropsBefore, kernelUdpDrops([mux.udpPort]));

      expect(result.echoed).toEqual(Array(CLIENTS).fill(2 * MESSAGES));
      for (const client of clients.slice(0, RESTARTING)) expectRestarted(mux, client);

      // One UDP socket for the whole server, bound once, and nothing else bound in this process.
      expect(suite.guard.binds).toEqual(["127.0.0.1"]);
      expect(result.udpHandles).toEqual({ connected: suite.baseline + 1, echoed: suite.baseline + 1 });
      // Every answer (the restarts' too) advertises that socket's port and no other, and every client's
      // selected pair reaches it.
      expectAnswersOnMuxPort(mux, CLIENTS + RESTARTING);
      expect(result.selectedServerPorts).toEqual(Array(CLIENTS).fill(mux.udpPort));
      expect(mux.mux.stats().connections).toBeGreaterThanOrEqual(CLIENTS);
      expect(suite.guard.violations).toEqual([]);

      // Closing the peer connections empties the mux.
      await Promise.all([...mux.peers.values()].map((pc) => pc.close()));
      expect(mux.mux.stats()).toMatchObject({ connections: 0, addresses: 0 });
    }, explain);
  });

  it("control, plain werift (a socket per peer connection): the same run", async () => {
    const dropsBefore = kernelUdpDrops();
    const plain = await startPlainServer();
    server = plain;
    createClients();
    await explainFailure(async () => {
      const result = await run(plain, clients);
      reportKernelDrops("control", dropsBefore, kernelUdpDrops());

      expect(result.echoed).toEqual(Array(CLIENTS).fill(2 * MESSAGES));
      for (const client of clients.slice(0, RESTARTING)) expectRestarted(plain, client);
      // What the mux saves: without it, every peer connection binds a socket and advertises its own port.
      expect(suite.guard.binds).toHaveLength(CLIENTS);
      expect(result.udpHandles.connected - suite.baseline).toBe(CLIENTS);
      expect(new Set(plain.answers.flatMap(udpCandidatePorts)).size).toBe(CLIENTS);
      expect(suite.guard.violations).toEqual([]);
    }, explain);
  });
});

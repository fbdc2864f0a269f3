/**
 * Data-channel echo over ICE-TCP, a child process per round (`node tcp-e2e.js <mux|own> <pairs> <echoMs>`):
 * `pairs` werift 0.25 RTCPeerConnection pairs in this process. The client of every pair is plain werift
 * with `iceUseTcp` (it dials); the server is attached to a UDPMux + TCPMux (`mux`: every pair on the TCP
 * mux's one port) or is plain werift with `iceUseTcp` (`own`: a TCP listener of its own per pc). Only TCP
 * can be chosen: offer and answer carry their TCP candidates only (the client's is `tcptype active`, port
 * 9: the server learns the client's address from its checks; plain werift fails its ICE at once when the
 * offer has no candidate at all, so both modes get the same TCP-only offer); the selected pair's transport
 * is checked. Loopback host candidates only, no STUN server.
 *
 * Measured: wall time until every channel is open, then echo traffic (1,200-byte messages, 4 in flight per
 * channel) for `echoMs`: echoes/s and this process's CPU per echo. Both sides run here, so CPU per echo
 * counts the client's work too, the same in both modes. Note what the mux side costs by design: the werift
 * adapter hands werift one frame per macrotask (setImmediate), where plain werift handles every frame of a
 * TCP read in one loop (README "TCP fallback": that loop breaks werift's DTLS server under retransmits).
 */
import type { RTCDataChannel, RTCPeerConnection } from "werift";
import { RTCPeerConnection as PeerConnection } from "werift";
import { TCPMux, UDPMux } from "../src/index.js";
import { attachUDPMux } from "../src/werift/index.js";
import { MEDIA_BYTES } from "./lib/fixtures.js";
import { cpuNs } from "./lib/stats.js";
import { gathered, LOOPBACK_PC_CONFIG, loopbackPeerConnection, opened } from "./lib/werift.js";

const IN_FLIGHT = 4;

export interface TcpE2eRun {
  mode: "mux" | "own" | "udp";
  pairs: number;
  connectMs: number;
  echoesPerSecond: number;
  cpuNsPerEcho: number;
}

function candidates(sdp: string, keep: (line: string) => boolean): string {
  return sdp
    .split("\r\n")
    .filter((line) => !line.startsWith("a=candidate:") || keep(line))
    .join("\r\n");
}

function selectedTransport(pc: RTCPeerConnection): string | undefined {
  const connection = (
    pc.iceTransports[0] as unknown as {
      connection: { nominated?: { localCandidate: { transport: string } } };
    }
  ).connection;
  return connection.nominated?.localCandidate.transport;
}

async function connectPair(
  server: RTCPeerConnection,
  client: RTCPeerConnection,
  transport: "tcp" | "udp",
): Promise<[RTCDataChannel, RTCDataChannel]> {
  const only = (l: string) => l.includes(` ${transport} `);
  const clientChannel = client.createDataChannel("echo");
  const serverChannel = new Promise<RTCDataChannel>((resolve) => server.onDataChannel.subscribe(resolve));
  await client.setLocalDescription(await client.createOffer());
  await gathered(client);
  const offer = client.localDescription!;
  await server.setRemoteDescription({
    type: offer.type,
    sdp: candidates(offer.sdp, only),
  });
  await server.setLocalDescription(await server.createAnswer());
  await gathered(server);
  const answer = server.localDescription!;
  const sdp = candidates(answer.sdp, only);
  if (!sdp.includes(` ${transport} `)) throw new Error(`the server's answer has no ${transport} candidate`);
  await client.setRemoteDescription({ type: answer.type, sdp });
  const s = await serverChannel;
  await Promise.all([opened(clientChannel), opened(s)]);
  return [clientChannel, s];
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  const pairs = Number(process.argv[3]);
  const echoMs = Number(process.argv[4]);
  if (
    (mode !== "mux" && mode !== "own" && mode !== "udp") ||
    !(pairs > 0) ||
    !(echoMs > 0 && echoMs <= 10_000)
  ) {
    throw new TypeError(
      `usage: tcp-e2e.js <mux|own|udp> <pairs> <echoMs ≤ 10000>, got ${process.argv.slice(2)}`,
    );
  }
  const mux = mode === "mux" ? await UDPMux.bind({ address: "127.0.0.1" }) : undefined;
  const tcpMux = mode === "mux" ? await TCPMux.listen({ address: "127.0.0.1" }) : undefined;
  const transport = mode === "udp" ? "udp" : "tcp";
  const iceUseTcp = transport === "tcp";
  const servers = Array.from({ length: pairs }, () =>
    mux === undefined
      ? loopbackPeerConnection({ iceUseTcp })
      : attachUDPMux(new PeerConnection({ ...LOOPBACK_PC_CONFIG }), mux, { tcpMux }),
  );
  const clients = Array.from({ length: pairs }, () => loopbackPeerConnection({ iceUseTcp }));
  try {
    const start = performance.now();
    const channels = await Promise.all(servers.map((s, i) => connectPair(s, clients[i]!, transport)));
    const connectMs = performance.now() - start;
    for (const c of clients) {
      if (selectedTransport(c) !== transport) {
        throw new Error(`a pair selected ${selectedTransport(c)}, not ${transport}`);
      }
    }
    if (tcpMux !== undefined && tcpMux.stats().tcpConnections < pairs) {
      throw new Error(
        `expected ${pairs} connections through the TCP mux, got ${tcpMux.stats().tcpConnections}`,
      );
    }

    const payload = Buffer.alloc(MEDIA_BYTES, 0x5a);
    let running = true;
    let echoes = 0;
    for (const [client, server] of channels) {
      server.onMessage.subscribe((data) => server.send(data));
      client.onMessage.subscribe(() => {
        echoes++;
        if (running) client.send(payload);
      });
    }
    for (const [client] of channels) for (let i = 0; i < IN_FLIGHT; i++) client.send(payload);
    await new Promise((resolve) => setTimeout(resolve, Math.min(500, echoMs / 2))); // warm-up
    const before = echoes;
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, echoMs));
    const n = echoes - before;
    const ns = cpuNs(cpu);
    const seconds = (performance.now() - t0) / 1000;
    running = false;
    if (n === 0) throw new Error("no echo came back");
    const result: TcpE2eRun = { mode, pairs, connectMs, echoesPerSecond: n / seconds, cpuNsPerEcho: ns / n };
    if (tcpMux !== undefined) {
      const { dropped, droppedByReason } = tcpMux.stats();
      if (dropped > 0) console.error(`tcp-e2e: the TCP mux dropped ${dropped} frames`, droppedByReason);
    }
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await Promise.allSettled([...clients, ...servers].map((pc) => pc.close()));
    await tcpMux?.close();
    await mux?.close();
  }
}

main().then(
  () => process.exit(),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

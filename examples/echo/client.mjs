// The echo client: a second werift peer that connects N peer connections to the echo server, pings through
// each data channel and reports round-trip times.
//
// Each client peer connection gets a UDPMux of its own (its own port): between two muxes, every session
// would share one 5-tuple (client port ↔ server port), and DTLS/SCTP packets carry no ufrag to tell the
// sessions apart. A mux serves many remote peers, each from its own address. (Attached agents also never
// query a STUN server nobody configured — plain werift would ask its public default, which these examples never contact.)
//
//   node examples/echo/client.mjs http://127.0.0.1:8080 [peers] [seconds] [--tcp]
//
// With --tcp the client connects over ICE-TCP only, as a client behind a UDP-blocking firewall would: it
// dials werift's active TCP candidates (`iceUseTcp`), and neither side learns the other's UDP candidates
// (they are taken out of the offer and the answer).
import { pathToFileURL } from "node:url";
import { UDPMux } from "udpmux";
import { createPeerConnectionFactory } from "udpmux/werift";
import { RTCPeerConnection } from "werift";
import { gathered, postOffer } from "../lib/signaling.mjs";

const PING_INTERVAL_MS = 100;

/** The SDP without UDP candidates: only TCP can connect. */
const withoutUdpCandidates = (sdp) =>
  sdp
    .split("\r\n")
    .filter((line) => !/^a=candidate:\S+ \d+ udp /i.test(line))
    .join("\r\n");

async function connect(url, host, tcp) {
  const mux = await UDPMux.bind({ address: host });
  const pc = createPeerConnectionFactory(RTCPeerConnection, mux)({ iceUseTcp: tcp });
  const channel = pc.createDataChannel("echo");
  const open = new Promise((resolve) => channel.stateChanged.subscribe((s) => s === "open" && resolve()));
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const { sdp } = await postOffer(`${url}/offer`, {
    sdp: tcp ? withoutUdpCandidates(pc.localDescription.sdp) : pc.localDescription.sdp,
  });
  await pc.setRemoteDescription({ type: "answer", sdp: tcp ? withoutUdpCandidates(sdp) : sdp });
  await open;
  return { pc, channel, mux };
}

/**
 * Connects `peers` peer connections to `url`, pings each for `seconds`, returns per-connection RTT stats.
 * @param {{ url: string, peers?: number, seconds?: number, host?: string, tcp?: boolean }} options
 */
export async function runEchoClient({ url, peers = 4, seconds = 3, host = "127.0.0.1", tcp = false }) {
  const sessions = [];
  try {
    for (const s of await Promise.all(Array.from({ length: peers }, () => connect(url, host, tcp))))
      sessions.push(s);
    const results = sessions.map(() => ({ sent: 0, echoed: 0, rtts: [] }));
    for (const [i, { channel }] of sessions.entries()) {
      channel.onMessage.subscribe((data) => {
        const sentAt = Number(String(data));
        results[i].echoed++;
        results[i].rtts.push(performance.now() - sentAt);
      });
    }
    const timer = setInterval(() => {
      sessions.forEach(({ channel }, i) => {
        channel.send(String(performance.now()));
        results[i].sent++;
      });
    }, PING_INTERVAL_MS);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    clearInterval(timer);
    await new Promise((resolve) => setTimeout(resolve, 200)); // the last echoes
    const transports = sessions.map(({ pc }) => selectedTransport(pc));
    return results.map(({ sent, echoed, rtts }, i) => {
      rtts.sort((a, b) => a - b);
      const pick = (q) =>
        rtts.length === 0 ? Number.NaN : rtts[Math.min(rtts.length - 1, Math.floor(q * rtts.length))];
      return { sent, echoed, p50: pick(0.5), p99: pick(0.99), transport: transports[i] };
    });
  } finally {
    await Promise.all(
      sessions.map(async ({ pc, mux }) => {
        await pc.close();
        await mux.close();
      }),
    );
  }
}

/** "udp" or "tcp": the transport of the candidate pair the peer connection's ICE agent selected. */
function selectedTransport(pc) {
  const nominated = pc.iceTransports?.[0]?.connection?.nominated;
  return nominated?.localCandidate?.transport?.toLowerCase() ?? "?";
}

export function printResults(results, port, transport = "UDP") {
  console.log(`${results.length} peer connections, all on the server's ${transport} port ${port}:`);
  for (const [i, r] of results.entries()) {
    console.log(
      `  pc ${String(i).padStart(2)} (${r.transport}): ${r.echoed}/${r.sent} echoed, rtt p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms`,
    );
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const tcp = process.argv.includes("--tcp");
  const [url = "http://127.0.0.1:8080", peers = "4", seconds = "3"] = process.argv
    .slice(2)
    .filter((a) => a !== "--tcp");
  printResults(
    await runEchoClient({ url, peers: Number(peers), seconds: Number(seconds), tcp }),
    "(see server)",
  );
}

// The echo client: a second werift peer that connects N peer connections to the echo server, pings through
// each data channel and reports round-trip times.
//
// Each client peer connection gets a UDPMux of its own (its own port): between two muxes, every session
// would share one 5-tuple (client port ↔ server port), and DTLS/SCTP packets carry no ufrag to tell the
// sessions apart. A mux serves many remote peers, each from its own address. (Attached agents also never
// query a STUN server nobody configured — plain werift would ask stun.l.google.com.)
//
//   node examples/echo/client.mjs http://127.0.0.1:8080 [peers] [seconds]
import { pathToFileURL } from "node:url";
import { UDPMux } from "udpmux";
import { attachUDPMux } from "udpmux/werift";
import { RTCPeerConnection } from "werift";
import { gathered } from "./server.mjs";

const PING_INTERVAL_MS = 100;

async function connect(url, host) {
  const mux = await UDPMux.bind({ address: host });
  const pc = attachUDPMux(new RTCPeerConnection({ bundlePolicy: "max-bundle" }), mux);
  const channel = pc.createDataChannel("echo");
  const open = new Promise((resolve) => channel.stateChanged.subscribe((s) => s === "open" && resolve()));
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const res = await fetch(`${url}/offer`, {
    method: "POST",
    body: JSON.stringify({ sdp: pc.localDescription.sdp }),
  });
  if (!res.ok) throw new Error(`signaling: HTTP ${res.status} ${await res.text()}`);
  await pc.setRemoteDescription({ type: "answer", sdp: (await res.json()).sdp });
  await open;
  return { pc, channel, mux };
}

/**
 * Connects `peers` peer connections to `url`, pings each for `seconds`, returns per-connection RTT stats.
 * @param {{ url: string, peers?: number, seconds?: number, host?: string }} options
 */
export async function runEchoClient({ url, peers = 4, seconds = 3, host = "127.0.0.1" }) {
  const sessions = [];
  try {
    for (const s of await Promise.all(Array.from({ length: peers }, () => connect(url, host))))
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
    return results.map(({ sent, echoed, rtts }) => {
      rtts.sort((a, b) => a - b);
      const pick = (q) =>
        rtts.length === 0 ? Number.NaN : rtts[Math.min(rtts.length - 1, Math.floor(q * rtts.length))];
      return { sent, echoed, p50: pick(0.5), p99: pick(0.99) };
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

export function printResults(results, udpPort) {
  console.log(`${results.length} peer connections, all on the server's UDP port ${udpPort}:`);
  for (const [i, r] of results.entries()) {
    console.log(
      `  pc ${String(i).padStart(2)}: ${r.echoed}/${r.sent} echoed, rtt p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms`,
    );
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [url = "http://127.0.0.1:8080", peers = "4", seconds = "3"] = process.argv.slice(2);
  printResults(await runEchoClient({ url, peers: Number(peers), seconds: Number(seconds) }), "(see server)");
}

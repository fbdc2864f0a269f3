// A werift data-channel echo server whose peer connections all share one UDP port, and a page that
// connects N peer connections to it and shows their round-trip times live.
//
//   npm run example:browser          (builds the package, then serves http://127.0.0.1:8080)
//   HOST=127.0.0.1 PORT=8080 UDP_PORT=0 node examples/browser/server.mjs
//
// Signaling is one HTTP POST per peer connection (non-trickle: every SDP carries its candidates).
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import http from "node:http";
import { pathToFileURL } from "node:url";
import { UDPMux } from "udpmux";
import { createPeerConnectionFactory } from "udpmux/werift";
import { RTCPeerConnection } from "werift";
import { closeExample, gathered, readBody } from "../lib/signaling.mjs";

const PUBLIC = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/app.js": ["app.js", "text/javascript; charset=utf-8"],
};

/** Largest signaling request accepted; an offer with a few candidates is about 1 KiB. */
const MAX_OFFER_BYTES = 64 * 1024;

/**
 * Starts the example: one UDPMux on `host:udpPort`, an HTTP server on `host:httpPort`.
 * @param {{ host?: string, httpPort?: number, udpPort?: number }} [options]
 */
export async function startBrowserExample({ host = "127.0.0.1", httpPort = 0, udpPort = 0 } = {}) {
  // The one UDP socket every peer connection of this server uses.
  const mux = await UDPMux.bind({ address: host, port: udpPort });
  const peers = new Set();
  // Every peer connection it makes is on the mux — host candidates: the mux's address and port; werift's own
  // STUN queries off — and is closed when it fails.
  const newPeerConnection = createPeerConnectionFactory(RTCPeerConnection, mux);

  /** @param {string} offer */
  async function answer(offer) {
    const pc = newPeerConnection();
    peers.add(pc);
    pc.connectionStateChange.subscribe((state) => {
      if (state === "failed" || state === "closed") peers.delete(pc); // the factory closes a failed one
    });
    pc.onDataChannel.subscribe((channel) => {
      channel.onMessage.subscribe((data) => channel.send(data));
    });
    await pc.setRemoteDescription({ type: "offer", sdp: offer });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    return pc.localDescription.sdp;
  }

  const server = http.createServer(async (req, res) => {
    try {
      const route = PUBLIC[(req.url ?? "/").split("?")[0]];
      if (req.method === "GET" && route !== undefined) {
        const body = await readFile(new URL(`./public/${route[0]}`, import.meta.url));
        res.writeHead(200, { "content-type": route[1], "cache-control": "no-store" }).end(body);
      } else if (req.method === "GET" && req.url === "/stats") {
        const [{ port }] = mux.getListenAddresses();
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ udpPort: port, peerConnections: peers.size, mux: mux.stats() }));
      } else if (req.method === "POST" && req.url === "/offer") {
        const sdp = await answer(JSON.parse(await readBody(req, MAX_OFFER_BYTES)).sdp);
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ sdp }));
      } else {
        res.writeHead(404).end();
      }
    } catch (error) {
      console.error("request failed:", error);
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(error));
    }
  });
  server.listen(httpPort, host);
  await once(server, "listening");
  const { port } = server.address();

  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    udpPort: mux.getListenAddresses()[0].port,
    mux,
    peers,
    close: () => closeExample(server, peers, mux),
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const example = await startBrowserExample({
    host: process.env.HOST ?? "127.0.0.1",
    httpPort: Number(process.env.PORT ?? 8080),
    udpPort: Number(process.env.UDP_PORT ?? 0),
  });
  console.log(`open ${example.url}/?peers=6 — every peer connection uses UDP port ${example.udpPort}`);
  const stop = async () => {
    await example.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

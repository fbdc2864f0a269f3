// A werift data-channel echo server: every peer connection shares one UDP port (one UDPMux).
// Signaling is one HTTP POST per peer connection (node:http, non-trickle: each SDP carries its candidates).
//
//   node examples/echo/server.mjs [--tcp]    (after `npm run build`; HOST, PORT, UDP_PORT to choose)
//
// With --tcp, a TCPMux listens on the same port number, TCP: peers that can't use UDP reach every peer
// connection through that one TCP port (ICE-TCP, RFC 6544).
import { once } from "node:events";
import http from "node:http";
import { pathToFileURL } from "node:url";
import { TCPMux, UDPMux } from "udpmux";
import { createPeerConnectionFactory } from "udpmux/werift";
import { RTCPeerConnection } from "werift";
import { closeExample, gathered, readBody } from "../lib/signaling.mjs";

export { gathered };

/** Largest offer accepted; one with a few candidates is about 1 KiB. */
const MAX_OFFER_BYTES = 64 * 1024;

/**
 * Starts the server: one UDPMux on `host:udpPort`, HTTP signaling on `host:httpPort` (0: any free port),
 * and with `tcp` a TCPMux on the same port number.
 * @param {{ host?: string, httpPort?: number, udpPort?: number, tcp?: boolean }} [options]
 */
export async function startEchoServer({ host = "127.0.0.1", httpPort = 0, udpPort = 0, tcp = false } = {}) {
  const mux = await UDPMux.bind({ address: host, port: udpPort }); // the one UDP socket
  const port = mux.getListenAddresses()[0].port;
  const tcpMux = tcp ? await TCPMux.listen({ address: host, port }).catch(closeAnd(mux)) : undefined;
  const peers = new Set();
  // Every peer connection it makes is on the muxes (max-bundle: one ICE transport, one ufrag each) and is
  // closed when it fails.
  const newPeerConnection = createPeerConnectionFactory(RTCPeerConnection, mux, { tcpMux });

  async function answer(offer) {
    const pc = newPeerConnection();
    peers.add(pc);
    pc.connectionStateChange.subscribe((state) => {
      if (state === "failed" || state === "closed") peers.delete(pc); // the factory closes a failed one
    });
    pc.onDataChannel.subscribe((channel) => channel.onMessage.subscribe((data) => channel.send(data)));
    await pc.setRemoteDescription({ type: "offer", sdp: offer });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    return pc.localDescription.sdp;
  }

  const server = http.createServer(async (req, res) => {
    try {
      if (req.method === "POST" && req.url === "/offer") {
        const sdp = await answer(JSON.parse(await readBody(req, MAX_OFFER_BYTES)).sdp);
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ sdp }));
      } else if (req.method === "GET" && req.url === "/stats") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ peerConnections: peers.size, mux: mux.stats() }));
      } else {
        res.writeHead(404).end();
      }
    } catch (error) {
      console.error("signaling failed:", error);
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(error));
    }
  });
  server.listen(httpPort, host);
  await once(server, "listening");

  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${server.address().port}`,
    udpPort: port,
    tcpPort: tcpMux === undefined ? undefined : port,
    mux,
    tcpMux,
    peers,
    close: () => closeExample(server, peers, mux, tcpMux),
  };
}

/** Close `mux`, then rethrow: a failed second listen leaves nothing open. */
function closeAnd(mux) {
  return async (error) => {
    await mux.close();
    throw error;
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const server = await startEchoServer({
    host: process.env.HOST ?? "127.0.0.1",
    httpPort: Number(process.env.PORT ?? 8080),
    udpPort: Number(process.env.UDP_PORT ?? 0),
    tcp: process.argv.includes("--tcp"),
  });
  console.log(
    `echo server: signaling ${server.url}/offer, every peer connection on UDP port ${server.udpPort}` +
      (server.tcpPort === undefined ? "" : ` and TCP port ${server.tcpPort}`),
  );
  const stop = async () => {
    await server.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

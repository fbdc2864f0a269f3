// An SFU-style werift server on one UDP port: one page publishes its camera and microphone, other pages
// watch and hear it. Every peer connection (the publisher's and each viewer's) goes through one UDPMux.
//
//   npm run example:media          (builds the package, then serves http://127.0.0.1:8080)
//   HOST=127.0.0.1 PORT=8080 UDP_PORT=0 node examples/media/server.mjs
//
// Open /?role=publish in one tab, then / in others. Signaling is one HTTP POST per peer connection
// (non-trickle: every SDP carries its candidates). The server forwards RTP packet by packet, without
// decoding; a viewer's keyframe request (PLI) is passed on to the publisher.
//
// Any WHIP client (RFC 9725: OBS, GStreamer's whipclientsink, @eyevinn/whip-web-client) publishes to
// /whip, and any WHEP client watches at /whep (see ../lib/whip.mjs); once listening it prints
// `WHIP endpoint <url>/whip` and `WHEP endpoint <url>/whep`. WHIP_TOKEN=secret requires
// `Authorization: Bearer secret` on /whip; SERVE_STUN=1 makes the mux answer STUN queries and names it in
// a `Link: <stun:HOST:UDP_PORT>; rel="ice-server"` header.
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import http from "node:http";
import { pathToFileURL } from "node:url";
import { UDPMux } from "udpmux";
import { createPeerConnectionFactory } from "udpmux/werift";
import { RTCPeerConnection } from "werift";
import { closeExample, gathered, HttpError, readBody } from "../lib/signaling.mjs";
import { answerWithWerift, whipEndpoints } from "../lib/whip.mjs";
import { forwardMisroutedPli } from "./pli.mjs";

const PUBLIC = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/app.js": ["app.js", "text/javascript; charset=utf-8"],
};

/** Largest signaling request accepted; an offer with audio, video and a few candidates is about 8 KiB. */
const MAX_OFFER_BYTES = 64 * 1024;
/** Viewers per publisher: each one costs a copy of every packet. */
const MAX_VIEWERS = 32;

/**
 * Starts the example: one UDPMux on `host:udpPort`, an HTTP server on `host:httpPort` (0: any free port).
 * `whipToken`: the bearer token /whip requires (none: open). `serveStun`: the mux answers STUN queries,
 * and the WHIP/WHEP responses name it in a Link header.
 * @param {{ host?: string, httpPort?: number, udpPort?: number, whipToken?: string, serveStun?: boolean }} [options]
 */
export async function startMediaExample({
  host = "127.0.0.1",
  httpPort = 0,
  udpPort = 0,
  whipToken,
  serveStun = false,
} = {}) {
  // The one UDP socket every peer connection of this server uses.
  const mux = await UDPMux.bind({ address: host, port: udpPort, serveStun });
  const peers = new Set();
  const counts = {
    /** PLIs the viewers' RTCRtpSenders saw (through werift's routing or the workaround). */
    pliFromViewers: 0,
    /** Of those, PLIs werift handed to a receiver and `forwardMisroutedPli` delivered. */
    pliMisrouted: 0,
    /** PLIs sent to the publisher. */
    pliToPublisher: 0,
    /** RTP packets a viewer's sender failed to send (logged). */
    forwardErrors: 0,
  };
  /** The live viewers' `forwardMisroutedPli` counters (a closed viewer's count moves into `counts`). */
  const misroutedCounters = new Set();
  /** @type {undefined | { pc: RTCPeerConnection, tracks: Map<string, import("werift").MediaStreamTrack>, viewers: Set<RTCPeerConnection>, requestKeyframe(): void }} */
  let publisher;

  // Every peer connection it makes is on the mux (max-bundle: one ICE transport, one ufrag each) and is
  // closed when it fails.
  const newPeerConnection = createPeerConnectionFactory(RTCPeerConnection, mux);

  /** A werift peer connection on the mux, forgotten when it fails (the factory closes it) or closes. */
  function newPeer() {
    const pc = newPeerConnection();
    peers.add(pc);
    pc.connectionStateChange.subscribe((state) => {
      if (state === "failed" || state === "closed") peers.delete(pc);
    });
    return pc;
  }

  /**
   * The pages' signaling: the answer SDP, with every candidate.
   * @param {RTCPeerConnection} pc @param {string} offer
   */
  async function answer(pc, offer) {
    await pc.setRemoteDescription({ type: "offer", sdp: offer });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    return pc.localDescription.sdp;
  }

  /**
   * WHIP/WHEP: a session of `whipEndpoints`, forgotten there when its peer connection ends on its own.
   * @param {() => void} forget
   */
  const whipAnswer = (forget) => async (pc, offer) => {
    pc.connectionStateChange.subscribe((state) => {
      if (state === "failed" || state === "closed") forget();
    });
    return { ...(await answerWithWerift(pc, offer)), close: () => pc.close() };
  };

  /**
   * @template T
   * @param {string} offer
   * @param {(pc: RTCPeerConnection, offer: string) => Promise<T>} [answerWith]
   * @returns {Promise<T>}
   */
  async function publish(offer, answerWith = answer) {
    if (publisher !== undefined) throw new HttpError(409, "someone is publishing already");
    const pc = newPeer();
    const tracks = new Map();
    pc.onTrack.subscribe((track) => tracks.set(track.kind, track));
    const self = {
      pc,
      tracks,
      viewers: new Set(),
      requestKeyframe() {
        const video = tracks.get("video");
        const receiver = pc.getReceivers().find((r) => r.tracks.includes(video));
        if (video === undefined || receiver === undefined) return;
        counts.pliToPublisher++;
        receiver
          .sendRtcpPLI(video.ssrc)
          .catch((error) => console.error("PLI to the publisher failed:", error));
      },
    };
    publisher = self;
    pc.connectionStateChange.subscribe((state) => {
      if (state !== "failed" && state !== "closed") return;
      if (publisher === self) publisher = undefined;
      // Its viewers have nothing left to watch; their pages say so and can be reloaded.
      for (const viewer of self.viewers) void viewer.close();
    });
    try {
      return await answerWith(pc, offer);
    } catch (error) {
      void pc.close();
      throw error;
    }
  }

  /**
   * @template T
   * @param {string} offer
   * @param {(pc: RTCPeerConnection, offer: string) => Promise<T>} [answerWith]
   * @returns {Promise<T>}
   */
  async function view(offer, answerWith = answer) {
    const source = publisher;
    if (source === undefined || source.tracks.size === 0) throw new HttpError(409, "nobody is publishing");
    if (source.viewers.size >= MAX_VIEWERS) throw new HttpError(503, `${MAX_VIEWERS} viewers already`);
    const pc = newPeer();
    source.viewers.add(pc);
    const stops = [];
    // These transceivers answer the viewer's m-lines: recvonly ones (a viewer), or sendrecv ones (a
    // participant that also sends its own camera: received here and not forwarded, to keep this short).
    for (const [kind, track] of source.tracks) {
      const { sender } = pc.addTransceiver(kind, { direction: "sendrecv" });
      const forward = track.onReceiveRtp.subscribe((rtp) => {
        sender.sendRtp(rtp).catch((error) => {
          if (counts.forwardErrors++ === 0) console.error("forwarding RTP failed:", error);
        });
      });
      stops.push(forward.unSubscribe);
      if (kind === "video") {
        const pli = sender.onPictureLossIndication.subscribe(() => {
          counts.pliFromViewers++;
          source.requestKeyframe();
        });
        stops.push(pli.unSubscribe);
      }
    }
    const misrouted = forwardMisroutedPli(pc);
    misroutedCounters.add(misrouted);
    pc.connectionStateChange.subscribe((state) => {
      if (state !== "failed" && state !== "closed") return;
      source.viewers.delete(pc);
      if (misroutedCounters.delete(misrouted)) counts.pliMisrouted += misrouted.forwarded;
      for (const stop of stops.splice(0)) stop();
    });
    try {
      const answered = await answerWith(pc, offer);
      // A new viewer needs a keyframe to start from.
      source.requestKeyframe();
      return answered;
    } catch (error) {
      void pc.close();
      throw error;
    }
  }

  function stats() {
    const [{ port }] = mux.getListenAddresses();
    let pliMisrouted = counts.pliMisrouted;
    for (const counter of misroutedCounters) pliMisrouted += counter.forwarded;
    return {
      udpPort: port,
      peerConnections: peers.size,
      publishing: publisher !== undefined,
      viewers: publisher?.viewers.size ?? 0,
      whip: { sessions: whip.sessions.size, ...whip.counts },
      whep: { sessions: whep.sessions.size, ...whep.counts },
      ...counts,
      pliMisrouted,
      mux: mux.stats(),
    };
  }

  // Link: <stun:…>; rel="ice-server" names this mux (its port) when it answers STUN queries; on a wildcard
  // address, by the host name the client used.
  const iceServers = serveStun
    ? (req) => {
        const bound = ["0.0.0.0", "::"].includes(host)
          ? new URL(`http://${req.headers.host}`).hostname
          : host;
        const name = bound.includes(":") && !bound.startsWith("[") ? `[${bound}]` : bound;
        return [`stun:${name}:${mux.getListenAddresses()[0].port}`];
      }
    : undefined;
  const whip = whipEndpoints({
    endpoints: { "/whip": (offer, { forget }) => publish(offer, whipAnswer(forget)) },
    token: whipToken,
    iceServers,
  });
  const whep = whipEndpoints({
    endpoints: { "/whep": (offer, { forget }) => view(offer, whipAnswer(forget)) },
    iceServers,
  });

  const server = http.createServer(async (req, res) => {
    try {
      if ((await whip.handle(req, res)) || (await whep.handle(req, res))) return;
      const url = (req.url ?? "/").split("?")[0];
      const route = PUBLIC[url];
      if (req.method === "GET" && route !== undefined) {
        const body = await readFile(new URL(`./public/${route[0]}`, import.meta.url));
        res.writeHead(200, { "content-type": route[1], "cache-control": "no-store" }).end(body);
      } else if (req.method === "GET" && url === "/stats") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(stats()));
      } else if (req.method === "POST" && (url === "/publish" || url === "/view")) {
        const { sdp: offer } = JSON.parse(await readBody(req, MAX_OFFER_BYTES));
        const sdp = url === "/publish" ? await publish(offer) : await view(offer);
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ sdp }));
      } else {
        res.writeHead(404).end();
      }
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 500;
      if (status === 500) console.error("request failed:", error);
      if (!res.headersSent) res.writeHead(status, { "content-type": "text/plain" });
      res.end(error instanceof HttpError ? error.message : String(error));
    }
  });
  server.listen(httpPort, host);
  await once(server, "listening");

  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${server.address().port}`,
    /** WHIP (publish) and WHEP (watch) endpoint paths. */
    whipPath: "/whip",
    whepPath: "/whep",
    udpPort: mux.getListenAddresses()[0].port,
    mux,
    peers,
    /** The publisher's peer connection, if someone is publishing. */
    get publisher() {
      return publisher?.pc;
    },
    stats,
    close: () => closeExample(server, peers, mux),
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const example = await startMediaExample({
    host: process.env.HOST ?? "127.0.0.1",
    httpPort: Number(process.env.PORT ?? 8080),
    udpPort: Number(process.env.UDP_PORT ?? 0),
    whipToken: process.env.WHIP_TOKEN || undefined,
    serveStun: process.env.SERVE_STUN === "1",
  });
  console.log(
    `publish: ${example.url}/?role=publish, watch: ${example.url}/ — every peer connection uses UDP port ${example.udpPort}`,
  );
  console.log(`WHIP endpoint ${example.url}${example.whipPath}`);
  console.log(`WHEP endpoint ${example.url}${example.whepPath}`);
  const stop = async () => {
    await example.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

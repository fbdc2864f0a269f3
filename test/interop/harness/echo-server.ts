/**
 * A werift data-channel echo server with HTTP signaling (node:http, non-trickle: every SDP carries its
 * candidates). The server answers; `preparePeer` decides how its peer connections reach the network
 * (plain werift sockets, or one shared UDPMux).
 */
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { type PeerConfig, RTCPeerConnection } from "werift";

export interface StaticFile {
  contentType: string;
  body: string | Buffer;
}

export interface EchoServerOptions {
  /** Called on every new server peer connection before its remote description is set. */
  preparePeer?: (pc: RTCPeerConnection) => void;
  /** Called after the remote description is set, before the answer is created and gathered. */
  beforeAnswer?: (pc: RTCPeerConnection) => void;
  /** Extra peer-connection settings (the ICE gathering defaults are loopback-only). */
  peerConfig?: Partial<PeerConfig>;
  /** GET routes, e.g. the test page. */
  files?: Record<string, StaticFile>;
  /** Where signaling (and `files`) is served; default: a new `http.Server` on 127.0.0.1, an ephemeral port. */
  serve?: (listener: http.RequestListener) => Promise<SignalingServer>;
}

/** Serves the echo server's requests, from `url`, until `close()`. */
export interface SignalingServer {
  readonly url: string;
  close(): Promise<void>;
}

/** The default {@link EchoServerOptions.serve}: plain HTTP on 127.0.0.1. */
async function serveHttp(listener: http.RequestListener): Promise<SignalingServer> {
  const server = http.createServer(listener);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface EchoServer {
  /** `http://127.0.0.1:PORT` (or what `serve` said) */
  readonly url: string;
  readonly peers: Map<string, RTCPeerConnection>;
  /** Every answer SDP the server sent, in order (restarts included). */
  readonly answers: string[];
  /** Per-peer state log of the server side (ICE, connection, gathering), for failure reports. */
  readonly logs: Map<string, string[]>;
  /** Messages each peer's channels echoed, by peer id and channel label. */
  readonly echoed: Map<string, Map<string, number>>;
  /** The server's side of a peer for a failure report: its state log and echo counts. */
  describe(id: string): string;
  /** Signaling errors (also answered with HTTP 500). */
  readonly errors: Error[];
  close(): Promise<void>;
}

export interface OfferRequest {
  sdp: string;
  /** Present on a renegotiation (ICE restart) of an existing peer connection. */
  id?: string;
}

export interface AnswerResponse {
  id: string;
  sdp: string;
}

/** Plain werift peers: host candidates on 127.0.0.1 only, no STUN or TURN server. */
export const LOOPBACK_PEER_CONFIG: Partial<PeerConfig> = {
  bundlePolicy: "max-bundle",
  iceServers: [],
  iceUseIpv4: false,
  iceUseIpv6: false,
  iceAdditionalHostAddresses: ["127.0.0.1"],
};

/** Resolves once `pc` finished gathering (immediately if it already has). */
export async function gatheringComplete(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return;
  await new Promise<void>((resolve) => {
    const { unSubscribe } = pc.iceGatheringStateChange.subscribe((state) => {
      if (state !== "complete") return;
      unSubscribe();
      resolve();
    });
  });
}

export async function startEchoServer(options: EchoServerOptions = {}): Promise<EchoServer> {
  const peers = new Map<string, RTCPeerConnection>();
  const answers: string[] = [];
  const logs = new Map<string, string[]>();
  const echoed = new Map<string, Map<string, number>>();
  const errors: Error[] = [];
  const started = performance.now();
  let nextId = 1;

  const createPeer = (): [string, RTCPeerConnection] => {
    const id = `pc${nextId++}`;
    const pc = new RTCPeerConnection({ ...LOOPBACK_PEER_CONFIG, ...options.peerConfig });
    const log: string[] = [];
    const note = (what: string) => log.push(`${(performance.now() - started).toFixed(0)}ms ${what}`);
    pc.iceConnectionStateChange.subscribe((state) => note(`ice ${state}`));
    pc.connectionStateChange.subscribe((state) => note(`connection ${state}`));
    pc.iceGatheringStateChange.subscribe((state) => note(`gathering ${state}`));
    const counts = new Map<string, number>();
    pc.onDataChannel.subscribe((channel) => {
      note(`datachannel ${channel.label} ordered=${channel.ordered}`);
      counts.set(channel.label, 0);
      channel.onMessage.subscribe((data) => {
        channel.send(data);
        counts.set(channel.label, (counts.get(channel.label) ?? 0) + 1);
      });
    });
    echoed.set(id, counts);
    options.preparePeer?.(pc);
    peers.set(id, pc);
    logs.set(id, log);
    return [id, pc];
  };

  const answer = async (request: OfferRequest): Promise<AnswerResponse> => {
    const existing = request.id === undefined ? undefined : peers.get(request.id);
    if (request.id !== undefined && existing === undefined) throw new Error(`unknown peer ${request.id}`);
    const [id, pc] = existing === undefined ? createPeer() : [request.id!, existing];
    await pc.setRemoteDescription({ type: "offer", sdp: request.sdp });
    options.beforeAnswer?.(pc);
    await pc.setLocalDescription(await pc.createAnswer());
    await gatheringComplete(pc);
    const sdp = pc.localDescription!.sdp;
    answers.push(sdp);
    return { id, sdp };
  };

  const listener: http.RequestListener = (req, res) => {
    const file = req.method === "GET" ? options.files?.[(req.url ?? "/").split("?")[0]!] : undefined;
    if (file !== undefined) {
      res.writeHead(200, { "content-type": file.contentType, "cache-control": "no-store" });
      res.end(file.body);
      return;
    }
    if (req.method === "GET" && req.url === "/favicon.ico") {
      res.writeHead(204).end();
      return;
    }
    if (req.method !== "POST" || req.url !== "/offer") {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      answer(JSON.parse(Buffer.concat(chunks).toString("utf8")) as OfferRequest).then(
        (body) => {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify(body));
        },
        (error: Error) => {
          errors.push(error);
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(String(error.stack ?? error));
        },
      );
    });
  };
  const signaling = await (options.serve ?? serveHttp)(listener);

  return {
    url: signaling.url,
    peers,
    answers,
    logs,
    echoed,
    errors,
    describe(id) {
      const counts = [...(echoed.get(id) ?? [])].map(([label, n]) => `${label} ${n}`).join(", ");
      const pc = peers.get(id);
      const now =
        pc === undefined ? "closed" : `ice=${pc.iceConnectionState} connection=${pc.connectionState}`;
      const internals = pc === undefined ? [] : weriftSnapshot(pc);
      const lines = [
        `server ${id} now: ${now}; echoed: ${counts || "nothing"}`,
        ...internals,
        ...(logs.get(id) ?? []),
      ];
      return lines.join("\n  ");
    },
    async close() {
      await signaling.close();
      await Promise.all([...peers.values()].map((pc) => pc.close()));
      peers.clear();
    },
  };
}

/** Ports of the UDP candidates of an SDP (`a=candidate:` lines). */
export function udpCandidatePorts(sdp: string): number[] {
  return sdp
    .split(/\r?\n/)
    .filter((line) => line.startsWith("a=candidate:"))
    .map((line) => line.slice("a=candidate:".length).split(" "))
    .filter((fields) => fields[2]?.toLowerCase() === "udp")
    .map((fields) => Number(fields[5]));
}

/** The `a=ice-ufrag:` of an SDP (the first one: max-bundle has a single ICE transport). */
export function iceUfrag(sdp: string): string | undefined {
  return /^a=ice-ufrag:(.+)$/m.exec(sdp)?.[1]?.trim();
}

/**
 * For failure reports only: werift's ICE agent and SCTP association as they are now. Reads private fields
 * defensively (anything missing prints as undefined); nothing here steers a test.
 */
function weriftSnapshot(pc: RTCPeerConnection): string[] {
  const agent = pc.iceTransports[0]?.connection;
  const sctp = pc.sctpTransport?.sctp as unknown as Record<string, unknown> | undefined;
  const length = (value: unknown) => (Array.isArray(value) ? value.length : String(value));
  const nominated = agent?.nominated?.toJSON() as
    | { localCandidate?: string; remoteCandidate?: string }
    | undefined;
  // werift's RFC 7675 state: while false, Connection.send drops application data without a word.
  const consent = (agent as unknown as { consentFresh?: boolean } | undefined)?.consentFresh;
  return [
    `ice agent: state=${agent?.state} generation=${agent?.generation} ufrags=${agent?.localUsername}/${agent?.remoteUsername} ` +
      `consentFresh=${consent} nominated=${nominated === undefined ? "none" : `${nominated.localCandidate} -> ${nominated.remoteCandidate}`}`,
    sctp === undefined
      ? "sctp: none"
      : `sctp: association=${String(sctp.associationState)} outboundQueue=${length(sctp.outboundQueue)} ` +
        `sentQueue=${length(sctp.sentQueue)} flightSize=${String(sctp.flightSize)} cwnd=${String(sctp.cwnd)} ` +
        `rto=${String(sctp.rto)} t3=${sctp.timer3Handle === undefined ? "idle" : "armed"} ` +
        `peerRwnd=${String(sctp.peerAdvertisedRwnd)} localTsn=${String(sctp.localTsn)} lastSackedTsn=${String(sctp.lastSackedTsn)}`,
  ];
}

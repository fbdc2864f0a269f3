import type { UDPMux } from "udpmux";
import type { RTCPeerConnection } from "werift";

export interface WhipStats {
  sessions: number;
  created: number;
  deleted: number;
  offerCandidates: number;
  trickledCandidates: number;
  iceRestarts: number;
}

export interface MediaExampleStats {
  udpPort: number;
  peerConnections: number;
  publishing: boolean;
  viewers: number;
  /** The WHIP (publishing) and WHEP (viewing) endpoints: live sessions and what they were sent. */
  whip: WhipStats;
  whep: WhipStats;
  /** PLIs the viewers' RTCRtpSenders saw (through werift's routing or the workaround). */
  pliFromViewers: number;
  /** Of those, PLIs werift handed to a receiver and `forwardMisroutedPli` delivered. */
  pliMisrouted: number;
  /** PLIs sent to the publisher. */
  pliToPublisher: number;
  /** RTP packets a viewer's sender failed to send. */
  forwardErrors: number;
  mux: ReturnType<UDPMux["stats"]>;
}

export interface MediaExample {
  /** `http://HOST:PORT`: open `${url}/?role=publish`, then `${url}/`. */
  readonly url: string;
  /** The one UDP port every peer connection of the server uses. */
  readonly udpPort: number;
  /** The WHIP (publish) and WHEP (watch) endpoints: `${url}${whipPath}`. */
  readonly whipPath: string;
  readonly whepPath: string;
  readonly mux: UDPMux;
  readonly peers: Set<RTCPeerConnection>;
  /** The publisher's peer connection, if someone is publishing. */
  readonly publisher: RTCPeerConnection | undefined;
  stats(): MediaExampleStats;
  close(): Promise<void>;
}

export function startMediaExample(options?: {
  host?: string;
  httpPort?: number;
  udpPort?: number;
  /** The bearer token the WHIP endpoint requires; none: open. */
  whipToken?: string;
  /** The mux answers STUN queries, named in the WHIP/WHEP responses' `Link: <stun:…>; rel="ice-server"`. */
  serveStun?: boolean;
}): Promise<MediaExample>;

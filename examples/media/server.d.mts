import type { UDPMux } from "udpmux";
import type { RTCPeerConnection } from "werift";

export interface MediaExampleStats {
  udpPort: number;
  peerConnections: number;
  publishing: boolean;
  viewers: number;
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
}): Promise<MediaExample>;

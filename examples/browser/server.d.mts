import type { UDPMux } from "udpmux";
import type { RTCPeerConnection } from "werift";

export interface BrowserExample {
  /** `http://HOST:PORT`: open `${url}/?peers=N`. */
  readonly url: string;
  /** The one UDP port every peer connection of the server uses. */
  readonly udpPort: number;
  readonly mux: UDPMux;
  readonly peers: Set<RTCPeerConnection>;
  close(): Promise<void>;
}

export function startBrowserExample(options?: {
  host?: string;
  httpPort?: number;
  udpPort?: number;
}): Promise<BrowserExample>;

/**
 * werift RTCPeerConnection pairs for the benchmarks: a server pc (attached to a mux, or on its own
 * sockets) and a plain client pc, connected with a data channel over 127.0.0.1. STUN is off on every pc
 * (werift would default to its public STUN server; `loopbackPeerConnection` never lets it).
 */
import { RTCPeerConnection } from "werift";
import type { UDPMux } from "../../src/index.js";
import { attachUDPMux } from "../../src/werift/index.js";
import { gathered, loopbackPeerConnection } from "./werift.js";

function opened(channel: {
  readyState: string;
  stateChanged: { subscribe(fn: (s: string) => void): unknown };
}) {
  if (channel.readyState === "open") return Promise.resolve();
  return new Promise<void>((resolve) => channel.stateChanged.subscribe((s) => s === "open" && resolve()));
}

export interface PcPair {
  server: RTCPeerConnection;
  client: RTCPeerConnection;
}

/** A server pc (on `mux` when given) and a plain client, data channel open both ways. */
export async function connectedPcPair(mux: UDPMux | undefined): Promise<PcPair> {
  const server =
    mux === undefined
      ? loopbackPeerConnection()
      : attachUDPMux(new RTCPeerConnection({ bundlePolicy: "max-bundle" }), mux);
  const client = loopbackPeerConnection();
  const channel = client.createDataChannel("bench");
  const remote = new Promise<Parameters<Parameters<typeof server.onDataChannel.subscribe>[0]>[0]>((resolve) =>
    server.onDataChannel.subscribe(resolve),
  );
  await client.setLocalDescription(await client.createOffer());
  await gathered(client);
  await server.setRemoteDescription(client.localDescription!);
  await server.setLocalDescription(await server.createAnswer());
  await gathered(server);
  await client.setRemoteDescription(server.localDescription!);
  await Promise.all([opened(channel), remote.then(opened)]);
  return { server, client };
}

/**
 * werift RTCPeerConnection pairs for the benchmarks: a server pc (attached to a mux, or on its own
 * sockets) and a plain client pc, connected with a data channel over 127.0.0.1. STUN is off on every pc
 * (werift would default to its public STUN server; `loopbackPeerConnection` never lets it).
 *
 * The caller passes the attach step, so a bench can attach with the built `dist/` (as users run it)
 * instead of src/.
 */
import { RTCPeerConnection } from "werift";
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

/** A server pc (attached by `attach` when given, else on its own socket) and a plain client, data channel open both ways. */
export async function connectedPcPair(
  attach: ((pc: RTCPeerConnection) => void) | undefined,
): Promise<PcPair> {
  let server: RTCPeerConnection;
  if (attach === undefined) server = loopbackPeerConnection();
  else {
    server = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
    attach(server);
  }
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

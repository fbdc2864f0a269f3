/**
 * werift RTCPeerConnection pairs for the benchmarks: a server pc (attached to a mux, or on its own
 * sockets) and a plain client pc, connected with a data channel over 127.0.0.1. STUN is off on every pc
 * (werift would default to stun.l.google.com).
 */
import { RTCPeerConnection } from "werift";
import type { UDPMux } from "../../src/index.js";
import { attachUDPMux } from "../../src/werift/index.js";

/** Host candidates on 127.0.0.1 only, no STUN or TURN server. */
const LOOPBACK_PC_CONFIG = {
  bundlePolicy: "max-bundle" as const,
  iceServers: [],
  iceUseIpv4: false,
  iceUseIpv6: false,
  iceAdditionalHostAddresses: ["127.0.0.1"],
};

/** Clear werift's STUN default on every ICE agent the pc makes (`iceServers: []` does not). */
function withoutStun(pc: RTCPeerConnection): RTCPeerConnection {
  const manager = (pc as unknown as { secureManager: { createTransport: (...a: unknown[]) => unknown } })
    .secureManager;
  const create = manager.createTransport;
  manager.createTransport = (...args: unknown[]) => {
    const dtls = create.apply(manager, args) as { iceTransport: { connection: { stunServer: unknown } } };
    dtls.iceTransport.connection.stunServer = undefined;
    return dtls;
  };
  return pc;
}

function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const sub = pc.iceGatheringStateChange.subscribe((s) => {
      if (s !== "complete") return;
      sub.unSubscribe();
      resolve();
    });
  });
}

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
      ? withoutStun(new RTCPeerConnection(LOOPBACK_PC_CONFIG))
      : attachUDPMux(new RTCPeerConnection({ bundlePolicy: "max-bundle" }), mux);
  const client = withoutStun(new RTCPeerConnection(LOOPBACK_PC_CONFIG));
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

/**
 * werift RTCPeerConnections for the benchmarks: loopback-only host candidates and no STUN server (werift
 * silently defaults to a public one, never contacted here), as test/werift/helpers.ts does for the tests.
 */
import type { RTCDataChannel } from "werift";
import { RTCPeerConnection } from "werift";

/** Host candidates on 127.0.0.1 only: no interface scan, no IPv6, no ICE servers. */
export const LOOPBACK_PC_CONFIG = {
  bundlePolicy: "max-bundle" as const,
  iceServers: [],
  iceUseIpv4: false,
  iceUseIpv6: false,
  iceAdditionalHostAddresses: ["127.0.0.1"],
};

/**
 * A peer connection on its own sockets. `iceServers: []` is not enough: werift falls back to its STUN
 * default, so each ICE transport's `stunServer` is cleared as it is created.
 */
export function loopbackPeerConnection(extra: { iceUseTcp?: boolean } = {}): RTCPeerConnection {
  const pc = new RTCPeerConnection({ ...LOOPBACK_PC_CONFIG, ...extra });
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

/** Resolves once `pc` has gathered: its local description then carries every candidate (non-trickle). */
export function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const sub = pc.iceGatheringStateChange.subscribe((state) => {
      if (state !== "complete") return;
      sub.unSubscribe();
      resolve();
    });
  });
}

/** Resolves when `channel` is open. */
export function opened(channel: RTCDataChannel): Promise<void> {
  if (channel.readyState === "open") return Promise.resolve();
  return new Promise((resolve) => {
    const sub = channel.stateChanged.subscribe((state) => {
      if (state !== "open") return;
      sub.unSubscribe();
      resolve();
    });
  });
}

/** The ports of the `typ host` candidates on 127.0.0.1 in an SDP. */
export function hostPorts(sdp: string): number[] {
  return [...sdp.matchAll(/^a=candidate:\S+ \d+ udp \d+ 127\.0\.0\.1 (\d+) typ host/gim)].map((m) =>
    Number(m[1]),
  );
}

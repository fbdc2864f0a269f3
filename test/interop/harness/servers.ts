/**
 * The two servers the interop suites run against: werift peer connections sharing one UDPMux (the subject)
 * and plain werift peer connections with a socket each (the control that tells a werift quirk from a mux
 * bug).
 */
import { expect } from "vitest";
import { UDPMux } from "../../../src/index.js";
import { attachUDPMux } from "../../../src/werift/index.js";
import {
  type EchoServer,
  type EchoServerOptions,
  startEchoServer,
  udpCandidatePorts,
} from "./echo-server.js";

export interface InteropServer extends EchoServer {
  readonly kind: "udpmux" | "plain";
}

/**
 * Plain werift: every peer connection binds its own socket on 127.0.0.1. werift queries
 * its default public STUN server even with `iceServers: []`, so each ICE agent's `stunServer` is cleared before it
 * gathers (the network guard would report the lookup otherwise).
 */
export async function startPlainServer(options: EchoServerOptions = {}): Promise<InteropServer> {
  const server = await startEchoServer({
    ...options,
    beforeAnswer(pc) {
      for (const transport of pc.iceTransports) transport.connection.stunServer = undefined;
      options.beforeAnswer?.(pc);
    },
  });
  return { ...server, kind: "plain" };
}

export interface MuxServer extends InteropServer {
  readonly mux: UDPMux;
  /** The mux's UDP port: the only one the server's peer connections may advertise. */
  readonly udpPort: number;
}

/** werift peer connections attached to one `UDPMux` bound on 127.0.0.1 (an ephemeral port). */
export async function startMuxServer(options: EchoServerOptions = {}): Promise<MuxServer> {
  const mux = await UDPMux.bind({ address: "127.0.0.1", port: 0 });
  try {
    const server = await startEchoServer({
      ...options,
      preparePeer(pc) {
        attachUDPMux(pc, mux, { announcedAddresses: ["127.0.0.1"] });
        options.preparePeer?.(pc);
      },
    });
    return {
      ...server,
      kind: "udpmux",
      mux,
      udpPort: mux.getListenAddresses()[0]!.port,
      async close() {
        await server.close();
        await mux.close();
      },
    };
  } catch (error) {
    await mux.close();
    throw error;
  }
}

export function isMuxServer(server: EchoServer | undefined): server is MuxServer {
  return (server as InteropServer | undefined)?.kind === "udpmux";
}

/** The server's side for a failure report: every peer's log, the mux's stats (if any), signaling errors. */
export function describeServer(server: EchoServer | undefined): string[] {
  return [
    ...[...(server?.logs.keys() ?? [])].map((id) => server!.describe(id)),
    ...(isMuxServer(server) ? [`mux stats: ${JSON.stringify(server.mux.stats())}`] : []),
    ...(server?.errors ?? []).map((error) => `server signaling error: ${error.stack}`),
  ];
}

/** `mux` sent `count` answers, each advertising UDP candidates on the mux's port and on no other. */
export function expectAnswersOnMuxPort(mux: MuxServer, count: number): void {
  expect(mux.answers).toHaveLength(count);
  for (const answer of mux.answers) {
    expect(udpCandidatePorts(answer).length).toBeGreaterThan(0);
    expect(new Set(udpCandidatePorts(answer))).toEqual(new Set([mux.udpPort]));
  }
}

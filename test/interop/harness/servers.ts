/**
 * The two servers the interop suites run against: werift peer connections sharing one UDPMux (the subject)
 * and plain werift peer connections with a socket each (the control that tells a werift quirk from a mux
 * bug).
 */
import { UDPMux } from "../../../src/index.js";
import { attachUDPMux } from "../../../src/werift/index.js";
import { type EchoServer, type EchoServerOptions, startEchoServer } from "./echo-server.js";

export interface InteropServer extends EchoServer {
  readonly kind: "udpmux" | "plain";
}

/**
 * Plain werift: every peer connection binds its own socket on 127.0.0.1. werift queries
 * stun.l.google.com even with `iceServers: []`, so each ICE agent's `stunServer` is cleared before it
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

export function isMuxServer(server: InteropServer | undefined): server is MuxServer {
  return server?.kind === "udpmux";
}

// `npm run example`: the echo server and the client on 127.0.0.1, a few seconds of echoes, exit 0 when every
// peer connection got its echoes back (1 otherwise). Nothing leaves the machine: no STUN server is used.
// `npm run example -- --tcp`: the same over ICE-TCP, through a TCPMux on the same port number.
import { printResults, runEchoClient } from "./client.mjs";
import { startEchoServer } from "./server.mjs";

const PEERS = Number(process.env.PEERS ?? 8);
const SECONDS = Number(process.env.SECONDS ?? 3);

const tcp = process.argv.includes("--tcp");
const server = await startEchoServer({ host: "127.0.0.1", tcp });
let ok = false;
try {
  console.log(
    `echo server on ${server.url}, UDP port ${server.udpPort}${tcp ? `, TCP port ${server.tcpPort}` : ""}; ` +
      `connecting ${PEERS} peer connections${tcp ? " over TCP" : ""}…`,
  );
  const results = await runEchoClient({ url: server.url, peers: PEERS, seconds: SECONDS, tcp });
  printResults(results, server.udpPort, tcp ? "TCP" : "UDP");
  const stats = server.mux.stats();
  console.log(
    `server mux: ${stats.connections} conns, ${stats.received} datagrams in, ${stats.dropped} dropped`,
  );
  if (tcp) {
    const t = server.tcpMux.stats();
    console.log(
      `server TCP mux: ${t.tcpConnections} connections, ${t.received} frames in, ${t.rejected} rejected`,
    );
  }
  ok = results.every(
    (r) => r.echoed > 0 && r.echoed >= r.sent * 0.9 && r.transport === (tcp ? "tcp" : "udp"),
  );
} finally {
  await server.close();
}
console.log(ok ? "ok" : "FAILED: a peer connection lost its echoes");
process.exit(ok ? 0 : 1);

// `npm run example`: the echo server and the client on 127.0.0.1, a few seconds of echoes, exit 0 when every
// peer connection got its echoes back (1 otherwise). Nothing leaves the machine: no STUN server is used.
import { printResults, runEchoClient } from "./client.mjs";
import { startEchoServer } from "./server.mjs";

const PEERS = Number(process.env.PEERS ?? 8);
const SECONDS = Number(process.env.SECONDS ?? 3);

const server = await startEchoServer({ host: "127.0.0.1" });
let ok = false;
try {
  console.log(
    `echo server on ${server.url}, UDP port ${server.udpPort}; connecting ${PEERS} peer connections…`,
  );
  const results = await runEchoClient({ url: server.url, peers: PEERS, seconds: SECONDS });
  printResults(results, server.udpPort);
  const stats = server.mux.stats();
  console.log(
    `server mux: ${stats.connections} conns, ${stats.received} datagrams in, ${stats.dropped} dropped`,
  );
  ok = results.every((r) => r.echoed > 0 && r.echoed >= r.sent * 0.9);
} finally {
  await server.close();
}
console.log(ok ? "ok" : "FAILED: a peer connection lost its echoes");
process.exit(ok ? 0 : 1);

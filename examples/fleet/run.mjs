// `npm run example:fleet`: a fleet of 2 hosts × 2 workers on one machine, each "host" a node process on its
// own loopback address (127.0.1.1, 127.0.2.1: run it in a loopback-only network namespace, as .ci/run does),
// and a redis-server on 127.0.0.1. It connects 20 werift clients through alternating nodes (WHIP, following
// the 307s), echoes on each, then:
//   1. SIGKILLs host 1's processes: its clients notice (an echo unanswered for 1 s), re-offer and land on
//      host 2; prints the time from the kill until every re-offer succeeded and echoed;
//   2. brings host 1 back, then SIGTERMs host 2 with its live sessions: a new offer sent to host 2 lands on
//      host 1, host 2's sessions keep echoing, their DELETEs (sent to host 1) reach host 2, and host 2 exits
//      once the last one ended; prints the drain time.
// Exit 0 when all of that held and no process is left, 1 otherwise.
import { setTimeout as sleep } from "node:timers/promises";
import { UDPMux } from "udpmux";
import { attachUDPMux } from "udpmux/werift";
import { RTCPeerConnection } from "werift";
import { within } from "../lib/process.mjs";
import { gathered } from "../lib/signaling.mjs";
import { isAlive, offerToFleet, startNode, startRedis } from "./launch.mjs";
import { NODE_TTL_MS } from "./registry.mjs";

const CLIENTS = Number(process.env.PEERS ?? 20);
const HOSTS = [
  { address: "127.0.1.1", port: 41000 },
  { address: "127.0.2.1", port: 42000 },
];
const WORKERS = 2;
const CONNECT_TIMEOUT_MS = 30_000;
/** A client whose echo is unanswered this long takes its session for dead and re-offers. */
const PROBE_TIMEOUT_MS = 1000;
const EXIT_TIMEOUT_MS = 20_000;
/** After SIGTERM, time for the node's draining heartbeat to reach Redis (it is sent at once). */
const HEARTBEAT_GRACE_MS = 300;

/** A werift peer connection on `mux`: the one place this client calls werift. */
function createPeerConnection(mux) {
  return attachUDPMux(new RTCPeerConnection({ bundlePolicy: "max-bundle" }), mux);
}

/** The `address:port` of the answer's UDP candidates. */
const udpCandidates = (sdp) =>
  [...sdp.matchAll(/^a=candidate:\S+ \d+ udp \d+ (\S+) (\d+) typ /gim)].map((m) => `${m[1]}:${m[2]}`);

/** Sends `text` on `channel` and resolves with the echo, or rejects after `ms`. */
function echoOnce(channel, text, ms) {
  let unsubscribe;
  const echoed = new Promise((resolve) => {
    ({ unSubscribe: unsubscribe } = channel.onMessage.subscribe((data) => resolve(String(data))));
  });
  channel.send(text);
  return within(ms, "echo", echoed).finally(() => unsubscribe());
}

/** Client `i`: a new peer connection (its own UDPMux on 127.0.0.1), offered to the fleet from node i % n. */
async function connect(client, urls) {
  const mux = await UDPMux.bind({ address: "127.0.0.1" });
  const pc = createPeerConnection(mux);
  try {
    const channel = pc.createDataChannel("echo");
    const open = new Promise((resolve) => channel.stateChanged.subscribe((s) => s === "open" && resolve()));
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const session = await offerToFleet(urls, client.i, pc.localDescription.sdp);
    await pc.setRemoteDescription({ type: "answer", sdp: session.answer });
    await within(10_000, `client ${client.i} channel open`, open);
    const text = `hello from client ${client.i}`;
    const reply = await echoOnce(channel, text, 5000);
    if (reply !== text) throw new Error(`client ${client.i}: sent "${text}", the echo was "${reply}"`);
    Object.assign(client, { mux, pc, channel, ...session, candidates: udpCandidates(session.answer) });
  } catch (error) {
    await pc.close();
    await mux.close();
    throw error;
  }
}

async function disconnect(client) {
  await client.pc?.close();
  await client.mux?.close();
  client.pc = client.mux = undefined;
}

/** Sends SIGKILL to every process of `node` (the node and its workers): a host that dies. */
function killHost(node) {
  for (const pid of [node.pid, ...node.workers]) if (isAlive(pid)) process.kill(pid, "SIGKILL");
}

const nodeArgs = (redis, host) => [
  ...["--redis", redis.url, "--host", host.address, "--port", String(host.port)],
  ...["--workers", String(WORKERS), "--http-port", "0", "--drain-timeout", "15000"],
];

const problems = [];
const check = (ok, what) => {
  if (!ok) problems.push(what);
};
const started = [];
const clients = Array.from({ length: CLIENTS }, (_, i) => ({ i }));
const redis = await startRedis();
try {
  const nodes = [];
  for (const [n, host] of HOSTS.entries()) {
    nodes.push(await startNode(nodeArgs(redis, host), { name: `host ${n + 1}`, echo: true }));
    started.push(nodes[n]);
  }
  let urls = nodes.map((n) => n.url);
  console.log(
    `fleet: redis ${redis.url}, ${HOSTS.length} hosts × ${WORKERS} workers (${urls.join(", ")}); ` +
      `connecting ${CLIENTS} clients through alternating nodes…`,
  );
  const t0 = performance.now();
  const results = await within(
    CONNECT_TIMEOUT_MS,
    "connecting",
    Promise.allSettled(clients.map((c) => connect(c, urls))),
  );
  for (const r of results) if (r.status === "rejected") problems.push(String(r.reason?.message ?? r.reason));
  const connected = clients.filter((c) => c.pc !== undefined);
  console.log(
    `${connected.length}/${CLIENTS} connected and echoed in ${(performance.now() - t0).toFixed(0)} ms`,
  );
  const perPort = new Map();
  for (const c of connected) for (const a of new Set(c.candidates)) perPort.set(a, (perPort.get(a) ?? 0) + 1);
  for (const [a, count] of [...perPort].sort()) console.log(`  ${a}: ${count} sessions`);
  console.log(
    `  ${connected.filter((c) => c.redirected).length} offers were redirected (307) to the owner node`,
  );
  check(perPort.size === HOSTS.length * WORKERS, `sessions on ${perPort.size} address:ports, expected 4`);

  // 1. A dead host.
  const dead = HOSTS[0].address;
  const orphans = connected.filter((c) => c.candidates[0]?.startsWith(`${dead}:`));
  console.log(`SIGKILL host 1 (${dead}): ${orphans.length} sessions die with it`);
  const killedAt = performance.now();
  killHost(nodes[0]);
  const reoffered = await Promise.allSettled(
    orphans.map(async (c) => {
      // The client notices: an echo unanswered for PROBE_TIMEOUT_MS (bounded: 10 probes).
      for (let probe = 0; probe < 10; probe++) {
        try {
          await echoOnce(c.channel, `probe ${probe}`, PROBE_TIMEOUT_MS);
          await sleep(100);
        } catch {
          break;
        }
      }
      const noticedMs = performance.now() - killedAt;
      await disconnect(c);
      await connect(c, urls);
      return { noticedMs, doneMs: performance.now() - killedAt };
    }),
  );
  for (const r of reoffered) if (r.status === "rejected") problems.push(`re-offer: ${r.reason?.message}`);
  const times = reoffered.filter((r) => r.status === "fulfilled").map((r) => r.value);
  const allMs = Math.max(0, ...times.map((t) => t.doneMs));
  console.log(
    `  ${times.length}/${orphans.length} re-offered and echo again, all within ${allMs.toFixed(0)} ms of the ` +
      `kill (noticed after ${Math.min(...times.map((t) => t.noticedMs)).toFixed(0)}–` +
      `${Math.max(...times.map((t) => t.noticedMs)).toFixed(0)} ms; the node key expires ≤ ${NODE_TTL_MS} ms)`,
  );
  check(
    orphans.every((c) => c.candidates[0]?.startsWith(`${HOSTS[1].address}:`)),
    "a re-offered session did not land on host 2",
  );
  await sleep(NODE_TTL_MS);
  const fleet = await (await fetch(`${nodes[1].url}/fleet`)).json();
  check(
    fleet.length === 1 && fleet[0].host === HOSTS[1].address,
    `fleet after the kill: ${JSON.stringify(fleet)}`,
  );
  check(![nodes[0].pid, ...nodes[0].workers].some(isAlive), "a process of host 1 is still running");

  // 2. Draining. Host 1 comes back (same address and ports), then host 2 drains.
  nodes[0] = await startNode(nodeArgs(redis, HOSTS[0]), { name: "host 1 (back)", echo: true });
  started.push(nodes[0]);
  urls = nodes.map((n) => n.url);
  const draining = clients.filter((c) => c.pc !== undefined);
  console.log(`host 1 is back; SIGTERM host 2 (${HOSTS[1].address}) with ${draining.length} live sessions`);
  const drainAt = performance.now();
  const drained = nodes[1].exited;
  nodes[1].child.kill("SIGTERM");
  await sleep(HEARTBEAT_GRACE_MS);
  const newcomer = { i: 1 }; // offers to host 2 first
  await connect(newcomer, urls);
  check(
    newcomer.candidates[0]?.startsWith(`${HOSTS[0].address}:`),
    "a new session landed on the draining host",
  );
  console.log(
    `  a new offer sent to host 2 was answered by ${newcomer.answeredBy} (redirected: ${newcomer.redirected})`,
  );
  const echoes = await Promise.allSettled(
    draining.map((c) => echoOnce(c.channel, `still here ${c.i}`, 5000)),
  );
  check(
    echoes.every((e) => e.status === "fulfilled"),
    "a session of the draining host stopped echoing",
  );
  console.log(
    `  ${echoes.filter((e) => e.status === "fulfilled").length}/${draining.length} still echo while it drains`,
  );
  // Each client ends its session: DELETE sent to host 1, which redirects it to the owner, host 2.
  for (const c of draining) {
    const res = await fetch(`${urls[0]}${new URL(c.location).pathname}`, { method: "DELETE" });
    check(res.status === 200, `DELETE of client ${c.i}'s session: HTTP ${res.status}`);
    await disconnect(c);
  }
  const [code] = await within(EXIT_TIMEOUT_MS, "host 2 exit after its drain", drained);
  console.log(
    `  host 2 exited (${code}) ${(performance.now() - drainAt).toFixed(0)} ms after SIGTERM, once its last session ended`,
  );
  check(code === 0, `host 2 exited with ${code}`);
  check(![nodes[1].pid, ...nodes[1].workers].some(isAlive), "a process of host 2 is still running");
  await fetch(newcomer.location, { method: "DELETE" });
  await disconnect(newcomer);
} catch (error) {
  problems.push(String(error?.message ?? error));
} finally {
  for (const node of started) {
    if (node.child.exitCode === null && node.child.signalCode === null) {
      node.child.kill("SIGTERM");
      await within(EXIT_TIMEOUT_MS, "node exit", node.exited).catch((error) => problems.push(error.message));
    }
    for (const pid of [node.pid, ...node.workers]) if (isAlive(pid)) process.kill(pid, "SIGKILL"); // ours
  }
  await Promise.all(clients.map(disconnect));
  await redis.stop();
  const left = [redis.pid, ...started.flatMap((n) => [n.pid, ...n.workers])].filter(isAlive);
  check(left.length === 0, `processes left: ${left.join(", ")}`);
  if (left.length === 0) console.log("every node, worker and redis-server exited");
}
for (const problem of problems) console.error(`FAILED: ${problem}`);
console.log(problems.length === 0 ? "ok" : "FAILED");
process.exit(problems.length === 0 ? 0 : 1);

// `npm run example:cluster`: starts examples/cluster/server.mjs with 2 workers on 127.0.0.1, connects 20
// werift peer connections through its HTTP signaling at once, echoes a message on each data channel, checks
// that the answers spread over at least 2 UDP ports (one per worker), prints a summary, then sends SIGTERM
// and checks that the primary and every worker exited. Exit 0 when all of that held, 1 otherwise. Nothing
// leaves the machine: every peer connection is on a UDPMux bound to 127.0.0.1 (no STUN server is asked).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { UDPMux } from "udpmux";
import { createPeerConnectionFactory } from "udpmux/werift";
import { RTCPeerConnection } from "werift";
import { isAlive, within } from "../lib/process.mjs";
import { gathered, postOffer } from "../lib/signaling.mjs";

const WORKERS = 2;
const PEERS = Number(process.env.PEERS ?? 20);
const START_TIMEOUT_MS = 20_000;
const CONNECT_TIMEOUT_MS = 30_000;
const EXIT_TIMEOUT_MS = 15_000;

const SERVER = fileURLToPath(new URL("./server.mjs", import.meta.url));

/** Starts the cluster; resolves with its signaling URL and process ids once it printed its signaling line. */
async function startCluster() {
  const child = spawn(
    process.execPath,
    [SERVER, "--workers", String(WORKERS), "--port", "0", "--http-port", "0", "--print-pids"],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const exited = once(child, "exit");
  const lines = createInterface({ input: child.stdout });
  let pids;
  const url = await within(
    START_TIMEOUT_MS,
    "cluster start",
    new Promise((resolve, reject) => {
      lines.on("line", (line) => {
        const p = /^pids primary=(\d+) workers=([\d,]+)$/.exec(line);
        if (p) pids = { primary: Number(p[1]), workers: p[2].split(",").map(Number) };
        const s = /^signaling on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
        if (s) resolve(s[1]);
        else if (!p) console.log(`server: ${line}`);
      });
      exited.then(([code, signal]) =>
        reject(new Error(`the server exited (${signal ?? code}) before it listened`)),
      );
    }),
  );
  return { child, url, pids, exited };
}

/** UDP ports of the candidates in `sdp`. */
function udpPorts(sdp) {
  return [...sdp.matchAll(/^a=candidate:\S+ \d+ udp \d+ \S+ (\d+) typ /gim)].map((m) => Number(m[1]));
}

/**
 * One client peer connection, on a UDPMux of its own (between two muxes every session would share one
 * 5-tuple, and DTLS/SCTP carry no ufrag): offers, gets the answer from the cluster, waits for the channel.
 */
async function connect(url, i) {
  const started = performance.now();
  const mux = await UDPMux.bind({ address: "127.0.0.1" });
  const pc = createPeerConnectionFactory(RTCPeerConnection, mux)();
  const session = { pc, mux };
  try {
    const channel = pc.createDataChannel("echo");
    const open = new Promise((resolve) => channel.stateChanged.subscribe((s) => s === "open" && resolve()));
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const answer = await postOffer(`${url}/offer`, { sdp: pc.localDescription.sdp }, `pc ${i}`);
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    await open;
    const connectMs = performance.now() - started;
    const message = `hello from pc ${i}`;
    const echoed = new Promise((resolve) => channel.onMessage.subscribe((data) => resolve(String(data))));
    channel.send(message);
    const reply = await within(5_000, `pc ${i} echo`, echoed);
    if (reply !== message) throw new Error(`pc ${i}: sent "${message}", the echo was "${reply}"`);
    return Object.assign(session, { worker: answer.worker, ports: udpPorts(answer.sdp), connectMs });
  } catch (error) {
    await close(session);
    throw error;
  }
}

async function close({ pc, mux }) {
  await pc.close();
  await mux.close();
}

const cluster = await startCluster();
const problems = [];
let sessions = [];
try {
  console.log(
    `cluster: ${WORKERS} workers, signaling on ${cluster.url}; connecting ${PEERS} peer connections…`,
  );
  const started = performance.now();
  const results = await within(
    CONNECT_TIMEOUT_MS,
    "connecting",
    Promise.allSettled(Array.from({ length: PEERS }, (_, i) => connect(cluster.url, i))),
  );
  const wallMs = performance.now() - started;
  sessions = results.filter((r) => r.status === "fulfilled").map((r) => r.value);
  for (const r of results) if (r.status === "rejected") problems.push(String(r.reason?.message ?? r.reason));

  const perWorker = new Map();
  for (const s of sessions) {
    const w = perWorker.get(s.worker) ?? { sessions: 0, ports: new Set() };
    w.sessions++;
    for (const port of s.ports) w.ports.add(port);
    perWorker.set(s.worker, w);
  }
  const ports = new Set(sessions.flatMap((s) => s.ports));
  const times = sessions.map((s) => s.connectMs).sort((a, b) => a - b);
  const median = times.length === 0 ? Number.NaN : times[Math.floor(times.length / 2)];
  console.log(`${sessions.length}/${PEERS} peer connections connected and echoed in ${wallMs.toFixed(0)} ms`);
  for (const [worker, w] of [...perWorker].sort(([a], [b]) => a - b)) {
    console.log(`  worker ${worker}: ${w.sessions} sessions on UDP port ${[...w.ports].join(", ")}`);
  }
  console.log(
    `  connect time (offer → channel open) median ${median.toFixed(0)} ms, max ${times.at(-1)?.toFixed(0)} ms`,
  );
  if (ports.size < 2) problems.push(`the answers carry ${ports.size} distinct UDP port(s), expected ≥ 2`);
  for (const [worker, w] of perWorker) {
    if (w.ports.size !== 1) problems.push(`worker ${worker} answered with ${w.ports.size} ports, expected 1`);
  }
} catch (error) {
  problems.push(String(error?.message ?? error));
} finally {
  // Stop the server with the sessions still up: the workers close their peer connections and muxes.
  cluster.child.kill("SIGTERM");
  try {
    const [code, signal] = await within(EXIT_TIMEOUT_MS, "server exit after SIGTERM", cluster.exited);
    if (code !== 0) problems.push(`the server exited with ${signal ?? code} after SIGTERM, expected 0`);
  } catch (error) {
    problems.push(error.message);
    cluster.child.kill("SIGKILL");
  }
  const left = [cluster.pids?.primary, ...(cluster.pids?.workers ?? [])].filter((p) => p && isAlive(p));
  if (cluster.pids === undefined) problems.push("the server printed no pids line");
  else if (left.length > 0) {
    problems.push(`processes still running after the server exited: ${left.join(", ")}`);
    for (const pid of left) process.kill(pid, "SIGKILL"); // ours: started by this run
  } else console.log(`SIGTERM: the primary and its ${cluster.pids.workers.length} workers exited`);
  await Promise.all(sessions.map(close));
}
for (const problem of problems) console.error(`FAILED: ${problem}`);
console.log(problems.length === 0 ? "ok" : "FAILED");
process.exit(problems.length === 0 ? 0 : 1);

/**
 * Scaling over cores (issue 11): examples/cluster/server.mjs (the package from dist/, as a user runs it)
 * with 1 worker and with N (`os.availableParallelism()`), the same client load on each, in one run.
 *
 * Method. The server runs in its own process tree (primary + workers). The load comes from `clients`
 * separate client processes (scaling-client.ts) of libwebrtc peer connections (`@roamhq/wrtc`: native,
 * so a client costs far less CPU per session and per message than a werift server does). Each round: start
 * the server, fork the clients, then
 * - **connect**: every client opens its share of `sessions` peer connections at once (offer → POST /offer →
 *   answer → data channel open); connects/s = sessions ÷ wall time from the go to the last open;
 * - **echo**: every channel keeps `inFlight` messages of `bytes` in flight for `echoMs` (after a warm-up);
 *   messages/s = echoes counted by the clients ÷ their window, summed.
 * The server's CPU (primary + workers, from /proc/<pid>/stat; Linux only) and the clients' CPU are read
 * per phase, so what limited a run can be seen. Rounds alternate 1 / N / N / 1; medians.
 *
 * Limits, honestly: the clients share the machine with the server. With 1 worker the server can use one
 * core and the clients the other; with N workers on an N-core machine the workers and the clients compete
 * for the same cores, so the ratio measured here is a lower bound of what N workers give on a machine
 * whose clients are elsewhere. The cores' busy share per phase is reported beside the rates for that
 * reason.
 */
import { type ChildProcess, fork, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { FromScalingClient, ToScalingClient } from "./lib/scaling-protocol.js";
import { median } from "./lib/stats.js";

const SERVER = fileURLToPath(new URL("../../examples/cluster/server.mjs", import.meta.url));
const START_TIMEOUT_MS = 20_000;
/** /proc/<pid>/stat counts CPU in clock ticks; USER_HZ is 100 on every Linux Node supports. */
const TICK_NS = 10_000_000;

export interface ScalingConfig {
  sessions: number;
  clients: number;
  echoMs: number;
  inFlight: number;
  bytes: number;
  rounds: number;
  connectTimeoutMs: number;
}

export interface ScalingRun {
  workers: number;
  sessions: number;
  opened: number;
  connectsPerSecond: number;
  messagesPerSecond: number;
  /** Server process tree CPU ÷ wall time in each phase (cores busy); undefined without /proc. */
  serverCores: { connect: number | undefined; echo: number | undefined };
  clientCores: { connect: number; echo: number };
  /**
   * Server CPU per unit of work (ms per connect, µs per echoed message); equal with 1 and N workers means
   * nothing serial was added, so N workers would reach N× with cores to spare. Undefined without /proc.
   */
  serverCpu: { msPerConnect: number | undefined; usPerMessage: number | undefined };
  /** How the primary placed the sessions, per worker. */
  placed: number[];
}

export interface ScalingResult {
  config: ScalingConfig;
  workers: number;
  one: ScalingRun;
  many: ScalingRun;
  connectRatio: number;
  echoRatio: number;
  runs: ScalingRun[];
}

/** CPU ns of the processes `pids`, or undefined where there is no /proc. */
function processCpuNs(pids: number[]): number | undefined {
  try {
    let ticks = 0;
    for (const pid of pids) {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // Fields after the command name (which may hold spaces) start at state; utime, stime are 14, 15.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    }
    return ticks * TICK_NS;
  } catch {
    return undefined; // no /proc (macOS): the rates stand alone
  }
}

interface Server {
  child: ChildProcess;
  url: string;
  pids: number[];
  exited: Promise<unknown>;
}

async function startServer(workers: number): Promise<Server> {
  const args = [SERVER, "--workers", String(workers), "--port", "0", "--http-port", "0"];
  const child = spawn(process.execPath, [...args, "--host", "127.0.0.1", "--print-pids"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = once(child, "exit");
  let pids: number[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the cluster did not start in time")), START_TIMEOUT_MS);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const p = /^pids primary=(\d+) workers=([\d,]+)$/.exec(line);
      if (p) pids = [Number(p[1]), ...p[2]!.split(",").map(Number)];
      const s = /^signaling on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
      if (s) {
        clearTimeout(timer);
        resolve(s[1]!);
      }
    });
    exited.then(() => reject(new Error("the cluster exited before it listened")));
  });
  return { child, url, pids, exited };
}

class Client {
  readonly child: ChildProcess;
  constructor() {
    this.child = fork(new URL("./scaling-client.js", import.meta.url), { stdio: "inherit" });
  }
  async next<T extends FromScalingClient["type"]>(type: T): Promise<Extract<FromScalingClient, { type: T }>> {
    const [m] = (await once(this.child, "message")) as [FromScalingClient];
    if (m.type !== type) throw new Error(`scaling client: expected ${type}, got ${m.type}`);
    return m as Extract<FromScalingClient, { type: T }>;
  }
  send(m: ToScalingClient): void {
    this.child.send(m);
  }
}

async function round(workers: number, config: ScalingConfig): Promise<ScalingRun> {
  const server = await startServer(workers);
  const clients = Array.from({ length: config.clients }, () => new Client());
  try {
    await Promise.all(clients.map((c) => c.next("ready")));
    // Connect: the same sessions split over the clients.
    let cpu0 = processCpuNs(server.pids);
    let t0 = performance.now();
    const connected = clients.map((c) => c.next("connected"));
    clients.forEach((c, i) => {
      const peers =
        Math.floor(config.sessions / config.clients) + (i < config.sessions % config.clients ? 1 : 0);
      c.send({ type: "connect", url: server.url, peers, timeoutMs: config.connectTimeoutMs });
    });
    const c = await Promise.all(connected);
    const connectSeconds = (performance.now() - t0) / 1000;
    const cpu1 = processCpuNs(server.pids);
    const opened = c.reduce((a, r) => a + r.opened, 0);
    const failures = c.flatMap((r) => r.failed);
    if (failures.length > 0)
      console.error(`scaling: ${failures.length} sessions failed, e.g. ${failures[0]}`);
    const serverConnect =
      cpu0 === undefined || cpu1 === undefined ? undefined : (cpu1 - cpu0) / 1e9 / connectSeconds;
    const { workers: views } = (await (await fetch(`${server.url}/stats`)).json()) as {
      workers: { placed: number }[];
    };
    // Echo on every open channel.
    cpu0 = processCpuNs(server.pids);
    t0 = performance.now();
    const echoed = clients.map((cl) => cl.next("echoed"));
    for (const cl of clients)
      cl.send({ type: "echo", ms: config.echoMs, inFlight: config.inFlight, bytes: config.bytes });
    const e = await Promise.all(echoed);
    const echoWall = (performance.now() - t0) / 1000;
    const cpu2 = processCpuNs(server.pids);
    const serverEcho = cpu0 === undefined || cpu2 === undefined ? undefined : (cpu2 - cpu0) / 1e9 / echoWall;
    const messagesPerSecond = e.reduce((a, r) => a + r.echoes / r.seconds, 0);
    return {
      workers,
      sessions: config.sessions,
      opened,
      connectsPerSecond: opened / connectSeconds,
      messagesPerSecond,
      serverCores: { connect: serverConnect, echo: serverEcho },
      clientCores: {
        connect: c.reduce((a, r) => a + r.cpuNs, 0) / 1e9 / connectSeconds,
        echo: e.reduce((a, r) => a + r.cpuNs / 1e9 / r.seconds, 0),
      },
      serverCpu: {
        msPerConnect:
          serverConnect === undefined ? undefined : (serverConnect * connectSeconds * 1000) / opened,
        // The echo phase's CPU includes the clients' warm-up, as do its messages: the rate stands for both.
        usPerMessage: serverEcho === undefined ? undefined : (serverEcho * 1e6) / messagesPerSecond,
      },
      placed: views.map((v) => v.placed),
    };
  } finally {
    for (const cl of clients) {
      if (cl.child.exitCode === null && cl.child.connected) {
        const exited = once(cl.child, "exit");
        cl.send({ type: "exit" });
        await exited;
      }
    }
    server.child.kill("SIGTERM");
    await server.exited;
  }
}

export async function benchScaling(workers: number, config: ScalingConfig): Promise<ScalingResult> {
  const runs: ScalingRun[] = [];
  for (let r = 0; r < config.rounds; r++) {
    const order = r % 2 === 0 ? [1, workers] : [workers, 1];
    for (const w of order) runs.push(await round(w, config));
  }
  const pick = (w: number): ScalingRun => {
    const list = runs.filter((r) => r.workers === w);
    const m = (f: (r: ScalingRun) => number | undefined) => {
      const values = list.map(f);
      return values.some((v) => v === undefined) ? undefined : median(values as number[]);
    };
    return {
      workers: w,
      sessions: config.sessions,
      opened: Math.min(...list.map((r) => r.opened)),
      connectsPerSecond: m((r) => r.connectsPerSecond)!,
      messagesPerSecond: m((r) => r.messagesPerSecond)!,
      serverCores: { connect: m((r) => r.serverCores.connect), echo: m((r) => r.serverCores.echo) },
      clientCores: { connect: m((r) => r.clientCores.connect)!, echo: m((r) => r.clientCores.echo)! },
      serverCpu: {
        msPerConnect: m((r) => r.serverCpu.msPerConnect),
        usPerMessage: m((r) => r.serverCpu.usPerMessage),
      },
      placed: list[0]!.placed,
    };
  };
  const one = pick(1);
  const many = pick(workers);
  return {
    config,
    workers,
    one,
    many,
    connectRatio: many.connectsPerSecond / one.connectsPerSecond,
    echoRatio: many.messagesPerSecond / one.messagesPerSecond,
    runs,
  };
}

/**
 * examples/cluster as a user runs it: `node examples/cluster/server.mjs --workers 2 --port 0` in a process of
 * its own (the package resolved from `dist`, as a user's would be), 20 libwebrtc clients connecting through
 * its HTTP signaling. The answers must spread over the workers' ports (one UDPMux port per worker, placed by
 * load), every data channel echoes byte for byte (4 clients restart ICE in between, which the primary must
 * route to the worker that owns the session), every answer carries a TCP candidate on its worker's UDP port
 * number (a TCPMux per worker), WHIP on the same path (an application/sdp offer: 201, Location, DELETE)
 * works, offers without a media section are refused, and SIGTERM must leave no process behind: the primary exits 0
 * and every worker pid it forked is gone.
 *
 * `--port 0` makes each worker bind a free port of its own (a fixed BASE gives worker i BASE + i, which a
 * test can't be sure is free). The spawned server imports `udpmux` from `dist`, not from the source this
 * suite's vitest config aliases: CI builds before it tests; locally run `npm run build` first.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { iceUfrag, udpCandidatePorts } from "./harness/echo-server.js";
import { explainFailure, within } from "./harness/failure.js";
import {
  assertLoopbackOnlyNamespace,
  installNetworkGuard,
  type NetworkGuard,
} from "./harness/network-guard.js";
import { WrtcEchoClient } from "./harness/wrtc-client.js";

const WORKERS = 2;
const CLIENTS = 20;
/** Echoes per channel (ordered, then unordered: one busy channel at a time, see wrtc.interop.ts). */
const MESSAGES = 20;
/** Clients that restart ICE between their two echoes: the restart must reach the session's own worker. */
const RESTARTING = 4;

const ROOT = new URL("../../", import.meta.url);
const SERVER = fileURLToPath(new URL("examples/cluster/server.mjs", ROOT));
const DIST = ["dist/index.js", "dist/werift.js"].map((file) => fileURLToPath(new URL(file, ROOT)));

interface WorkerView {
  index: number;
  pid: number;
  port: number;
  alive: boolean;
  placed: number;
}

interface Cluster {
  child: ChildProcess;
  url: string;
  primary: number;
  workers: number[];
  /** Everything the server wrote, for a failure report. */
  output: string[];
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

/** Ports of the `tcptype passive` TCP candidates in `sdp`. */
function tcpCandidatePorts(sdp: string): number[] {
  return [...sdp.matchAll(/^a=candidate:\S+ \d+ tcp \d+ \S+ (\d+) typ host tcptype passive/gim)].map((m) =>
    Number(m[1]),
  );
}

/** Spawns the cluster and resolves once it printed its signaling line (after the `--print-pids` line). */
async function startCluster(): Promise<Cluster> {
  const child = spawn(
    process.execPath,
    [
      SERVER,
      "--workers",
      String(WORKERS),
      "--port",
      "0",
      "--http-port",
      "0",
      "--host",
      "127.0.0.1",
      "--print-pids",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const output: string[] = [];
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  createInterface({ input: child.stderr! }).on("line", (line) => output.push(`stderr: ${line}`));
  const stdout: string[] = [];
  const signaling = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      output.push(`stdout: ${line}`);
      stdout.push(line);
      const match = /^signaling on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
      if (match) resolve(match[1]!);
    });
    void exited.then(([code, signal]) =>
      reject(new Error(`the server exited (${signal ?? code}) before it listened:\n${output.join("\n")}`)),
    );
  });
  const url = await within(20_000, "cluster start", signaling);
  // Exactly the pids line, then the signaling line: nothing else on stdout.
  expect(stdout).toHaveLength(2);
  const pids = /^pids primary=(\d+) workers=(\d+(?:,\d+)*)$/.exec(stdout[0]!);
  expect(pids, `pids line: ${stdout[0]}`).not.toBeNull();
  return {
    child,
    url,
    primary: Number(pids![1]),
    workers: pids![2]!.split(",").map(Number),
    output,
    exited,
  };
}

/** Pids whose parent is `ppid`, from /proc (the kernel's view, not the server's own account). */
function childrenOf(ppid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited while we listed /proc
    }
    // pid (comm) state ppid …: comm may hold spaces and parentheses, so split after the last ')'
    const ppidField = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppidField === ppid) children.push(Number(entry));
  }
  return children.sort((a, b) => a - b);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw error;
  }
}

describe("examples/cluster: 2 workers, one UDPMux port each, libwebrtc clients", () => {
  let guard: NetworkGuard | undefined;
  let cluster: Cluster | undefined;
  let clients: WrtcEchoClient[] = [];

  beforeAll(() => {
    assertLoopbackOnlyNamespace();
    const missing = DIST.filter((file) => !existsSync(file));
    if (missing.length > 0) {
      throw new Error(
        `examples/cluster runs in its own process and imports udpmux from dist, which is not built ` +
          `(missing ${missing.join(", ")}): run \`npm run build\` first`,
      );
    }
    const built = Math.min(...DIST.map((file) => statSync(file).mtimeMs));
    const srcDir = fileURLToPath(new URL("src/", ROOT));
    const newer = (readdirSync(srcDir, { recursive: true }) as string[]).filter(
      (file) => file.endsWith(".ts") && statSync(`${srcDir}${file}`).mtimeMs > built,
    );
    if (newer.length > 0) {
      console.warn(`dist is older than src/${newer[0]} (and ${newer.length - 1} more): the server runs dist`);
    }
  });

  afterEach(async () => {
    for (const client of clients) client.close();
    clients = [];
    guard?.restore();
    guard = undefined;
    // A failed test must not leave the server behind either: kill what this test started.
    if (cluster !== undefined) {
      for (const pid of [cluster.primary, ...cluster.workers]) if (isAlive(pid)) process.kill(pid, "SIGKILL");
      cluster = undefined;
    }
  });

  it("places 20 clients on both workers' ports, echoes every byte, and SIGTERM stops every process", async () => {
    guard = installNetworkGuard();
    const started = performance.now();
    const c = await startCluster();
    cluster = c;
    const startMs = performance.now() - started;
    clients = Array.from({ length: CLIENTS }, (_, i) => new WrtcEchoClient(`client${i}`));

    const explain = async () => [
      ...(await Promise.all(clients.map((client) => client.describe()))),
      `server output:\n${c.output.join("\n")}`,
    ];
    await explainFailure(async () => {
      // The kernel's view: the primary's children are exactly the workers it printed.
      expect(childrenOf(c.primary)).toEqual([...c.workers].sort((a, b) => a - b));
      expect(c.workers).toHaveLength(WORKERS);

      const connectStart = performance.now();
      await within(30_000, "connecting", Promise.all(clients.map((client) => client.connect(c.url))));
      const connectMs = performance.now() - connectStart;
      const echoed = await within(
        60_000,
        "echoing",
        Promise.all(
          clients.map(async (client, i) => {
            const ordered = await client.echo(client.ordered, 2 * i, MESSAGES);
            // The restarting clients restart between their two echoes (with no data in flight, see
            // wrtc.interop.ts): the unordered echo then runs on the new ICE generation.
            if (i < RESTARTING) await client.restartIce(c.url);
            return ordered + (await client.echo(client.unordered, 2 * i + 1, MESSAGES));
          }),
        ),
      );
      expect(echoed).toEqual(Array(CLIENTS).fill(2 * MESSAGES));
      // A restart is answered by the worker that owns the session: same id, same port, a new ufrag.
      for (const client of clients.slice(0, RESTARTING)) {
        expect(client.answers).toHaveLength(2);
        expect(udpCandidatePorts(client.answers[1]!)).toEqual(udpCandidatePorts(client.answers[0]!));
        expect(iceUfrag(client.answers[1]!)).not.toBe(iceUfrag(client.answers[0]!));
      }

      const { workers } = (await (await fetch(`${c.url}/stats`)).json()) as { workers: WorkerView[] };
      expect(workers.map((w) => w.pid)).toEqual(c.workers);
      const workerPorts = workers.map((w) => w.port);
      expect(new Set(workerPorts).size).toBe(WORKERS);
      // Every answer carries exactly one UDP port, one of a worker's; together at least two distinct ones.
      const answerPorts = clients.map((client) => new Set(udpCandidatePorts(client.answers[0]!)));
      for (const ports of answerPorts) {
        expect(ports.size).toBe(1);
        expect(workerPorts).toContain([...ports][0]);
      }
      const distinct = new Set(answerPorts.flatMap((ports) => [...ports]));
      expect(distinct.size).toBeGreaterThanOrEqual(2);
      // Least-loaded placement: 20 sessions arriving at once split about evenly (exactly 10/10 when the
      // workers answer at the same pace), and each worker's count matches the answers with its port.
      expect(workers.reduce((sum, w) => sum + w.placed, 0)).toBe(CLIENTS);
      for (const w of workers) {
        expect(w.placed).toBeGreaterThanOrEqual(CLIENTS / WORKERS - 3);
        expect(answerPorts.filter((ports) => ports.has(w.port))).toHaveLength(w.placed);
      }
      // A TCP mux per worker on its UDP port's number: every answer has a passive TCP candidate there.
      for (const client of clients) {
        const [udp] = udpCandidatePorts(client.answers[0]!);
        expect(tcpCandidatePorts(client.answers[0]!)).toEqual([udp]);
      }

      // WHIP on the same path: an application/sdp offer → 201, Location, the answer; DELETE ends it.
      const whip = await fetch(`${c.url}/offer`, {
        method: "POST",
        headers: { "content-type": "application/sdp" },
        body: clients[0]!.offers[0]!,
      });
      expect(whip.status).toBe(201);
      expect(whip.headers.get("content-type")).toBe("application/sdp");
      const location = whip.headers.get("location")!;
      expect(location).toMatch(/^\/offer\/\d+\.\d+$/);
      const whipAnswer = await whip.text();
      expect(workerPorts).toContain(udpCandidatePorts(whipAnswer)[0]);
      expect((await fetch(`${c.url}${location}`, { method: "PATCH" })).status).toBe(405);
      expect((await fetch(`${c.url}${location}`, { method: "DELETE" })).status).toBe(200);
      expect((await fetch(`${c.url}${location}`, { method: "DELETE" })).status).toBe(404);
      // Not an SDP offer with a media section (werift would never answer one): 400, JSON or WHIP alike.
      for (const [type, body] of [
        ["application/sdp", "v=0\r\n"],
        ["application/json", JSON.stringify({ sdp: "v=0\r\n" })],
        ["text/plain", "hello"],
      ] as const) {
        const res = await fetch(`${c.url}/offer`, {
          method: "POST",
          headers: { "content-type": type },
          body,
        });
        expect(res.status, type).toBe(400);
      }
      expect(guard!.violations).toEqual([]);

      // SIGTERM with every session still up: the workers close their peer connections and muxes and exit,
      // then the primary exits 0.
      const stopStart = performance.now();
      c.child.kill("SIGTERM");
      const [code, signal] = await within(15_000, "exit after SIGTERM", c.exited);
      const stopMs = performance.now() - stopStart;
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect([c.primary, ...c.workers].filter(isAlive)).toEqual([]);
      console.log(
        `cluster: started in ${startMs.toFixed(0)} ms, ${CLIENTS} libwebrtc clients connected in ` +
          `${connectMs.toFixed(0)} ms, placed ${workers.map((w) => `${w.placed} on :${w.port}`).join(", ")}, ` +
          `stopped in ${stopMs.toFixed(0)} ms`,
      );
    }, explain);
  });
});

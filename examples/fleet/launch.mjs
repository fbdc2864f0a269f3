// What `npm run example:fleet` and test/interop/fleet.interop.ts share: a throwaway redis-server, fleet
// nodes as processes of their own, and a client's WHIP offer to the fleet that retries on another node.
import { spawn } from "node:child_process";
import { once } from "node:events";
import net from "node:net";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { isAlive, within } from "../lib/process.mjs";

export { isAlive };

export const NODE = fileURLToPath(new URL("./node.mjs", import.meta.url));
const START_TIMEOUT_MS = 20_000;
/** A free port can be taken between our probe and redis-server's bind: tried this often. */
const REDIS_ATTEMPTS = 5;

async function freePort(host) {
  const server = net.createServer();
  server.listen(0, host);
  await once(server, "listening");
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts Debian's `redis-server` on `host` (a free port, nothing saved to disk) and resolves once it accepts
 * connections. `stop()` ends it (SIGTERM, then SIGKILL after 5 s).
 */
export async function startRedis({ host = "127.0.0.1" } = {}) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort(host);
    const child = spawn(
      "redis-server",
      ["--port", String(port), "--bind", host, "--save", "", "--appendonly", "no", "--loglevel", "warning"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const output = [];
    const exited = once(child, "exit");
    child.stderr.on("data", (chunk) => output.push(String(chunk)));
    child.stdout.on("data", (chunk) => output.push(String(chunk)));
    const up = (async () => {
      for (let i = 0; i < 100; i++) {
        const ok = await new Promise((resolve) => {
          const socket = net.connect(port, host);
          socket.once("connect", () => {
            socket.destroy();
            resolve(true);
          });
          socket.once("error", () => resolve(false));
        });
        if (ok) return true;
        if (child.exitCode !== null) return false;
        await sleep(50);
      }
      return false;
    })();
    if (await up) {
      return {
        url: `redis://${host}:${port}`,
        pid: child.pid,
        output,
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill("SIGTERM");
          const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
          await exited;
          clearTimeout(timer);
        },
      };
    }
    child.kill("SIGKILL");
    await exited;
    if (attempt >= REDIS_ATTEMPTS) throw new Error(`redis-server did not start:\n${output.join("")}`);
  }
}

/**
 * Starts `examples/fleet/node.mjs` with `args` (and --print-pids) and resolves once it printed its signaling
 * line: `{ child, url, pid, workers, output, exited, pids() }`.
 * @param {string[]} args
 * @param {{ name?: string, echo?: boolean }} [options] `echo`: copy its stderr to ours
 */
export async function startNode(args, { name = "node", echo = false } = {}) {
  const child = spawn(process.execPath, [NODE, ...args, "--print-pids"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = [];
  const stdout = [];
  const exited = once(child, "exit");
  createInterface({ input: child.stderr }).on("line", (line) => {
    output.push(`stderr: ${line}`);
    if (echo) console.error(`${name}: ${line}`);
  });
  let pids;
  const url = await within(
    START_TIMEOUT_MS,
    `${name} start`,
    new Promise((resolve, reject) => {
      createInterface({ input: child.stdout }).on("line", (line) => {
        output.push(`stdout: ${line}`);
        stdout.push(line);
        const p = /^pids node=(\d+) workers=([\d,]+)$/.exec(line);
        if (p) pids = { node: Number(p[1]), workers: p[2].split(",").map(Number) };
        const s = /^signaling on (http:\/\/\S+)$/.exec(line);
        if (s) resolve(s[1]);
      });
      exited.then(([code, signal]) =>
        reject(new Error(`${name} exited (${signal ?? code}) before it listened:\n${output.join("\n")}`)),
      );
    }),
  );
  return { child, url, pid: pids?.node, workers: pids?.workers ?? [], stdout, output, exited };
}

/**
 * POSTs a WHIP offer to the fleet: to `urls[first]`, following a 307 to the node that owns the placement,
 * and on a failure (a dead node, a 503) to the next URL after `retryMs`, until `timeoutMs` has passed.
 * Resolves with the answer, the session's absolute URL and the node that answered.
 * @param {string[]} urls
 * @param {number} first
 * @param {string} sdp
 */
export async function offerToFleet(urls, first, sdp, { timeoutMs = 20_000, retryMs = 200 } = {}) {
  const deadline = performance.now() + timeoutMs;
  const errors = [];
  for (let attempt = 0; ; attempt++) {
    const url = urls[(first + attempt) % urls.length];
    try {
      const res = await fetch(`${url}/offer`, {
        method: "POST",
        headers: { "content-type": "application/sdp" },
        body: sdp,
        signal: AbortSignal.timeout(Math.max(1, Math.min(10_000, deadline - performance.now()))),
      });
      const body = await res.text();
      if (res.status === 201) {
        const location = new URL(res.headers.get("location"), res.url).href;
        return {
          answer: body,
          location,
          answeredBy: new URL(res.url).origin,
          redirected: res.redirected,
          attempt,
        };
      }
      errors.push(`${url}: HTTP ${res.status} ${body}`);
      if (res.status < 500) break; // the offer itself is wrong: another node would say the same
    } catch (error) {
      errors.push(`${url}: ${error.cause?.code ?? error.message}`);
    }
    if (performance.now() + retryMs > deadline) break;
    await sleep(retryMs);
  }
  throw new Error(`no node took the offer after ${errors.length} attempts: ${errors.slice(-3).join("; ")}`);
}

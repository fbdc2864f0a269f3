// One node of a fleet of hosts: examples/cluster's workers (one UDPMux and one TCPMux each, on BASE + i,
// announcing --host), registered in Redis with a heartbeat (./registry.mjs), and a WHIP endpoint that takes a
// new session for the whole fleet: it places it on the least-loaded live worker of any node and answers
// itself when that worker is its own, or redirects (307) to the node that owns it. PATCH and DELETE of a
// session sent to any node reach its owner (a 307 too).
//
//   node examples/fleet/node.mjs --redis redis://127.0.0.1:6379 --host ADDR --port BASE --workers N
//                                --http-port P [--http-host ADDR] [--announce ADDR] [--drain-timeout MS]
//                                [--prefix KEY] [--print-pids]
//
// Once its workers listen and it is registered, stdout gets exactly one line, `signaling on http://ADDR:P`
// (after a `pids node=<pid> workers=<pid>,…` line with --print-pids); everything else goes to stderr.
//
//   POST   /offer            application/sdp → 201 Created, Location /offer/<id>, the SDP answer (WHIP,
//                            RFC 9725); or 307 to `<owner>/offer?worker=<i>`, which answers so
//   PATCH  /offer/<id>       trickled candidates (204) or an ICE restart (200, sdpfrag); 307 to the owner
//   DELETE /offer/<id>       ends the session (200); 307 to the owner
//   GET    /stats            this node: its workers (pid, port, load) and sessions
//   GET    /fleet            every live node as registered in Redis
//
// SIGTERM drains: the node marks itself draining in Redis (new sessions go to other nodes; one POSTed here is
// redirected), its sessions keep working until they end or --drain-timeout passes, then its workers close and
// it leaves Redis and exits. SIGINT (Ctrl-C) stops at once. A worker that dies is replaced on its port.
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import { createClient } from "redis";
import { startWorkers } from "../cluster/workers.mjs";
import { checkIpOptions, integerOption, optionValues, parseCommandLine } from "../lib/options.mjs";
import { HttpError } from "../lib/signaling.mjs";
import { sdpFragOf, whipEndpoints, withCredentials } from "../lib/whip.mjs";
import { fleetRegistry, HEARTBEAT_MS } from "./registry.mjs";

/** Redis reconnects during an outage: this many attempts (backing off to 1 s), then the node stops. */
const REDIS_RECONNECTS = 30;
/** How long a Redis command may take before it fails (a placement then answers 503). */
const REDIS_COMMAND_TIMEOUT_MS = 2000;

const USAGE = `usage: node examples/fleet/node.mjs --redis URL --host ADDR --port BASE [options]
  --redis URL          the fleet's Redis (redis://host:port)
  --host ADDR          the address this node's muxes and signaling bind
  --port BASE          worker i binds UDP and TCP port BASE + i
  --workers N          worker processes, one UDPMux + TCPMux each                          (default: 2)
  --http-port P        signaling port; 0: any free port                                     (default: 8080)
  --http-host ADDR     the address the signaling listens on                                 (default: --host)
  --announce ADDR      the address the answers' candidates (and the signaling URL) carry    (default: --host)
  --drain-timeout MS   on SIGTERM, how long live sessions may keep going                    (default: 30000)
  --prefix KEY         the Redis key prefix                                                 (default: udpmux:fleet)
  --print-pids         print "pids node=<pid> workers=<pid>,…" before the signaling line (for tests)`;

function parseOptions(argv) {
  const values = optionValues(argv, {
    redis: { type: "string" },
    host: { type: "string" },
    port: { type: "string" },
    workers: { type: "string", default: "2" },
    "http-port": { type: "string", default: "8080" },
    "http-host": { type: "string" },
    announce: { type: "string" },
    "drain-timeout": { type: "string", default: "30000" },
    prefix: { type: "string", default: "udpmux:fleet" },
    "print-pids": { type: "boolean", default: false },
  });
  if (values.help) return { help: true };
  const integer = (name, min, max) => integerOption(values, name, min, max);
  for (const name of ["redis", "host", "port"]) {
    if (values[name] === undefined) throw new TypeError(`\`--${name}\` is required`);
  }
  if (!/^rediss?:\/\//.test(values.redis)) {
    throw new TypeError(`Expected \`--redis\` to be a redis:// URL, got \`${values.redis}\``);
  }
  checkIpOptions(values, ["host", "http-host", "announce"]);
  const workers = integer("workers", 1, 1024);
  // A fixed port per worker: a replaced worker binds the port its sessions' peers know, and a firewall opens it.
  const port = integer("port", 1, 65535 - workers + 1);
  return {
    redis: values.redis,
    host: values.host,
    port,
    workers,
    httpPort: integer("http-port", 0, 65535),
    httpHost: values["http-host"] ?? values.host,
    announce: values.announce ?? values.host,
    drainTimeout: integer("drain-timeout", 0, 24 * 3600 * 1000),
    prefix: values.prefix,
    printPids: values["print-pids"],
  };
}

/** The first `a=mid:` of `sdp` (max-bundle: the one ICE transport's). */
const firstMid = (sdp) => /^a=mid:(.*?)\r?$/m.exec(sdp)?.[1];

async function runNode(options) {
  const id = `${options.announce}-${randomBytes(3).toString("hex")}`;
  const redis = createClient({
    url: options.redis,
    commandOptions: { timeout: REDIS_COMMAND_TIMEOUT_MS },
    socket: {
      connectTimeout: REDIS_COMMAND_TIMEOUT_MS,
      reconnectStrategy: (retries) =>
        retries > REDIS_RECONNECTS
          ? new Error(`Redis unreachable after ${REDIS_RECONNECTS} attempts`)
          : Math.min(100 * 2 ** retries, 1000),
    },
  });
  let redisErrors = 0;
  redis.on("error", (error) => {
    // Once per outage and every 10th after: a reconnect loop must not flood stderr.
    if (redisErrors++ % 10 === 0)
      console.error(`node ${id}: Redis: ${error.message} (${redisErrors} errors)`);
  });
  redis.on("ready", () => {
    redisErrors = 0;
  });
  await redis.connect();
  const registry = fleetRegistry(redis, { prefix: options.prefix });

  /** Session id → the index of the worker that holds it. */
  const sessions = new Map();
  let draining = false;
  let stopping;

  const dropSession = (sid) => {
    if (!sessions.delete(sid)) return;
    whip.forget(sid);
    registry
      .dropSession(sid)
      .catch((error) => console.error(`node ${id}: dropping ${sid}: ${error.message}`));
    if (draining && sessions.size === 0) void stop("drained");
  };
  const pool = startWorkers({
    count: options.workers,
    host: options.host,
    port: options.port,
    announce: options.announce,
    onSessionClosed: dropSession,
    onWorkerLost(index) {
      for (const [sid, w] of [...sessions]) if (w === index) dropSession(sid);
      void heartbeat(); // its worker is not alive: no placement on it until the replacement listens
    },
    onReplaced(index) {
      console.error(
        `worker ${index} replaced (pid ${pool.workers[index].pid}, port ${pool.workers[index].port})`,
      );
      void heartbeat();
    },
  });

  const view = () => ({
    id,
    url,
    host: options.announce,
    draining,
    workers: pool.workers.map((w) => ({
      index: w.index,
      pid: w.pid,
      port: w.port,
      alive: w.alive && w.listening,
      connections: w.connections,
      sessions: w.sessions,
      load: w.connections + w.inFlight,
      replaced: w.replaced,
    })),
  });
  let beating;
  /** Writes this node's key now (once at a time: a beat asked for during one runs right after it). */
  async function heartbeat() {
    if (stopping !== undefined) return;
    if (beating !== undefined) return beating.catch(() => {}).then(heartbeat);
    beating = registry.heartbeat(view(), sessions.keys()).finally(() => {
      beating = undefined;
    });
    return beating.catch((error) => console.error(`node ${id}: heartbeat failed: ${error.message}`));
  }

  /** Which worker a POST /offer handled here goes to (set per request, read by the WHIP endpoint). */
  const placement = new AsyncLocalStorage();
  const whip = whipEndpoints({
    endpoints: {
      "/offer": async (offer, context) => {
        const index = placement.getStore();
        const sid = context.id;
        let remote = offer;
        const mid = firstMid(offer);
        const seen = new Set();
        const answer = await pool.offer(index, sid, offer);
        sessions.set(sid, index);
        await registry.claimSession(sid, id).catch((error) => {
          pool.close(index, sid);
          sessions.delete(sid);
          throw new HttpError(503, `Redis: ${error.message}`);
        });
        const trickle = async (frag) => {
          const candidates = [];
          for (const section of frag.media) {
            for (const line of section.candidates) {
              // Component 1 is RTP; some WHIP clients write 0 there, which no ICE agent pairs.
              const candidate = line.replace(/^(candidate:\S+) 0 /, "$1 1 ");
              if (!seen.has(candidate)) candidates.push(candidate);
              seen.add(candidate);
            }
          }
          if (candidates.length > 0) await pool.trickle(index, sid, mid, candidates);
        };
        return {
          answer,
          trickle,
          async restartIce(frag) {
            remote = withCredentials(remote, frag.ufrag, frag.pwd);
            seen.clear();
            const restarted = await pool.offer(index, sid, remote, true);
            await trickle(frag);
            return sdpFragOf(restarted);
          },
          close() {
            pool.close(index, sid);
            dropSession(sid);
          },
        };
      },
    },
  });

  /** POST /offer: here on a local worker, or a 307 to the node whose worker the fleet's placement picked. */
  async function newSession(req, res, query) {
    if (!/^application\/sdp\s*(;|$)/i.test(req.headers["content-type"] ?? "")) {
      throw new HttpError(415, "the offer must be application/sdp");
    }
    const pinned = query.get("worker");
    let index;
    if (pinned !== null && !draining) {
      // Placed here by another node: on that worker, or (it just died) on the least-loaded one left.
      const w = pool.workers[Number(pinned)];
      index = w?.alive && w.listening ? w.index : pool.leastLoaded();
    }
    if (index === undefined) {
      const picked = await registry.place().catch((error) => {
        throw new HttpError(503, `Redis: ${error.message}`);
      });
      if (picked === undefined) throw new HttpError(503, "no live worker in the fleet");
      if (picked.node !== id) {
        res.writeHead(307, { location: `${picked.url}/offer?worker=${picked.worker}` }).end();
        return;
      }
      if (draining) throw new HttpError(503, "draining; try again");
      index = picked.worker;
    }
    await placement.run(index, () => whip.handle(req, res));
  }

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? "/", "http://node");
      const resource = /^\/offer\/([^/]+)$/.exec(url.pathname);
      if (url.pathname === "/offer" && req.method === "POST") {
        await newSession(req, res, url.searchParams);
      } else if (
        resource &&
        req.method !== "OPTIONS" &&
        !whip.sessions.has(decodeURIComponent(resource[1]))
      ) {
        // Not ours: the owner answers PATCH and DELETE, wherever they were sent.
        const owner = await registry.owner(decodeURIComponent(resource[1])).catch((error) => {
          throw new HttpError(503, `Redis: ${error.message}`);
        });
        if (owner === undefined || owner.id === id) throw new HttpError(404, "no such session");
        res.writeHead(307, { location: `${owner.url}${url.pathname}` }).end();
      } else if (await whip.handle(req, res)) {
        // WHIP: answered
      } else if (req.method === "GET" && url.pathname === "/stats") {
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ ...view(), sessions: sessions.size }));
      } else if (req.method === "GET" && url.pathname === "/fleet") {
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify(await registry.nodes()));
      } else {
        throw new HttpError(404, "not found");
      }
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 500;
      if (status >= 500) console.error(`node ${id}: ${req.method} ${req.url}: ${error.message}`);
      if (!res.headersSent) res.writeHead(status, { "content-type": "text/plain" });
      res.end(String(error.message ?? error));
    }
  });
  server.requestTimeout = 20_000;

  let heartbeatTimer;
  let drainTimer;
  function stop(why, code = 0) {
    stopping ??= (async () => {
      const started = performance.now();
      clearInterval(heartbeatTimer);
      clearTimeout(drainTimer);
      const left = sessions.size;
      // Out of the fleet first, so nobody is sent here while the workers close.
      await beating?.catch(() => {});
      await registry.deregister(id, sessions.keys()).catch((error) => {
        console.error(`node ${id}: deregistering failed: ${error.message}`);
        code = 1;
      });
      if ((await pool.stop()) > 0) code = 1;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await redis.close().catch(() => redis.destroy());
      console.error(
        `node ${id}: stopped (${why}) in ${(performance.now() - started).toFixed(0)} ms, ` +
          `${left} session(s) closed by the stop`,
      );
      process.exit(code);
    })();
    return stopping;
  }
  function drain() {
    if (draining || stopping !== undefined) return;
    draining = true;
    const started = performance.now();
    console.error(`node ${id}: draining ${sessions.size} session(s), at most ${options.drainTimeout} ms`);
    void heartbeat().then(() => {
      if (sessions.size === 0) return stop("drained");
      drainTimer = setTimeout(
        () => void stop(`drain timeout ${options.drainTimeout} ms`),
        options.drainTimeout,
      );
    });
    process.once("exit", () =>
      console.error(`node ${id}: drain took ${(performance.now() - started).toFixed(0)} ms`),
    );
  }
  process.on("SIGTERM", drain);
  process.on("SIGINT", () => void stop("SIGINT"));

  let url;
  try {
    await pool.ready();
    server.listen(options.httpPort, options.httpHost);
    await once(server, "listening");
    const host = options.announce.includes(":") ? `[${options.announce}]` : options.announce;
    url = `http://${host}:${server.address().port}`;
    await registry.heartbeat(view(), []);
  } catch (error) {
    console.error(`node ${id} failed to start: ${error.message}`);
    return stop("failed to start", 1);
  }
  heartbeatTimer = setInterval(heartbeat, HEARTBEAT_MS);
  if (options.printPids) {
    console.log(`pids node=${process.pid} workers=${pool.workers.map((w) => w.pid).join(",")}`);
  }
  console.log(`signaling on ${url}`);
}

const options = parseCommandLine(parseOptions, USAGE);
if (options.help) console.log(USAGE);
else await runNode(options);

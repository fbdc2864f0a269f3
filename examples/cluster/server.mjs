// A werift echo server on every core: node:cluster with N workers, each owning one UDPMux on its own port
// (basePort + i), and a primary that does the HTTP signaling and places each new session on the least-loaded
// worker. One port per worker, not SO_REUSEPORT on one port: the kernel would hash each remote address to
// some worker, which need not own the session's ufrag (see README.md).
//
//   node examples/cluster/server.mjs [--workers N] [--port BASE] [--http-port P] [--http-host ADDR]
//                                    [--host ADDR] [--announce ADDR] [--print-pids]
//
// Worker i holds a UDPMux and a TCPMux (ICE-TCP) on the same port number, BASE + i. examples/fleet forks
// this file's worker too (cluster.setupPrimary({ exec })): its IPC protocol is the contract between them.
// Signaling (as examples/echo, plus a session id): POST /offer with JSON `{ sdp }` answers
// `{ id, sdp, worker }`; POST /offer with `{ id, sdp }` renegotiates that session (an ICE restart) on the
// worker that owns it. POST /offer with an `application/sdp` body is WHIP (RFC 9725, see ../lib/whip.mjs):
// 201 Created, `Location: /offer/<id>`, the SDP answer in the body; DELETE on the Location ends the
// session. GET /stats: the primary's view of its workers. Once every worker listens, stdout
// gets exactly one line, `signaling on http://<http-host>:<port>` (after a `pids …` line with --print-pids);
// everything else goes to stderr. SIGTERM or SIGINT: every worker closes its peer connections and its mux
// and exits, then the primary exits.
import cluster from "node:cluster";
import { once } from "node:events";
import http from "node:http";
import { isIP } from "node:net";
import os from "node:os";
import { parseArgs } from "node:util";
import { TCPMux, UDPMux } from "udpmux";
import { createPeerConnectionFactory } from "udpmux/werift";
import { RTCPeerConnection } from "werift";
import { gathered, HttpError, readBody } from "../lib/signaling.mjs";
import { assertOffer, whipEndpoints } from "../lib/whip.mjs";

/** Largest offer body accepted; an offer with a few candidates is about 1 KiB. */
const MAX_OFFER_BYTES = 64 * 1024;
/** How long the primary waits for a worker's answer (a werift answer takes ~10 ms of CPU, plus a queue). */
const ANSWER_TIMEOUT_MS = 10_000;
/** Offers the primary has handed to workers and not had answered yet, over all workers. */
const MAX_PENDING_OFFERS = 256;
/** How often a worker reports its mux's stats to the primary (it also reports with each answer). */
const STATS_INTERVAL_MS = 1000;
/** How long the workers have to start (bind their mux), and to close on shutdown, before they are killed. */
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
/** With `--port 0`, how often a worker tries a free UDP port whose number is taken for TCP. */
const BIND_ATTEMPTS = 20;

const USAGE = `usage: node examples/cluster/server.mjs [options]
  --workers N     worker processes, each with its own UDPMux      (default: os.availableParallelism())
  --port BASE     worker i binds UDP and TCP port BASE + i; 0: each worker picks a free one (default: 0)
  --http-port P   signaling port; 0: any free port                                     (default: 8080)
  --http-host A   the address the signaling listens on                                 (default: 127.0.0.1)
  --host ADDR     the address every worker's muxes bind                                (default: 127.0.0.1)
  --announce A    the address the answers' candidates carry     (default: --host; its interfaces if a wildcard)
  --print-pids    print "pids primary=<pid> workers=<pid>,…" before the signaling line (for tests)`;

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      workers: { type: "string", default: String(os.availableParallelism()) },
      port: { type: "string", default: "0" },
      "http-port": { type: "string", default: "8080" },
      "http-host": { type: "string", default: "127.0.0.1" },
      host: { type: "string", default: "127.0.0.1" },
      announce: { type: "string" },
      "print-pids": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  const integer = (name, min, max) => {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new TypeError(
        `Expected \`--${name}\` to be an integer in [${min}, ${max}], got \`${values[name]}\``,
      );
    }
    return value;
  };
  const workers = integer("workers", 1, 1024);
  const port = integer("port", 0, 65535);
  if (port !== 0 && port + workers - 1 > 65535) {
    throw new TypeError(`\`--port ${port}\` leaves no room for ${workers} workers (BASE + N - 1 > 65535)`);
  }
  for (const name of ["host", "http-host", "announce"]) {
    if (values[name] !== undefined && isIP(values[name]) === 0) {
      throw new TypeError(`Expected \`--${name}\` to be an IP address, got \`${values[name]}\``);
    }
  }
  return {
    help: values.help,
    workers,
    port,
    httpPort: integer("http-port", 0, 65535),
    httpHost: values["http-host"],
    host: values.host,
    announce: values.announce,
    printPids: values["print-pids"],
  };
}

// ---------------------------------------------------------------------------------------------------------
// Worker: one UDPMux, the werift peer connections on it, and the IPC protocol with the primary.
// ---------------------------------------------------------------------------------------------------------

async function runWorker(options) {
  const index = Number(process.env.UDPMUX_CLUSTER_WORKER);
  const { mux, tcpMux } = await bindMuxes(options.host, options.port === 0 ? 0 : options.port + index);
  // The one place the worker makes werift peer connections: every one is on the muxes (max-bundle: one ICE
  // transport, one ufrag each; werift's STUN server pinned to none, where plain werift would ask its public
  // default) and is closed when it fails.
  const newPeerConnection = createPeerConnectionFactory(RTCPeerConnection, mux, {
    tcpMux,
    ...(options.announce === undefined ? {} : { announcedAddresses: [options.announce] }),
  });
  /** Session id (given by the primary) → its peer connection. */
  const sessions = new Map();
  /** Sessions being answered now; the primary's cancel (its answer timeout) takes a session out. */
  const answering = new Set();
  const closeSession = (id) => {
    const pc = sessions.get(id);
    if (pc === undefined) return;
    sessions.delete(id);
    send({ type: "closed", id });
    pc.close().catch((error) => console.error(`worker ${index}: closing ${id} failed:`, error));
  };

  const report = () => {
    const { connections } = mux.stats();
    return { connections, sessions: sessions.size };
  };
  const send = (message) => {
    if (process.connected) process.send(message);
  };

  async function answer(id, sdp) {
    let pc = sessions.get(id);
    if (pc === undefined) {
      pc = newPeerConnection();
      const created = pc;
      sessions.set(id, created);
      created.connectionStateChange.subscribe((state) => {
        if ((state === "failed" || state === "closed") && sessions.get(id) === created) closeSession(id);
      });
      created.onDataChannel.subscribe((channel) => channel.onMessage.subscribe((data) => channel.send(data)));
    }
    await pc.setRemoteDescription({ type: "offer", sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    return pc.localDescription.sdp;
  }

  let closing;
  const shutdown = (why) => {
    closing ??= (async () => {
      clearInterval(timer);
      // Bounded: a close that hangs must not keep the process (the primary would kill it later anyway).
      setTimeout(() => {
        console.error(`worker ${index}: closing took longer than ${STOP_TIMEOUT_MS} ms, exiting`);
        process.exit(1);
      }, STOP_TIMEOUT_MS).unref();
      let code = 0;
      const results = await Promise.allSettled([...sessions.values()].map((pc) => pc.close()));
      for (const r of results) {
        if (r.status === "rejected") {
          console.error(`worker ${index}: closing a peer connection failed:`, r.reason);
          code = 1;
        }
      }
      sessions.clear();
      await mux.close(); // closes anything still attached as well
      await tcpMux.close();
      if (why !== "shutdown") console.error(`worker ${index}: stopped (${why})`);
      process.exit(code);
    })();
  };

  process.on("message", (message) => {
    if (message?.type === "offer") {
      const { request, id, sdp } = message;
      if (closing !== undefined)
        return send({ type: "failed", request, status: 503, error: "shutting down" });
      if (message.renegotiate && !sessions.has(id)) {
        return send({ type: "failed", request, status: 404, error: `no session ${id} on this worker` });
      }
      answering.add(id);
      answer(id, sdp).then(
        (answerSdp) => {
          if (!answering.delete(id)) return; // cancelled: nobody waits for this answer any more
          send({ type: "answer", request, sdp: answerSdp, stats: report() });
        },
        (error) => {
          if (!answering.delete(id)) return;
          console.error(`worker ${index}: answering ${id} failed:`, error);
          if (!message.renegotiate) closeSession(id);
          send({ type: "failed", request, status: 500, error: String(error?.message ?? error) });
        },
      );
    } else if (message?.type === "trickle") {
      // Trickled remote candidates (WHIP PATCH, examples/fleet): added to the session's peer connection.
      const { request, id, mid, candidates } = message;
      const pc = sessions.get(id);
      if (pc === undefined) return send({ type: "failed", request, status: 404, error: `no session ${id}` });
      (async () => {
        for (const candidate of candidates)
          await pc.addIceCandidate({ candidate, sdpMid: mid, sdpMLineIndex: 0 });
      })().then(
        () => send({ type: "trickled", request }),
        (error) => send({ type: "failed", request, status: 400, error: String(error?.message ?? error) }),
      );
    } else if (message?.type === "cancel" || message?.type === "close") {
      // cancel: the primary answered the client with a timeout, this session will never be used.
      // close: a WHIP client DELETEd it.
      answering.delete(message.id);
      closeSession(message.id);
    } else if (message?.type === "shutdown") {
      shutdown("shutdown");
    }
  });
  // Ctrl-C reaches every process of the group. (A worker whose primary died exits at once: node:cluster
  // exits a worker when its IPC channel closes, and the kernel closes its socket.)
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));

  const timer = setInterval(() => send({ type: "stats", stats: report() }), STATS_INTERVAL_MS);
  send({ type: "listening", port: mux.getListenAddresses()[0].port, pid: process.pid });
}

/**
 * A UDPMux and a TCPMux on the same port number: `port`, or with 0 a free UDP port whose number is free
 * for TCP too (tried again on another when it is not).
 */
async function bindMuxes(address, port) {
  for (let attempt = 1; ; attempt++) {
    const mux = await UDPMux.bind({ address, port });
    try {
      return { mux, tcpMux: await TCPMux.listen({ address, port: mux.getListenAddresses()[0].port }) };
    } catch (error) {
      await mux.close();
      if (port !== 0 || error?.code !== "EADDRINUSE" || attempt >= BIND_ATTEMPTS) throw error;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Primary: the workers, least-loaded placement, HTTP signaling (on 127.0.0.1 unless --http-host).
// ---------------------------------------------------------------------------------------------------------

async function runPrimary(options) {
  /** Per worker index: its process, UDP port, last reported stats and the offers it has not answered. */
  const workers = [];
  /** request number → { worker, resolve, reject, timer } */
  const pending = new Map();
  let nextRequest = 0;
  let nextSession = 0;
  let stopping = false;

  for (let index = 0; index < options.workers; index++) {
    const worker = cluster.fork({ UDPMUX_CLUSTER_WORKER: String(index) });
    const state = {
      index,
      worker,
      pid: worker.process.pid,
      port: undefined,
      alive: true,
      connections: 0,
      sessions: 0,
      inFlight: 0,
      placed: 0,
    };
    workers.push(state);
    worker.on("message", (message) => onWorkerMessage(state, message));
    // A send to a worker that just died fails here (the offer's own callback answers its request).
    worker.on("error", (error) => console.error(`worker ${index}: ${error.message}`));
    worker.on("exit", (code, signal) => {
      state.alive = false;
      for (const [request, p] of pending) {
        if (p.worker === state) settle(request, new HttpError(502, `worker ${index} exited`));
      }
      if (!stopping) {
        // Its sessions are gone with it; a production server would fork a replacement on the same port.
        console.error(`worker ${index} (pid ${state.pid}) exited unexpectedly (${signal ?? code})`);
        if (workers.every((w) => !w.alive)) void stop(1);
      }
    });
  }

  function settle(request, error, value) {
    const p = pending.get(request);
    if (p === undefined) return;
    pending.delete(request);
    clearTimeout(p.timer);
    p.worker.inFlight--;
    if (error === undefined) p.resolve(value);
    else p.reject(error);
  }

  function onWorkerMessage(state, message) {
    switch (message?.type) {
      case "listening":
        state.port = message.port;
        state.onListening?.();
        break;
      case "stats":
        state.connections = message.stats.connections;
        state.sessions = message.stats.sessions;
        break;
      case "answer":
        state.connections = message.stats.connections;
        state.sessions = message.stats.sessions;
        settle(message.request, undefined, message.sdp);
        break;
      case "failed":
        settle(message.request, new HttpError(message.status, message.error));
        break;
      case "closed":
        whip.forget(message.id);
        break;
      default:
        console.error(`worker ${state.index}: unexpected message`, message);
    }
  }

  /**
   * The least-loaded live worker: its mux's connections as last reported, plus the offers it was given and
   * has not answered yet (a report can't count those). Ties go to the lower index.
   */
  function leastLoaded() {
    let best;
    for (const w of workers) {
      if (!w.alive || w.port === undefined) continue;
      if (best === undefined || w.connections + w.inFlight < best.connections + best.inFlight) best = w;
    }
    return best;
  }

  function offer(worker, id, sdp, renegotiate) {
    if (pending.size >= MAX_PENDING_OFFERS) {
      return Promise.reject(new HttpError(503, `${MAX_PENDING_OFFERS} offers are being answered already`));
    }
    const request = nextRequest++;
    worker.inFlight++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        settle(
          request,
          new HttpError(504, `worker ${worker.index} did not answer in ${ANSWER_TIMEOUT_MS} ms`),
        );
        if (!renegotiate && worker.alive) worker.worker.send({ type: "cancel", id });
      }, ANSWER_TIMEOUT_MS);
      pending.set(request, { worker, resolve, reject, timer });
      worker.worker.send({ type: "offer", request, id, sdp, renegotiate }, (error) => {
        if (error) settle(request, new HttpError(502, `worker ${worker.index}: ${error.message}`));
      });
    });
  }

  async function handleOffer(req) {
    let body;
    try {
      body = JSON.parse(await readBody(req, MAX_OFFER_BYTES));
    } catch (error) {
      if (error instanceof HttpError) throw error;
      throw new HttpError(400, "the body must be JSON: { sdp } or { id, sdp }");
    }
    if (typeof body?.sdp !== "string") {
      throw new HttpError(400, "the body must be JSON: { sdp } or { id, sdp }, an SDP offer (v=0 …)");
    }
    assertOffer(body.sdp);
    if (body.id !== undefined) {
      // A renegotiation (ICE restart) goes to the worker that owns the session: only its mux knows the ufrag.
      const match = /^(\d+)\.\d+$/.exec(String(body.id));
      const worker = match && workers[Number(match[1])];
      if (!worker?.alive) throw new HttpError(404, `no session ${body.id}`);
      return { id: body.id, sdp: await offer(worker, body.id, body.sdp, true), worker: worker.index };
    }
    return place(body.sdp);
  }

  /** A new session on the least-loaded worker. */
  async function place(sdp) {
    const worker = leastLoaded();
    if (worker === undefined) throw new HttpError(503, "no worker is running");
    const id = `${worker.index}.${nextSession++}`;
    const answer = await offer(worker, id, sdp, false);
    worker.placed++;
    return { id, sdp: answer, worker };
  }

  // WHIP on the same path: an application/sdp offer → 201, Location /offer/<id>, the answer. The answer
  // carries every candidate (no trickle: PATCH is a 405); DELETE closes the session on its worker.
  const whip = whipEndpoints({
    trickle: false,
    endpoints: {
      "/offer": async (sdp) => {
        const { id, sdp: answer, worker } = await place(sdp);
        return {
          id,
          answer,
          close() {
            if (worker.alive) worker.worker.send({ type: "close", id });
          },
        };
      },
    },
  });
  const isJson = (req) => !/^application\/sdp\s*(;|$)/i.test(req.headers["content-type"] ?? "");

  const server = http.createServer(async (req, res) => {
    try {
      if (stopping) throw new HttpError(503, "shutting down");
      if (req.method === "POST" && req.url === "/offer" && isJson(req)) {
        const { id, sdp, worker } = await handleOffer(req);
        const answer = { id, sdp, worker: typeof worker === "number" ? worker : worker.index };
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
      } else if (await whip.handle(req, res)) {
        // WHIP: answered
      } else if (req.method === "GET" && req.url === "/stats") {
        const view = workers.map(({ index, pid, port, alive, connections, sessions, inFlight, placed }) => ({
          index,
          pid,
          port,
          alive,
          connections,
          sessions,
          inFlight,
          placed,
        }));
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ workers: view }));
      } else {
        throw new HttpError(404, "not found");
      }
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 500;
      if (status >= 500) console.error("signaling failed:", error.message);
      if (!res.headersSent) res.writeHead(status, { "content-type": "text/plain" });
      res.end(String(error.message ?? error));
    }
  });
  server.requestTimeout = ANSWER_TIMEOUT_MS + 5_000;

  let stopped;
  function stop(code) {
    stopped ??= (async () => {
      stopping = true;
      server.close();
      server.closeAllConnections();
      for (const request of [...pending.keys()]) settle(request, new HttpError(503, "shutting down"));
      const exits = workers
        .filter((w) => w.alive)
        .map((w) => {
          const exited = once(w.worker, "exit");
          w.worker.send({ type: "shutdown" }, (error) => {
            if (error) console.error(`worker ${w.index}: shutdown not delivered:`, error.message);
          });
          return exited;
        });
      const timer = setTimeout(() => {
        for (const w of workers) {
          if (!w.alive) continue;
          console.error(`worker ${w.index} (pid ${w.pid}) did not exit in ${STOP_TIMEOUT_MS} ms: killing it`);
          code = 1;
          w.worker.process.kill("SIGKILL");
        }
      }, STOP_TIMEOUT_MS);
      await Promise.all(exits);
      clearTimeout(timer);
      process.exit(code);
    })();
    return stopped;
  }
  process.on("SIGTERM", () => void stop(0));
  process.on("SIGINT", () => void stop(0));

  // Every worker listening (or the start fails as a whole: a port in use, a bad --host).
  const listening = Promise.all(
    workers.map(
      (w) =>
        new Promise((resolve, reject) => {
          w.onListening = resolve;
          w.worker.once("exit", () => {
            // once stopping (the start timed out), the race below has reported already
            if (!stopping) reject(new Error(`worker ${w.index} exited before it listened`));
          });
        }),
    ),
  );
  let startTimer;
  const startTimeout = new Promise((_, reject) => {
    startTimer = setTimeout(
      () => reject(new Error(`the workers did not all listen within ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([listening, startTimeout]);
    server.listen(options.httpPort, options.httpHost);
    await once(server, "listening");
  } catch (error) {
    console.error(`cluster failed to start: ${error.message}`);
    return stop(1);
  } finally {
    clearTimeout(startTimer);
  }
  if (options.printPids) {
    console.log(`pids primary=${process.pid} workers=${workers.map((w) => w.pid).join(",")}`);
  }
  const host = options.httpHost.includes(":") ? `[${options.httpHost}]` : options.httpHost;
  console.log(`signaling on http://${host}:${server.address().port}`);
}

// ---------------------------------------------------------------------------------------------------------

let options;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  console.error(`${error.message}\n${USAGE}`);
  process.exit(2);
}
if (options.help) {
  console.log(USAGE);
} else if (cluster.isPrimary) {
  await runPrimary(options);
} else {
  await runWorker(options).catch((error) => {
    console.error(`worker ${process.env.UDPMUX_CLUSTER_WORKER}: failed to start:`, error);
    process.exit(1);
  });
}

// A werift echo server on every core: node:cluster with N workers, each owning one UDPMux on its own port
// (basePort + i), and a primary that does the HTTP signaling and places each new session on the least-loaded
// worker. One port per worker, not SO_REUSEPORT on one port: the kernel would hash each remote address to
// some worker, which need not own the session's ufrag (see README.md).
//
//   node examples/cluster/server.mjs [--workers N] [--port BASE] [--http-port P] [--http-host ADDR]
//                                    [--host ADDR] [--announce ADDR] [--print-pids]
//
// Worker i holds a UDPMux and a TCPMux (ICE-TCP) on the same port number, BASE + i. ./workers.mjs is the
// primary's side of the workers' IPC protocol; examples/fleet forks this file's worker through it too.
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
import os from "node:os";
import { TCPMux, UDPMux } from "udpmux";
import { createPeerConnectionFactory } from "udpmux/werift";
import { RTCPeerConnection } from "werift";
import { checkIpOptions, integerOption, optionValues, parseCommandLine } from "../lib/options.mjs";
import { gathered, HttpError, readBody } from "../lib/signaling.mjs";
import { assertOffer, whipEndpoints } from "../lib/whip.mjs";
import { REQUEST_TIMEOUT_MS, STOP_TIMEOUT_MS, startWorkers } from "./workers.mjs";

/** Largest offer body accepted; an offer with a few candidates is about 1 KiB. */
const MAX_OFFER_BYTES = 64 * 1024;
/** How often a worker reports its mux's stats to the primary (it also reports with each answer). */
const STATS_INTERVAL_MS = 1000;
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
  const values = optionValues(argv, {
    workers: { type: "string", default: String(os.availableParallelism()) },
    port: { type: "string", default: "0" },
    "http-port": { type: "string", default: "8080" },
    "http-host": { type: "string", default: "127.0.0.1" },
    host: { type: "string", default: "127.0.0.1" },
    announce: { type: "string" },
    "print-pids": { type: "boolean", default: false },
  });
  const integer = (name, min, max) => integerOption(values, name, min, max);
  const workers = integer("workers", 1, 1024);
  const port = integer("port", 0, 65535);
  if (port !== 0 && port + workers - 1 > 65535) {
    throw new TypeError(`\`--port ${port}\` leaves no room for ${workers} workers (BASE + N - 1 > 65535)`);
  }
  checkIpOptions(values, ["host", "http-host", "announce"]);
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
  let nextSession = 0;
  let stopping = false;
  /** Per worker index: the sessions placed on it (for GET /stats). */
  const placed = new Array(options.workers).fill(0);
  const pool = startWorkers({
    count: options.workers,
    host: options.host,
    port: options.port,
    announce: options.announce,
    // Its sessions are gone with it; examples/fleet replaces a worker that died on the same port.
    replace: false,
    onSessionClosed: (id) => whip.forget(id),
    onWorkerLost() {
      if (pool.workers.every((w) => !w.alive)) void stop(1);
    },
  });

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
      const worker = match && pool.workers[Number(match[1])];
      if (!worker?.alive) throw new HttpError(404, `no session ${body.id}`);
      return {
        id: body.id,
        sdp: await pool.offer(worker.index, body.id, body.sdp, true),
        worker: worker.index,
      };
    }
    return place(body.sdp);
  }

  /**
   * A new session on the least-loaded worker: its mux's connections as last reported, plus the offers it was
   * given and has not answered yet (a report can't count those). Ties go to the lower index.
   */
  async function place(sdp) {
    const worker = pool.leastLoaded();
    if (worker === undefined) throw new HttpError(503, "no worker is running");
    const id = `${worker}.${nextSession++}`;
    const answer = await pool.offer(worker, id, sdp);
    placed[worker]++;
    return { id, sdp: answer, worker };
  }

  // WHIP on the same path: an application/sdp offer → 201, Location /offer/<id>, the answer. The answer
  // carries every candidate (no trickle: PATCH is a 405); DELETE closes the session on its worker.
  const whip = whipEndpoints({
    trickle: false,
    endpoints: {
      "/offer": async (sdp) => {
        const { id, sdp: answer, worker } = await place(sdp);
        return { id, answer, close: () => pool.close(worker, id) };
      },
    },
  });
  const isJson = (req) => !/^application\/sdp\s*(;|$)/i.test(req.headers["content-type"] ?? "");

  const server = http.createServer(async (req, res) => {
    try {
      if (stopping) throw new HttpError(503, "shutting down");
      if (req.method === "POST" && req.url === "/offer" && isJson(req)) {
        const answer = await handleOffer(req);
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
      } else if (await whip.handle(req, res)) {
        // WHIP: answered
      } else if (req.method === "GET" && req.url === "/stats") {
        const view = pool.workers.map(({ index, pid, port, alive, connections, sessions, inFlight }) => ({
          index,
          pid,
          port,
          alive,
          connections,
          sessions,
          inFlight,
          placed: placed[index],
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
  server.requestTimeout = REQUEST_TIMEOUT_MS + 5_000;

  let stopped;
  function stop(code) {
    stopped ??= (async () => {
      stopping = true;
      server.close();
      server.closeAllConnections();
      if ((await pool.stop()) > 0) code = 1;
      process.exit(code);
    })();
    return stopped;
  }
  process.on("SIGTERM", () => void stop(0));
  process.on("SIGINT", () => void stop(0));

  // Every worker listening (or the start fails as a whole: a port in use, a bad --host).
  try {
    await pool.ready();
    server.listen(options.httpPort, options.httpHost);
    await once(server, "listening");
  } catch (error) {
    console.error(`cluster failed to start: ${error.message}`);
    return stop(1);
  }
  if (options.printPids) {
    console.log(`pids primary=${process.pid} workers=${pool.workers.map((w) => w.pid).join(",")}`);
  }
  const host = options.httpHost.includes(":") ? `[${options.httpHost}]` : options.httpHost;
  console.log(`signaling on http://${host}:${server.address().port}`);
}

// ---------------------------------------------------------------------------------------------------------

const options = parseCommandLine(parseOptions, USAGE);
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

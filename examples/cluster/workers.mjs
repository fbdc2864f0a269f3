// The primary's side of the workers' IPC protocol (the workers' side is runWorker in ./server.mjs): forks
// the cluster's workers (one UDPMux and one TCPMux each on BASE + i, werift peer connections on them) with
// node:cluster, asks them to answer offers, take trickled candidates and close sessions, and stops them.
// With `replace`, a worker that dies is replaced on the same port. Used by ./server.mjs's primary and by
// every node of examples/fleet.
import cluster from "node:cluster";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { HttpError } from "../lib/signaling.mjs";

const WORKER = fileURLToPath(new URL("./server.mjs", import.meta.url));

/** How long a worker has to answer an offer or take candidates (a werift answer is ~10 ms of CPU, plus a queue). */
export const REQUEST_TIMEOUT_MS = 10_000;
/** Requests waiting for a worker, over all workers. */
const MAX_PENDING = 256;
/** How long the workers have to start (bind their muxes), and to close on shutdown, before they are killed. */
export const START_TIMEOUT_MS = 15_000;
export const STOP_TIMEOUT_MS = 10_000;
/** A worker that keeps dying is not replaced forever: at most this many replacements per RESTART_WINDOW_MS. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;

/**
 * Forks `count` workers binding `host` on `port + i` (each a free port with 0), announcing `announce` (their
 * interfaces when undefined). `onSessionClosed(id)` runs when a worker's session ended on its own or by
 * `close`; `onWorkerLost(index)` when a worker died (its sessions with it), before it is replaced (with
 * `replace`) or for good; `onReplaced(index)` once its replacement listens.
 * @param {{ count: number, host: string, port: number, announce?: string, replace?: boolean,
 *   onSessionClosed(id: string): void, onWorkerLost?(index: number): void, onReplaced?(index: number): void }} options
 */
export function startWorkers({
  count,
  host,
  port,
  announce,
  replace = true,
  onSessionClosed,
  onWorkerLost = () => {},
  onReplaced = () => {},
}) {
  cluster.setupPrimary({
    exec: WORKER,
    args: [
      "--workers",
      String(count),
      "--port",
      String(port),
      "--host",
      host,
      ...(announce === undefined ? [] : ["--announce", announce]),
    ],
  });
  /** @type {{ index: number, worker: import("node:cluster").Worker, pid: number, port?: number, alive: boolean,
   *   listening: boolean, connections: number, sessions: number, inFlight: number, replaced: number }[]} */
  const workers = [];
  /** request number → { state, resolve, reject, timer } */
  const pending = new Map();
  let nextRequest = 0;
  let stopping = false;
  const restarts = [];

  function settle(request, error, value) {
    const p = pending.get(request);
    if (p === undefined) return;
    pending.delete(request);
    clearTimeout(p.timer);
    p.state.inFlight--;
    if (error === undefined) p.resolve(value);
    else p.reject(error);
  }

  function fork(index, replaced = 0) {
    const worker = cluster.fork({ UDPMUX_CLUSTER_WORKER: String(index) });
    const state = {
      index,
      worker,
      pid: worker.process.pid,
      port: undefined,
      alive: true,
      listening: false,
      connections: 0,
      sessions: 0,
      inFlight: 0,
      replaced,
    };
    workers[index] = state;
    state.ready = new Promise((resolve, reject) => {
      state.onListening = resolve;
      worker.once("exit", (code, signal) => reject(new Error(`worker ${index} exited (${signal ?? code})`)));
    });
    state.ready.catch(() => {}); // observed by `ready()`; a replacement's failure is logged on exit
    worker.on("message", (message) => onMessage(state, message));
    worker.on("error", (error) => console.error(`worker ${index}: ${error.message}`));
    worker.on("exit", (code, signal) => {
      state.alive = false;
      for (const [request, p] of pending) {
        if (p.state === state) settle(request, new HttpError(502, `worker ${index} exited`));
      }
      if (stopping) return;
      console.error(`worker ${index} (pid ${state.pid}) exited unexpectedly (${signal ?? code})`);
      onWorkerLost(index);
      if (!replace) return;
      const now = performance.now();
      while (restarts.length > 0 && now - restarts[0] > RESTART_WINDOW_MS) restarts.shift();
      if (restarts.length >= MAX_RESTARTS) {
        console.error(
          `worker ${index}: ${MAX_RESTARTS} replacements within ${RESTART_WINDOW_MS} ms, not replaced`,
        );
        return;
      }
      restarts.push(now);
      const next = fork(index, replaced + 1);
      next.ready.then(
        () => onReplaced(index),
        (error) => console.error(`worker ${index}: the replacement failed: ${error.message}`),
      );
    });
    return state;
  }

  function onMessage(state, message) {
    switch (message?.type) {
      case "listening":
        state.port = message.port;
        state.listening = true;
        state.onListening();
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
      case "trickled":
        settle(message.request, undefined);
        break;
      case "failed":
        settle(message.request, new HttpError(message.status, message.error));
        break;
      case "closed":
        onSessionClosed(message.id);
        break;
      default:
        console.error(`worker ${state.index}: unexpected message`, message);
    }
  }

  /** Sends `message` (with a request number) to worker `index`, resolves with its reply. */
  function request(index, message, onTimeout) {
    const state = workers[index];
    if (state === undefined || !state.alive || !state.listening) {
      return Promise.reject(new HttpError(503, `worker ${index} is not running`));
    }
    if (pending.size >= MAX_PENDING) {
      return Promise.reject(new HttpError(503, `${MAX_PENDING} requests are being answered already`));
    }
    const number = nextRequest++;
    state.inFlight++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        settle(number, new HttpError(504, `worker ${index} did not answer in ${REQUEST_TIMEOUT_MS} ms`));
        onTimeout?.();
      }, REQUEST_TIMEOUT_MS);
      pending.set(number, { state, resolve, reject, timer });
      state.worker.send({ ...message, request: number }, (error) => {
        if (error) settle(number, new HttpError(502, `worker ${index}: ${error.message}`));
      });
    });
  }

  function send(index, message) {
    const state = workers[index];
    if (state?.alive) state.worker.send(message, () => {}); // a worker that just died: its exit handles it
  }

  for (let index = 0; index < count; index++) fork(index);

  return {
    workers,
    /** Resolves once every worker listens; rejects when one exits first or START_TIMEOUT_MS passes. */
    async ready() {
      let timer;
      try {
        await Promise.race([
          Promise.all(workers.map((w) => w.ready)),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`the workers did not all listen within ${START_TIMEOUT_MS} ms`)),
              START_TIMEOUT_MS,
            );
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
    /** The least-loaded live worker of this node (for a session pinned to a worker that just died). */
    leastLoaded() {
      let best;
      for (const w of workers) {
        if (!w.alive || !w.listening) continue;
        if (best === undefined || w.connections + w.inFlight < best.connections + best.inFlight) best = w;
      }
      return best?.index;
    },
    /** Answers `sdp` for session `id` on worker `index` (a new session, or with `renegotiate` an ICE restart). */
    offer(index, id, sdp, renegotiate = false) {
      return request(index, { type: "offer", id, sdp, renegotiate }, () => {
        if (!renegotiate) send(index, { type: "cancel", id });
      });
    },
    trickle(index, id, mid, candidates) {
      return request(index, { type: "trickle", id, mid, candidates });
    },
    close(index, id) {
      send(index, { type: "close", id });
    },
    /** Every worker closes its peer connections and muxes and exits; killed after STOP_TIMEOUT_MS. */
    async stop() {
      stopping = true;
      for (const request of [...pending.keys()]) settle(request, new HttpError(503, "shutting down"));
      const live = workers.filter((w) => w.alive);
      const exits = live.map((w) => {
        const exited = once(w.worker, "exit");
        send(w.index, { type: "shutdown" });
        return exited;
      });
      let killed = 0;
      const timer = setTimeout(() => {
        for (const w of live) {
          if (!w.alive) continue;
          console.error(`worker ${w.index} (pid ${w.pid}) did not exit in ${STOP_TIMEOUT_MS} ms: killing it`);
          killed++;
          w.worker.process.kill("SIGKILL");
        }
      }, STOP_TIMEOUT_MS);
      await Promise.all(exits);
      clearTimeout(timer);
      return killed;
    },
  };
}

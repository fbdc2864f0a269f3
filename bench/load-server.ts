/**
 * One round of the load bench, run as a child process (`node load-server.js <variant> <clients>
 * <timeoutMs> <rate>`): the werift RTCPeerConnection server, alone on this event loop. It forks the clients
 * (load-clients.js) and the junk flood (flood.js), starts the flood, then has every client open a data
 * channel at once, answering each offer with a new server peer connection:
 * - `mux`: attached to one `UDPMux.bind({ address: "127.0.0.1" })` with the default options (kernel drops refreshed every 50 ms, as the sampler reads them);
 * - `mux-os-buffer`: the same with the OS default receive buffer, as the mux had before issue 9;
 * - `own`: on werift's own sockets (loopback host candidates, STUN off); the junk goes to a bare socket of
 *   this process with the mux's buffer (the same receive work on this loop as the mux does, none of it
 *   in the peer connections' sockets);
 * - `own-flooded`: the same, the junk spread over the server peer connections' host ports in turn, each
 *   added as its answer is made.
 * Prints one JSON line: each client's open time, the kernel's drops at the server's peer-connection
 * socket(s), the junk actually sent, and this event loop's delay.
 */
import { type ChildProcess, fork } from "node:child_process";
import { once } from "node:events";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { RTCPeerConnection } from "werift";
import { UDPMux } from "../src/index.js";
import { DEFAULT_RECV_BUFFER_SIZE } from "../src/recv-buffer.js";
import { attachUDPMux } from "../src/werift/index.js";
import { kernelUdpDrops, osDefaultRecvBuffer, udpSockets } from "./lib/kernel-drops.js";
import type { FromClients, FromFlooder, LoadVariant, ToClients, ToFlooder } from "./lib/load-protocol.js";
import { LOAD_VARIANTS } from "./lib/load-protocol.js";
import { bindLoopback, closeSocket } from "./lib/socket.js";
import { gathered, hostPorts, loopbackPeerConnection } from "./lib/werift.js";

/** How long the flood may outlast the clients' timeout (it is stopped as soon as they are done). */
const FLOOD_SLACK_MS = 3000;
/** How often the server's sockets are looked at in /proc while the clients connect. */
const SAMPLE_MS = 50;
/** How long closing every peer connection may take before the round ends anyway. */
const CLOSE_TIMEOUT_MS = 3000;

export interface LoadRun {
  variant: LoadVariant;
  clients: number;
  /** Per client: createOffer → channel `open` on the client, ms; null: not open within the timeout. */
  openMs: (number | null)[];
  /** The server's receive buffer as the kernel reports it (SO_RCVBUF, the doubled value on Linux). */
  recvBufferBytes: number | undefined;
  /** Datagrams the kernel dropped at the server's socket(s) during the round; undefined without /proc. */
  kernelDrops: number | undefined;
  /** Datagrams the mux dropped itself (the junk that reached it), or undefined for own sockets. */
  muxDropped: number | undefined;
  /** The fullest the server's (fullest) socket's receive queue was seen, sampled every 50 ms (bytes). */
  peakRxQueueBytes: number | undefined;
  /** `own`: kernel drops at the socket that took the junk (it must read what the mux reads). */
  junkSinkDrops: number | undefined;
  /** When the first kernel drop was seen, ms after the clients started; null: none seen. */
  firstDropMs: number | null;
  junkSent: number;
  junkPerSecond: number;
  /** This (server) event loop's delay while the clients connected: p99 and max, ms. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

function forkChild<From extends { type: string }>(
  file: string,
): { child: ChildProcess; next: () => Promise<From> } {
  const child = fork(new URL(file, import.meta.url), { stdio: "inherit" });
  const queue: From[] = [];
  const waiting: ((m: From) => void)[] = [];
  child.on("message", (m: From) => (waiting.length > 0 ? waiting.shift()!(m) : queue.push(m)));
  return {
    child,
    next: () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((r) => waiting.push(r))),
  };
}

async function expectMessage<From extends { type: string }, T extends From["type"]>(
  next: () => Promise<From>,
  type: T,
): Promise<Extract<From, { type: T }>> {
  const m = await next();
  if (m.type !== type) throw new Error(`expected ${type}, got ${m.type}`);
  return m as Extract<From, { type: T }>;
}

async function bindMux(variant: LoadVariant): Promise<UDPMux | undefined> {
  if (variant === "mux") return UDPMux.bind({ address: "127.0.0.1", kernelDropsIntervalMs: SAMPLE_MS });
  if (variant === "mux-os-buffer") {
    // Linux doubles what SO_RCVBUF asks for (bookkeeping overhead), so asking half of rmem_default
    // gives the buffer a socket got by default before issue 9.
    const osDefault = osDefaultRecvBuffer();
    if (osDefault === undefined) throw new Error("no /proc/sys/net/core/rmem_default: not Linux?");
    return UDPMux.bind({
      address: "127.0.0.1",
      recvBufferSize: osDefault / 2,
      kernelDropsIntervalMs: SAMPLE_MS,
    });
  }
  return undefined;
}

function exited(child: ChildProcess): Promise<unknown> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return once(child, "exit");
}

async function withTimeout(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

async function main(): Promise<void> {
  const variant = process.argv[2] as LoadVariant;
  const clients = Number(process.argv[3]);
  const timeoutMs = Number(process.argv[4]);
  const rate = Number(process.argv[5]);
  if (
    !LOAD_VARIANTS.includes(variant) ||
    !(Number.isInteger(clients) && clients > 0 && clients <= 200) ||
    !(timeoutMs > 0 && timeoutMs <= 20_000) ||
    !(rate >= 0 && rate <= 100_000)
  ) {
    throw new TypeError(
      `usage: load-server.js <${LOAD_VARIANTS.join("|")}> <clients ≤ 200> <timeoutMs ≤ 20000> <rate ≤ 100000>, got ${process.argv.slice(2)}`,
    );
  }
  const mux = await bindMux(variant);
  const muxPort = mux === undefined ? undefined : mux.getListenAddresses()[0]!.port;
  // `own`: the junk's sink, read as the mux reads it (a 'message' listener, the mux's default buffer).
  const sink = variant === "own" ? await bindLoopback() : undefined;
  sink?.setRecvBufferSize(DEFAULT_RECV_BUFFER_SIZE);
  sink?.on("message", () => {});
  const servers: RTCPeerConnection[] = [];
  const serverPorts: number[] = [];
  const flooder = forkChild<FromFlooder>("./flood.js");
  const peers = forkChild<FromClients>("./load-clients.js");
  const toFlooder = (m: ToFlooder) => flooder.child.send(m);
  const toClients = (m: ToClients) => peers.child.send(m);
  let floodStopped = false;
  try {
    await Promise.all([expectMessage(flooder.next, "ready"), expectMessage(peers.next, "ready")]);

    async function answer(id: number, offer: string): Promise<void> {
      const pc =
        mux === undefined
          ? loopbackPeerConnection()
          : attachUDPMux(new RTCPeerConnection({ bundlePolicy: "max-bundle" }), mux);
      servers.push(pc);
      await pc.setRemoteDescription({ type: "offer", sdp: offer });
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered(pc);
      const sdp = pc.localDescription!.sdp;
      const ports = hostPorts(sdp);
      if (mux !== undefined && (ports.length !== 1 || ports[0] !== muxPort)) {
        throw new Error(`a muxed server answered with host ports ${ports}, not the mux's ${muxPort}`);
      }
      if (mux === undefined) serverPorts.push(...ports);
      if (variant === "own-flooded") toFlooder({ type: "targets", ports: [...serverPorts] });
      toClients({ type: "answer", id, sdp });
    }

    // The mux counts its own socket's kernel drops from its start (refreshed every 50 ms here, as the
    // sampler reads them); own sockets are read from /proc.
    const kernelDrops = () => (mux === undefined ? kernelUdpDrops(serverPorts) : mux.stats().kernelDrops);
    toFlooder({
      type: "start",
      ports: mux !== undefined ? [muxPort!] : sink !== undefined ? [sink.address().port] : [],
      rate,
      ms: timeoutMs + FLOOD_SLACK_MS,
    });
    await expectMessage(flooder.next, "started");
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    const ports = mux === undefined ? serverPorts : [muxPort!];
    const go = performance.now();
    let peakRxQueueBytes: number | undefined;
    let firstDropMs: number | null = null;
    const sample = () => {
      const queue = udpSockets(ports)?.maxRxQueue;
      if (queue !== undefined) peakRxQueueBytes = Math.max(peakRxQueueBytes ?? 0, queue);
      if (firstDropMs === null && (kernelDrops() ?? 0) > 0) firstDropMs = performance.now() - go;
    };
    const sampler = setInterval(sample, SAMPLE_MS);
    toClients({ type: "go", count: clients, timeoutMs });
    let openMs: (number | null)[] | undefined;
    while (openMs === undefined) {
      const m = await peers.next();
      if (m.type === "offer") {
        answer(m.id, m.sdp).catch((err) => {
          console.error("load server: answering failed:", err);
          process.exit(1);
        });
      } else if (m.type === "done") {
        openMs = m.openMs;
      } else {
        throw new Error(`load clients: unexpected ${m.type}`);
      }
    }
    loop.disable();
    clearInterval(sampler);
    sample();
    toFlooder({ type: "stop" });
    floodStopped = true;
    const flood = await expectMessage(flooder.next, "stopped");
    await mux?.refreshKernelDrops(); // stats() reads a cache refreshed every second: read the final count now
    const result: LoadRun = {
      variant,
      clients,
      openMs,
      recvBufferBytes: mux === undefined ? osDefaultRecvBuffer() : mux.stats().recvBufferSize,
      kernelDrops: kernelDrops(),
      muxDropped: mux?.stats().dropped,
      peakRxQueueBytes,
      firstDropMs,
      junkSinkDrops: sink === undefined ? undefined : kernelUdpDrops([sink.address().port]),
      junkSent: flood.sent,
      junkPerSecond: flood.seconds > 0 ? flood.sent / flood.seconds : 0,
      loopDelayP99Ms: loop.percentile(99) / 1e6,
      loopDelayMaxMs: loop.max / 1e6,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    if (peers.child.connected) toClients({ type: "exit" });
    if (!floodStopped && flooder.child.connected) toFlooder({ type: "stop" });
    await withTimeout(
      Promise.all([
        exited(peers.child),
        exited(flooder.child),
        ...servers.map((pc) => pc.close()),
        mux?.close(),
        sink === undefined ? undefined : closeSocket(sink),
      ]),
      CLOSE_TIMEOUT_MS,
    );
    peers.child.kill();
    flooder.child.kill();
  }
}

main().then(
  () => process.exit(),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

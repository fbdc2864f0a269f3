/**
 * Frames per second through a `TCPMux` against a bare `net.Socket` that deframes RFC 4571 itself (the same
 * `FrameReader`, a handler counting frames), the same frames from the same sender child process
 * (tcp-sender.ts: one connection, whole frames in ~64 KiB writes). The mux's receiver is a conn in push mode
 * (`'message'`), routed by the connection's first frame, a Binding Request. Timed from the first payload
 * frame to the last: wall time (frames/s) and this process's CPU (user + system) per frame. Rounds
 * alternate bare/mux after a warm-up of each; medians.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { TCPMux } from "../src/index.js";
import { FrameReader } from "../src/tcp/framing.js";
import { cpuNs, median } from "./lib/stats.js";

export interface TcpFramesMeasure {
  framesPerSecond: number;
  cpuNsPerFrame: number;
}

export interface TcpFramesPoint {
  frameBytes: number;
  frames: number;
  bare: TcpFramesMeasure;
  mux: TcpFramesMeasure;
}

const UFRAG = "benchtcp";
const TIMEOUT_MS = 60_000;

/** Counts payload frames and times them (first → last) in wall and CPU time. */
class Meter {
  n = 0;
  #t0 = 0;
  #cpu: NodeJS.CpuUsage | undefined;
  #done: () => void = () => {};
  readonly done: Promise<TcpFramesMeasure>;

  constructor(readonly expected: number) {
    this.done = new Promise<void>((resolve) => {
      this.#done = resolve;
    }).then(() => this.#result);
  }

  #result!: TcpFramesMeasure;

  readonly frame = (data: Buffer): void => {
    if (data[0] !== 0x80) return; // the mux's first frame, the check
    if (this.n++ === 0) {
      this.#cpu = process.cpuUsage();
      this.#t0 = performance.now();
      return;
    }
    if (this.n === this.expected) {
      const ns = cpuNs(this.#cpu!);
      const seconds = (performance.now() - this.#t0) / 1000;
      // n − 1 frames arrived after the first, inside the timed window.
      this.#result = { framesPerSecond: (this.n - 1) / seconds, cpuNsPerFrame: ns / (this.n - 1) };
      this.#done();
    }
  };
}

async function send(port: number, frameBytes: number, frames: number, ufrag?: string): Promise<void> {
  const args = [
    new URL("./tcp-sender.js", import.meta.url).pathname,
    String(port),
    String(frameBytes),
    String(frames),
  ];
  if (ufrag !== undefined) args.push(ufrag);
  const sender = spawn(process.execPath, args, { stdio: ["ignore", "inherit", "inherit"] });
  const [code] = (await once(sender, "exit")) as [number | null];
  if (code !== 0) throw new Error(`tcp-sender exited with ${code}`);
}

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not done within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function bareRound(server: Server, frameBytes: number, frames: number): Promise<TcpFramesMeasure> {
  const meter = new Meter(frames);
  const onConnection = (socket: Socket) => {
    socket.setNoDelay(true);
    const reader = new FrameReader();
    socket.on("data", (chunk: Buffer) => {
      if (reader.push(chunk, (f) => void meter.frame(f)) === "oversized") socket.destroy();
    });
    socket.on("error", (err) => console.error("bare tcp:", err.message));
  };
  server.on("connection", onConnection);
  try {
    const port = (server.address() as { port: number }).port;
    const [, result] = await within(Promise.all([send(port, frameBytes, frames), meter.done]), "bare round");
    return result;
  } finally {
    server.off("connection", onConnection);
  }
}

async function muxRound(mux: TCPMux, frameBytes: number, frames: number): Promise<TcpFramesMeasure> {
  const meter = new Meter(frames);
  const conn = mux.getConn(UFRAG);
  conn.on("message", meter.frame);
  try {
    const port = mux.getListenAddresses()[0]!.port;
    const [, result] = await within(
      Promise.all([send(port, frameBytes, frames, UFRAG), meter.done]),
      "mux round",
    );
    return result;
  } finally {
    conn.close();
  }
}

export async function benchTcpFrames(sizes: readonly number[], quick: boolean): Promise<TcpFramesPoint[]> {
  const rounds = quick ? 1 : 5;
  const server = createServer({ noDelay: true });
  server.listen({ port: 0, host: "127.0.0.1" });
  await once(server, "listening");
  const mux = await TCPMux.listen({ address: "127.0.0.1" });
  const out: TcpFramesPoint[] = [];
  try {
    for (const frameBytes of sizes) {
      // ~60 MB per round at 100 B frames, ~240 MB at 1,200 B (quick: a tenth).
      const frames = (frameBytes <= 200 ? 600_000 : 200_000) / (quick ? 10 : 1);
      await bareRound(server, frameBytes, frames / 4); // warm-up
      await muxRound(mux, frameBytes, frames / 4);
      const bare: TcpFramesMeasure[] = [];
      const muxed: TcpFramesMeasure[] = [];
      for (let r = 0; r < rounds; r++) {
        if (r % 2 === 0) {
          bare.push(await bareRound(server, frameBytes, frames));
          muxed.push(await muxRound(mux, frameBytes, frames));
        } else {
          muxed.push(await muxRound(mux, frameBytes, frames));
          bare.push(await bareRound(server, frameBytes, frames));
        }
      }
      const pick = (list: TcpFramesMeasure[]): TcpFramesMeasure => ({
        framesPerSecond: median(list.map((m) => m.framesPerSecond)),
        cpuNsPerFrame: median(list.map((m) => m.cpuNsPerFrame)),
      });
      out.push({ frameBytes, frames, bare: pick(bare), mux: pick(muxed) });
    }
  } finally {
    await mux.close();
    await new Promise((resolve) => server.close(resolve));
  }
  return out;
}

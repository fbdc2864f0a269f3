/**
 * Hostile TCP peers against one `TCPMux.listen({ address: "127.0.0.1" })`, the peers in the same process
 * (run with `--expose-gc`; the section forks one process per scenario so each starts from a clean heap and
 * descriptor table): `node --expose-gc tcp-hostile.js <scenario> <seconds> <quick|full>`. Prints one JSON
 * line, a {@link HostileResult}.
 *
 * Scenarios (rows 1, 2, 4 and 5 of issue 15's table):
 *
 * - `blast`: one authenticated peer (its conn has a password, its first frame is a signed check) writes
 *   65,535-byte frames as fast as its socket takes them (it waits for `'drain'`, so it holds one frame). The
 *   conn has no `'message'` listener; its reader takes one frame with `readFrom()` every {@link READ_EVERY_MS}.
 * - `drip-first`: 32 pending connections (4 source addresses × 8) each dripping a 2,048-byte first frame, one
 *   byte per write every {@link DRIP_EVERY_MS} (20 s for the frame: it never completes before the
 *   first-frame deadline); reconnected when the mux closes them.
 * - `drip-frame`: 8 authenticated connections (a conn with a password each, the signed check sent whole),
 *   each then dripping a 65,535-byte frame one byte per write every {@link DRIP_EVERY_MS}; reconnected when
 *   closed. Each one's frame must be closed by `frameTimeoutMs` (checked every second by the mux).
 * - `one-ip`: one source address, no credentials: 32 unknown ufrags × 32 connections, each sending an
 *   unsigned check at once, every closed connection reopened; an accept loop claims every candidate (a
 *   claimed conn may hold 32 connections, not 1: the worst case).
 * - `pending-flood`: 256 idle connections from 16 source addresses (127.0.0.2–17, 16 each), reopened when the
 *   mux closes them (evicted or timed out), while a legitimate client (127.0.0.100) connects every
 *   {@link LEGIT_EVERY_MS} and sends a signed check: routed when its conn's `'message'` listener gets it.
 *
 * Measured, sampled while the attack runs and once {@link FINAL_AFTER_MS} after it stopped (every client
 * destroyed; the mux and its conns still open): live `arrayBuffers` and `heapUsed` after `gc()` over a
 * baseline taken before the first client connected (every {@link MEMORY_EVERY_MS}); the descriptors of the
 * process (`/proc/self/fd`) over the baseline, minus those of the client sockets this process holds (each
 * client's handle's fd) — what the mux holds — every {@link FDS_EVERY_MS}; and `stats()` (pending, routed,
 * paused) every {@link STATS_EVERY_MS}. Peaks are of the samples, so a peak between two samples is missed.
 *
 * Every loop is bounded: each scenario by its duration, every client by {@link MAX_CONNECTS} connections,
 * a reopen waits {@link REOPEN_DELAY_MS}, and the blaster by {@link MAX_BLAST_FRAMES}.
 */
import { readdirSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { classes, Message, methods } from "werift-ice";
import { TCP_DEFAULTS, TCPMux, type TCPMuxOptions, type TCPMuxStats } from "../src/index.js";
import { frame, MAX_FRAME_SIZE } from "../src/tcp/framing.js";
import { bindingRequest } from "./lib/fixtures.js";
import { percentile } from "./lib/stats.js";

export type HostileScenario = "blast" | "drip-first" | "drip-frame" | "one-ip" | "pending-flood";
const SCENARIOS: readonly HostileScenario[] = [
  "blast",
  "drip-first",
  "drip-frame",
  "one-ip",
  "pending-flood",
];

/** Peak (of the samples) and final (1 s after the attack stopped) growth over the baseline, after gc. */
export interface Growth {
  peak: number;
  final: number;
}

/** How the frames dripped by `drip-first` / `drip-frame` ended: closed by the mux at its deadline? */
export interface DripResult {
  /** The deadline the mux ran with: `firstFrameTimeoutMs` (drip-first) or `frameTimeoutMs` (drip-frame). */
  deadlineMs: number;
  /** Frames begun (drip-first: from connect; drip-frame: from the frame's first byte). */
  started: number;
  /** Connections the mux closed, and the shortest and longest time from start to close. */
  closed: number;
  closedMinMs: number;
  closedMaxMs: number;
  /** Connections still open when the attack stopped whose frame was older than deadline + 1 s. */
  overdueAtStop: number;
}

export interface BlastResult {
  framesSent: number;
  framesRead: number;
  framesReadPerSecond: number;
  /** The conn's `queuedBytes`, peak of the samples. */
  queuedBytesPeak: number;
}

export interface LegitResult {
  attempts: number;
  routed: number;
  /** Connect → the check delivered to the conn, over the routed attempts. */
  p50Ms: number;
  maxMs: number;
}

export interface HostileResult {
  scenario: HostileScenario;
  /** How long the attack ran. */
  seconds: number;
  /** The mux's time bounds in this run (quick: scaled down). */
  firstFrameTimeoutMs: number;
  frameTimeoutMs: number;
  /** Client connections opened (reopens included), and client socket errors by code. */
  connects: number;
  clientErrors: Record<string, number>;
  /** Bytes of live ArrayBuffers (Buffers' memory) and of JS heap, over the baseline, after gc. */
  arrayBuffers: Growth;
  heapUsed: Growth;
  /** Descriptors the mux held: process fds over the baseline minus the client sockets' fds. */
  muxFds: Growth;
  /** The same from `stats()`: pendingConnections + tcpConnections (peak; final). */
  muxConnections: Growth;
  /** Process descriptors over the baseline (the clients' included), peak. */
  processFdsPeak: number;
  pendingPeak: number;
  tcpPeak: number;
  pausedPeak: number;
  samples: number;
  /** `stats()` at the end of the attack. */
  rejectedByReason: TCPMuxStats["rejectedByReason"];
  droppedByReason: TCPMuxStats["droppedByReason"];
  blast?: BlastResult;
  drip?: DripResult;
  /** one-ip: candidates the accept loop claimed. */
  claimed?: number;
  legit?: LegitResult;
}

const HOST = "127.0.0.1";
/** As an ICE password: at least 22 characters (RFC 8839 §5.4). */
const PASSWORD = "hostile-bench-password-0123";
const MEMORY_EVERY_MS = 250;
const FDS_EVERY_MS = 50;
const STATS_EVERY_MS = 10;
const FINAL_AFTER_MS = 1000;
/** blast's slow reader: one `readFrom()` every 2 ms (~400 frames/s with timer overhead, ~26 MB/s). */
const READ_EVERY_MS = 2;
/** One byte per connection per tick: 100 B/s, a 2 KiB first frame in 20 s, a 64 KiB frame in 11 min. */
const DRIP_EVERY_MS = 10;
const LEGIT_EVERY_MS = 100;
const LEGIT_TIMEOUT_MS = 2000;
/** A closed hostile connection is reopened after this (so a refused one doesn't spin the event loop). */
const REOPEN_DELAY_MS = 10;
/** The mux checks `frameTimeoutMs` every second (its sweep): a frame may be closed up to 1 s after it. */
const SWEEP_SLACK_MS = 1000;
const MAX_CONNECTS = 2_000_000;
const MAX_BLAST_FRAMES = 50_000_000;
const FIRST_FRAME_BYTES = 2048;

const gc = (globalThis as { gc?: () => void }).gc;

/** A connectivity check with no MESSAGE-INTEGRITY (an attacker has no password), as werift-ice builds one. */
function unsignedCheck(local: string, remote: string): Buffer {
  return new Message(methods.BINDING, classes.REQUEST)
    .setAttribute("USERNAME", `${local}:${remote}`)
    .setAttribute("PRIORITY", 1853824767)
    .setAttribute("ICE-CONTROLLING", BigInt("0x1234567890abcdef"))
    .addFingerprint().bytes;
}

function framed(payload: Uint8Array): Buffer {
  const out = frame(payload);
  if (out === undefined) throw new RangeError(`a ${payload.length}-byte payload can't be framed`);
  return out;
}

/** The client sockets of this process, opened and reopened within the bounds. */
class Clients {
  readonly live = new Set<Socket>();
  connects = 0;
  readonly errors: Record<string, number> = {};
  running = true;
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(readonly port: number) {}

  /** A connection from `localAddress`; `onClose` gets whether the client itself ended it (stop()). */
  open(
    localAddress: string,
    onConnect: (s: Socket) => void,
    onClose?: (s: Socket) => void,
  ): Socket | undefined {
    if (!this.running || this.connects >= MAX_CONNECTS) return undefined;
    this.connects++;
    const socket = connect({ host: HOST, port: this.port, localAddress, noDelay: true });
    this.live.add(socket);
    socket.on("connect", () => onConnect(socket));
    socket.on("error", (err: NodeJS.ErrnoException) => {
      const code = err.code ?? "unknown";
      this.errors[code] = (this.errors[code] ?? 0) + 1;
    });
    socket.on("close", () => {
      this.live.delete(socket);
      onClose?.(socket);
    });
    return socket;
  }

  /** A connection from `localAddress`, reopened {@link REOPEN_DELAY_MS} after each close until stop(). */
  keep(localAddress: string, onConnect: (s: Socket) => void, onClose?: (s: Socket) => void): void {
    const reopen = () => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        this.keep(localAddress, onConnect, onClose);
      }, REOPEN_DELAY_MS);
      this.#timers.add(timer);
    };
    this.open(localAddress, onConnect, (s) => {
      onClose?.(s);
      if (this.running) reopen();
    });
  }

  /** Descriptors the client sockets hold now (a socket still resolving or closed has none). */
  fds(): number {
    let n = 0;
    for (const s of this.live) {
      const fd = (s as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
      if (fd !== undefined && fd >= 0) n++;
    }
    return n;
  }

  /** Destroy every client and wait (bounded) for their close events. */
  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const s of this.live) s.destroy();
    for (let waited = 0; this.live.size > 0 && waited < 5000; waited += 10) await sleep(10);
  }
}

function fdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

function memoryAfterGc(): { arrayBuffers: number; heapUsed: number } {
  gc!();
  gc!();
  const { arrayBuffers, heapUsed } = process.memoryUsage();
  return { arrayBuffers, heapUsed };
}

/** Samples memory, descriptors and the mux's stats while a scenario runs. */
class Probe {
  readonly #base: { arrayBuffers: number; heapUsed: number; fds: number };
  readonly peak = {
    arrayBuffers: 0,
    heapUsed: 0,
    processFds: 0,
    muxFds: 0,
    muxConnections: 0,
    pending: 0,
    tcp: 0,
    paused: 0,
  };
  samples = 0;
  readonly #timers: NodeJS.Timeout[] = [];

  constructor(
    readonly mux: TCPMux,
    readonly clients: Clients,
    readonly onStats?: (s: TCPMuxStats) => void,
  ) {
    const m = memoryAfterGc();
    this.#base = { ...m, fds: fdCount() };
  }

  start(): void {
    this.#timers.push(
      setInterval(() => this.#memory(), MEMORY_EVERY_MS),
      setInterval(() => this.#fds(), FDS_EVERY_MS),
      setInterval(() => this.#stats(), STATS_EVERY_MS),
    );
  }

  stop(): void {
    for (const t of this.#timers) clearInterval(t);
  }

  /** Memory and descriptors now (after gc), over the baseline. */
  now(): { arrayBuffers: number; heapUsed: number; muxFds: number; muxConnections: number } {
    const m = memoryAfterGc();
    const s = this.mux.stats();
    return {
      arrayBuffers: m.arrayBuffers - this.#base.arrayBuffers,
      heapUsed: m.heapUsed - this.#base.heapUsed,
      muxFds: fdCount() - this.#base.fds - this.clients.fds(),
      muxConnections: s.pendingConnections + s.tcpConnections,
    };
  }

  #memory(): void {
    const m = memoryAfterGc();
    this.samples++;
    this.peak.arrayBuffers = Math.max(this.peak.arrayBuffers, m.arrayBuffers - this.#base.arrayBuffers);
    this.peak.heapUsed = Math.max(this.peak.heapUsed, m.heapUsed - this.#base.heapUsed);
  }

  #fds(): void {
    const process = fdCount() - this.#base.fds;
    this.peak.processFds = Math.max(this.peak.processFds, process);
    this.peak.muxFds = Math.max(this.peak.muxFds, process - this.clients.fds());
  }

  #stats(): void {
    const s = this.mux.stats();
    this.peak.pending = Math.max(this.peak.pending, s.pendingConnections);
    this.peak.tcp = Math.max(this.peak.tcp, s.tcpConnections);
    this.peak.muxConnections = Math.max(this.peak.muxConnections, s.pendingConnections + s.tcpConnections);
    this.peak.paused = Math.max(this.peak.paused, s.pausedConnections);
    this.onStats?.(s);
  }
}

type Setup = (
  mux: TCPMux,
  clients: Clients,
  options: Required<Pick<TCPMuxOptions, "frameTimeoutMs" | "firstFrameTimeoutMs">>,
) => {
  /** Called once the baseline is taken: connects the clients. */
  start(): void;
  stop(): Promise<void> | void;
  finish(result: HostileResult, seconds: number): void;
};

const blast: Setup = (mux, clients) => {
  const conn = mux.getConn("blastsrv", undefined, { password: PASSWORD });
  const check = framed(bindingRequest("blastsrv", "blastcli", PASSWORD));
  const big = framed(Buffer.alloc(MAX_FRAME_SIZE, 0x80)); // RTP-shaped first byte; one buffer, every write
  let framesSent = 0;
  let framesRead = 0;
  let queuedBytesPeak = 0;
  const reading = new AbortController();
  let readLoop: Promise<void> = Promise.resolve();
  const pump = (s: Socket): void => {
    while (clients.running && !s.destroyed && framesSent < MAX_BLAST_FRAMES) {
      framesSent++;
      if (!s.write(big)) {
        s.once("drain", () => pump(s));
        return;
      }
    }
  };
  const sampler = setInterval(() => {
    queuedBytesPeak = Math.max(queuedBytesPeak, conn.queuedBytes);
  }, STATS_EVERY_MS);
  return {
    start() {
      readLoop = (async () => {
        while (!reading.signal.aborted) {
          try {
            const packet = await conn.readFrom({ signal: reading.signal });
            if (packet.data.length === MAX_FRAME_SIZE) framesRead++;
          } catch (err) {
            if (reading.signal.aborted) return;
            throw err;
          }
          await sleep(READ_EVERY_MS);
        }
      })();
      clients.open("127.0.0.2", (s) => {
        s.write(check);
        pump(s);
      });
    },
    async stop() {
      clearInterval(sampler);
      reading.abort();
      await readLoop;
    },
    finish(result, seconds) {
      result.blast = {
        framesSent,
        framesRead,
        framesReadPerSecond: framesRead / seconds,
        queuedBytesPeak,
      };
    },
  };
};

/** Bookkeeping of dripped frames: when each began and when the mux closed it. */
class DripLog {
  readonly #startedAt = new Map<Socket, number>();
  readonly closedMs: number[] = [];
  started = 0;

  begin(s: Socket): void {
    if (this.#startedAt.has(s)) return;
    this.#startedAt.set(s, performance.now());
    this.started++;
  }

  /** Closed while the attack ran: by the mux (the client never closes one itself before stop()). */
  closed(s: Socket, running: boolean): void {
    const at = this.#startedAt.get(s);
    this.#startedAt.delete(s);
    if (at !== undefined && running) this.closedMs.push(performance.now() - at);
  }

  /** At stop: frames still open past `limitMs`. */
  overdue(limitMs: number): number {
    const now = performance.now();
    let n = 0;
    for (const at of this.#startedAt.values()) if (now - at > limitMs) n++;
    return n;
  }

  result(deadlineMs: number, overdueAtStop: number): DripResult {
    return {
      deadlineMs,
      started: this.started,
      closed: this.closedMs.length,
      closedMinMs: this.closedMs.length === 0 ? Number.NaN : Math.min(...this.closedMs),
      closedMaxMs: this.closedMs.length === 0 ? Number.NaN : Math.max(...this.closedMs),
      overdueAtStop,
    };
  }
}

/** Writes one byte of `bytes` per tick to every connection registered, each from its own offset. */
class Dripper {
  readonly #offsets = new Map<Socket, number>();
  readonly #timer: NodeJS.Timeout;

  constructor(readonly bytes: Buffer) {
    this.#timer = setInterval(() => {
      for (const [s, at] of this.#offsets) {
        if (s.destroyed || at >= bytes.length) {
          this.#offsets.delete(s);
          continue;
        }
        s.write(bytes.subarray(at, at + 1));
        this.#offsets.set(s, at + 1);
      }
    }, DRIP_EVERY_MS);
  }

  add(s: Socket): void {
    this.#offsets.set(s, 0);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#offsets.clear();
  }
}

const dripFirst: Setup = (_mux, clients, { firstFrameTimeoutMs }) => {
  // A 2,048-byte first frame (maxFirstFrameSize): a check padded with zeros; at 100 B/s it never completes.
  const payload = Buffer.alloc(FIRST_FRAME_BYTES);
  unsignedCheck("dripsrv", "dripcli").copy(payload);
  const dripper = new Dripper(framed(payload));
  const log = new DripLog();
  let overdueAtStop = 0;
  return {
    start() {
      for (let i = 0; i < 32; i++) {
        clients.keep(
          `127.0.0.${2 + (i % 4)}`,
          (s) => {
            log.begin(s);
            dripper.add(s);
          },
          (s) => log.closed(s, clients.running),
        );
      }
    },
    stop() {
      overdueAtStop = log.overdue(firstFrameTimeoutMs + SWEEP_SLACK_MS);
      dripper.stop();
    },
    finish(result) {
      result.drip = log.result(firstFrameTimeoutMs, overdueAtStop);
    },
  };
};

const dripFrame: Setup = (mux, clients, { frameTimeoutMs }) => {
  const dripper = new Dripper(framed(Buffer.alloc(MAX_FRAME_SIZE, 0x80)));
  const log = new DripLog();
  const checks: Buffer[] = [];
  for (let i = 0; i < 8; i++) {
    mux.getConn(`dripsrv${i}`, undefined, { password: PASSWORD });
    checks.push(framed(bindingRequest(`dripsrv${i}`, `dripcli${i}`, PASSWORD)));
  }
  let overdueAtStop = 0;
  return {
    start() {
      for (const check of checks) {
        clients.keep(
          "127.0.0.2",
          (s) => {
            s.write(check, () => {
              log.begin(s); // the frame's first byte goes next
              dripper.add(s);
            });
          },
          (s) => log.closed(s, clients.running),
        );
      }
    },
    stop() {
      overdueAtStop = log.overdue(frameTimeoutMs + SWEEP_SLACK_MS);
      dripper.stop();
    },
    finish(result) {
      result.drip = log.result(frameTimeoutMs, overdueAtStop);
    },
  };
};

const oneIp: Setup = (mux, clients) => {
  const checks: Buffer[] = [];
  for (let i = 0; i < 32 * 32; i++) {
    checks.push(
      framed(unsignedCheck(`evil${String(i % 32).padStart(3, "0")}`, `rem${String(i).padStart(4, "0")}`)),
    );
  }
  let claimed = 0;
  let acceptLoop: Promise<void> = Promise.resolve();
  return {
    start() {
      acceptLoop = (async () => {
        for await (const _candidate of mux) claimed++; // ends when the mux closes
      })();
      for (const check of checks) clients.keep("127.0.0.2", (s) => s.write(check));
    },
    stop() {},
    finish(result) {
      result.claimed = claimed;
      void acceptLoop;
    },
  };
};

const pendingFlood: Setup = (mux, clients) => {
  const conn = mux.getConn("legitsrv", undefined, { password: PASSWORD });
  const check = framed(bindingRequest("legitsrv", "legitcli", PASSWORD));
  const waiting = new Map<number, () => void>();
  conn.on("message", (_data, rinfo) => waiting.get(rinfo.port)?.());
  const latencies: number[] = [];
  let attempts = 0;
  let legitLoop: Promise<void> = Promise.resolve();
  let stopping = false;

  /** One legitimate connection: routed when its check reaches the conn within LEGIT_TIMEOUT_MS. */
  const attempt = () =>
    new Promise<void>((resolve) => {
      attempts++;
      const t0 = performance.now();
      let settled = false;
      let port = -1;
      const settle = (routed: boolean): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        waiting.delete(port);
        if (routed) latencies.push(performance.now() - t0);
        socket?.destroy();
        resolve();
      };
      const socket = clients.open(
        "127.0.0.100",
        (s) => {
          port = s.localPort ?? -1;
          waiting.set(port, () => settle(true));
          s.write(check);
        },
        () => settle(false), // closed before its check was delivered: not routed
      );
      const timer = setTimeout(() => settle(false), LEGIT_TIMEOUT_MS);
      if (socket === undefined) settle(false);
    });

  return {
    start() {
      for (let ip = 2; ip <= 17; ip++) {
        for (let k = 0; k < 16; k++) clients.keep(`127.0.0.${ip}`, () => {}); // idle: never a byte
      }
      legitLoop = (async () => {
        await sleep(LEGIT_EVERY_MS); // let the flood fill the pending set first
        while (!stopping) {
          const next = performance.now() + LEGIT_EVERY_MS;
          await attempt();
          await sleep(Math.max(0, next - performance.now()));
        }
      })();
    },
    async stop() {
      stopping = true;
      await legitLoop;
    },
    finish(result) {
      result.legit = {
        attempts,
        routed: latencies.length,
        p50Ms: percentile(latencies, 50),
        maxMs: latencies.length === 0 ? Number.NaN : Math.max(...latencies),
      };
    },
  };
};

const SETUPS: Record<HostileScenario, Setup> = {
  blast,
  "drip-first": dripFirst,
  "drip-frame": dripFrame,
  "one-ip": oneIp,
  "pending-flood": pendingFlood,
};

async function run(scenario: HostileScenario, seconds: number, quick: boolean): Promise<HostileResult> {
  // The defaults (TCP_DEFAULTS); quick, the drips' deadlines cut to 1 s, so a 2.5 s run still sees
  // connections closed by them.
  const drip = scenario === "drip-first" || scenario === "drip-frame";
  const times =
    quick && drip
      ? { firstFrameTimeoutMs: 1000, frameTimeoutMs: 1000 }
      : {
          firstFrameTimeoutMs: TCP_DEFAULTS.firstFrameTimeoutMs,
          frameTimeoutMs: TCP_DEFAULTS.frameTimeoutMs,
        };
  const mux = await TCPMux.listen({ address: HOST, ...times });
  const clients = new Clients(mux.getListenAddresses()[0]!.port);
  try {
    const attack = SETUPS[scenario](mux, clients, times);
    const probe = new Probe(mux, clients);
    probe.start();
    const started = performance.now();
    attack.start();
    await sleep(seconds * 1000);
    await attack.stop();
    await clients.stop();
    const ran = (performance.now() - started) / 1000;
    const atStop = mux.stats();
    await sleep(FINAL_AFTER_MS);
    const final = probe.now();
    probe.stop();
    const p = probe.peak;
    const result: HostileResult = {
      scenario,
      seconds: ran,
      ...times,
      connects: clients.connects,
      clientErrors: clients.errors,
      arrayBuffers: { peak: p.arrayBuffers, final: final.arrayBuffers },
      heapUsed: { peak: p.heapUsed, final: final.heapUsed },
      muxFds: { peak: p.muxFds, final: final.muxFds },
      muxConnections: { peak: p.muxConnections, final: final.muxConnections },
      processFdsPeak: p.processFds,
      pendingPeak: p.pending,
      tcpPeak: p.tcp,
      pausedPeak: p.paused,
      samples: probe.samples,
      rejectedByReason: atStop.rejectedByReason,
      droppedByReason: atStop.droppedByReason,
    };
    attack.finish(result, ran);
    return result;
  } finally {
    await mux.close();
  }
}

async function main(): Promise<void> {
  if (gc === undefined) throw new Error("run with --expose-gc");
  const scenario = process.argv[2] as HostileScenario;
  if (!SCENARIOS.includes(scenario)) {
    throw new TypeError(`Expected a scenario (${SCENARIOS.join(", ")}), got \`${scenario}\``);
  }
  const seconds = Number(process.argv[3]);
  if (!(seconds > 0 && seconds <= 600))
    throw new TypeError(`Expected seconds in (0, 600], got \`${process.argv[3]}\``);
  const result = await run(scenario, seconds, process.argv[4] === "quick");
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

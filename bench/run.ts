/**
 * `npm run bench [-- --quick] [-- --only=parse,push,…]`: every measurement of issue 6, a table on stdout,
 * `bench/results.json` and `bench/throughput.svg`. `--quick` is the CI smoke run (~25 s, fewer conns
 * and rounds); `--only` runs some sections. Both write to `bench/.cache/`, never over the committed results.
 */
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { renderChart } from "./chart.js";
import type { E2eRun } from "./e2e.js";
import type { KernelPoint } from "./kernel.js";
import { benchKernel } from "./kernel.js";
import { fmt, median, table } from "./lib/stats.js";
import type { LoadResult } from "./load.js";
import { benchLoad, LOAD_FULL, LOAD_QUICK, loadTargets, renderLoad } from "./load.js";
import type { MemoryResult } from "./memory.js";
import type { ParseResult } from "./parse.js";
import { benchParse } from "./parse.js";
import type { FirstContactResult, PullPoint, RoutingPoint } from "./routing.js";
import { benchFirstContact, benchRoutingPull, benchRoutingPush, routingSink } from "./routing.js";

const execFileAsync = promisify(execFile);
const quick = process.argv.includes("--quick");
const SECTIONS = ["parse", "push", "pull", "first-contact", "kernel", "memory", "e2e", "load"] as const;
type Section = (typeof SECTIONS)[number];
const only = process.argv
  .find((a) => a.startsWith("--only="))
  ?.slice("--only=".length)
  .split(",");
for (const name of only ?? []) {
  if (!SECTIONS.includes(name as Section)) {
    throw new TypeError(`Expected \`--only\` to list some of ${SECTIONS.join(", ")}, got \`${name}\``);
  }
}
const wanted = (section: Section) => only === undefined || only.includes(section);
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
/** This file runs from bench/.cache/; a full run writes to bench/. */
const outDir = quick || only !== undefined ? here("./") : here("../");

const COUNTS = quick ? [1, 1_000] : [1, 100, 1_000, 10_000];
const KERNEL_COUNTS = quick ? [100] : COUNTS;
const MEMORY_CONNS = quick ? 1_000 : 10_000;
const MEMORY_PC_PAIRS = quick ? 10 : 50;
const E2E = quick ? { pairs: 4, echoMs: 200, rounds: 1 } : { pairs: 100, echoMs: 2000, rounds: 3 };
const LOAD = quick ? LOAD_QUICK : LOAD_FULL;

const TARGETS = {
  routingNs: 100,
  flatSpreadNs: 20,
  throughputRatio: 0.98,
  parseSpeedup: 20,
  heapBytesPerConn: 1024,
  /** What attaching may add to a connected werift pc's heap, over the same pc on its own socket. */
  attachedPcExtraBytes: 1024,
  e2eRatio: 0.95,
};

interface E2eResult {
  pairs: number;
  mux: E2eRun;
  own: E2eRun;
  /** Own-socket connect time ÷ mux connect time (higher is better for the mux). */
  connectRatio: number;
  /** Mux echoes/s ÷ own-socket echoes/s. */
  echoRatio: number;
}

interface Throughput {
  conns: number;
  /** Bare socket CPU ns per datagram through the kernel (median of every socket round). */
  receiveNs: number;
  routingNs: number;
  /** receive ÷ (receive + routing). */
  ratio: number;
}

interface Target {
  name: string;
  target: string;
  measured: string;
  met: boolean;
}

function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

function machine() {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  return {
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? "unknown",
    nproc: cpus().length,
    node: process.version,
    kernel: release(),
  };
}

/** Run a bench child process; its last stdout line is its JSON result. */
async function child<T>(args: string[], timeoutMs: number): Promise<T> {
  const { stdout } = await execFileAsync(process.execPath, args, { timeout: timeoutMs, maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as T;
}

async function benchE2e(): Promise<E2eResult> {
  const runs: Record<"mux" | "own", E2eRun[]> = { mux: [], own: [] };
  for (let round = 0; round < E2E.rounds; round++) {
    const order = round % 2 === 0 ? (["own", "mux"] as const) : (["mux", "own"] as const);
    for (const mode of order) {
      runs[mode].push(
        await child<E2eRun>([here("./e2e.js"), mode, String(E2E.pairs), String(E2E.echoMs)], 120_000),
      );
    }
  }
  const pick = (list: E2eRun[]): E2eRun => ({
    mode: list[0]!.mode,
    pairs: E2E.pairs,
    connectMs: median(list.map((r) => r.connectMs)),
    echoesPerSecond: median(list.map((r) => r.echoesPerSecond)),
    cpuNsPerEcho: median(list.map((r) => r.cpuNsPerEcho)),
  });
  const mux = pick(runs.mux);
  const own = pick(runs.own);
  return {
    pairs: E2E.pairs,
    mux,
    own,
    connectRatio: own.connectMs / mux.connectMs,
    echoRatio: mux.echoesPerSecond / own.echoesPerSecond,
  };
}

function targetsOf(r: {
  parse?: ParseResult;
  push?: RoutingPoint[];
  throughput?: Throughput[];
  memory?: MemoryResult;
  e2e?: E2eResult;
  load?: LoadResult;
}): Target[] {
  const out: Target[] = [];
  if (r.push !== undefined) {
    const routing = r.push.map((p) => p.routingNs);
    const spread = Math.max(...routing) - Math.min(...routing);
    out.push(
      {
        name: "routing cost at every conn count (64 active)",
        target: `≤ ${TARGETS.routingNs} ns`,
        measured: `${fmt(Math.max(...routing), 1)} ns (max)`,
        met: Math.max(...routing) <= TARGETS.routingNs,
      },
      {
        name: "routing cost flat from 1 to 10,000 conns",
        target: `max − min ≤ ${TARGETS.flatSpreadNs} ns`,
        measured: `${fmt(spread, 1)} ns`,
        met: spread <= TARGETS.flatSpreadNs,
      },
      {
        name: "routing cost, every conn active in turn (cold state)",
        target: `≤ ${TARGETS.routingNs} ns`,
        measured: `${fmt(Math.max(...r.push.map((p) => p.allActive.routingNs)), 1)} ns (max)`,
        met: r.push.every((p) => p.allActive.routingNs <= TARGETS.routingNs),
      },
    );
  }
  if (r.memory !== undefined) {
    const extra = r.memory.allocBytesPerDatagram.mux - r.memory.allocBytesPerDatagram.bare;
    out.push({
      name: "allocation per datagram, associated-address path",
      target: "mux − bare < 1 B",
      measured: `${fmt(extra, 2)} B`,
      met: extra < 1,
    });
  }
  if (r.throughput !== undefined) {
    const min = Math.min(...r.throughput.map((t) => t.ratio));
    out.push({
      name: "throughput mux/bare = receive ÷ (receive + routing)",
      target: `≥ ${TARGETS.throughputRatio}`,
      measured: `${fmt(min, 4)} (min)`,
      met: min >= TARGETS.throughputRatio,
    });
  }
  if (r.parse !== undefined) {
    out.push({
      name: "USERNAME extraction vs werift-ice parseMessage",
      target: `≥ ${TARGETS.parseSpeedup}×`,
      measured: `${fmt(r.parse.speedupVsWeriftIce, 1)}×`,
      met: r.parse.speedupVsWeriftIce >= TARGETS.parseSpeedup,
    });
  }
  if (r.memory !== undefined) {
    out.push({
      name: `heap per idle conn (${fmt(r.memory.conns)} conns)`,
      target: `≤ ${TARGETS.heapBytesPerConn} B`,
      measured: `${fmt(r.memory.heapBytesPerConn)} B`,
      met: r.memory.heapBytesPerConn <= TARGETS.heapBytesPerConn,
    });
    const pc = r.memory.heapBytesPerPcPair;
    out.push({
      name: `heap of an attached werift pc over one on its own socket (${pc.pairs} connected pairs)`,
      target: `≤ ${TARGETS.attachedPcExtraBytes} B`,
      measured: `${fmt(pc.mux - pc.own)} B`,
      met: pc.mux - pc.own <= TARGETS.attachedPcExtraBytes,
    });
  }
  if (r.e2e !== undefined) {
    out.push(
      {
        name: `e2e connect time, ${r.e2e.pairs} pairs (own ÷ mux)`,
        target: `≥ ${TARGETS.e2eRatio}`,
        measured: fmt(r.e2e.connectRatio, 3),
        met: r.e2e.connectRatio >= TARGETS.e2eRatio,
      },
      {
        name: `e2e echo throughput, ${r.e2e.pairs} pairs (mux ÷ own)`,
        target: `≥ ${TARGETS.e2eRatio}`,
        measured: fmt(r.e2e.echoRatio, 3),
        met: r.e2e.echoRatio >= TARGETS.e2eRatio,
      },
    );
  }
  if (r.load !== undefined) out.push(...loadTargets(r.load));
  return out;
}

function chart(
  kernel: KernelPoint[],
  throughput: Throughput[] | undefined,
  m: ReturnType<typeof machine>,
): string {
  return renderChart(
    "udpmux: datagrams/s vs registered conns (1,200-byte datagrams, 127.0.0.1)",
    `${m.cpu}, ${m.nproc} cores, Node ${m.node}; solid: measured, dashed: CPU-bound capacity`,
    [
      {
        label: "bare socket, measured",
        color: "#777",
        points: kernel.map((k) => ({ conns: k.conns, perSecond: k.bare.perSecond })),
      },
      {
        label: "mux (push), measured",
        color: "#1f6feb",
        points: kernel.map((k) => ({ conns: k.conns, perSecond: k.push.perSecond })),
      },
      ...(throughput === undefined
        ? []
        : [
            {
              label: "bare: 1 s ÷ receive CPU",
              color: "#777",
              dashed: true,
              points: throughput.map((t) => ({ conns: t.conns, perSecond: 1e9 / t.receiveNs })),
            },
            {
              label: "mux: 1 s ÷ (receive + routing) CPU",
              color: "#1f6feb",
              dashed: true,
              points: throughput.map((t) => ({
                conns: t.conns,
                perSecond: 1e9 / (t.receiveNs + Math.max(0, t.routingNs)),
              })),
            },
          ]),
    ],
  );
}

function print(
  m: ReturnType<typeof machine>,
  r: {
    parse?: ParseResult;
    push?: RoutingPoint[];
    pull?: PullPoint[];
    firstContact?: FirstContactResult;
    kernel?: KernelPoint[];
    throughput?: Throughput[];
    memory?: MemoryResult;
    e2e?: E2eResult;
    load?: LoadResult;
    targets: Target[];
  },
): void {
  const out: string[] = [
    `udpmux benchmarks (${quick ? "quick" : "full"}) — ${m.cpu}, ${m.nproc} cores, Node ${m.node}`,
  ];
  if (r.parse !== undefined) {
    const { nsPerMessage: ns } = r.parse;
    out.push(
      "STUN USERNAME extraction (ns per Binding Request, median)",
      table(
        ["parser", "ns", "÷ udpmux"],
        [
          ["udpmux parseBindingRequest", fmt(ns.udpmux, 1), "1.0"],
          ["werift-ice parseMessage", fmt(ns.weriftIce, 1), fmt(r.parse.speedupVsWeriftIce, 1)],
          ["stun decode", fmt(ns.stun, 1), fmt(r.parse.speedupVsStun, 1)],
        ],
      ),
    );
  }
  if (r.push !== undefined) {
    out.push(
      "In-process routing, push mode (CPU ns per datagram; medians of alternating rounds). Traffic from 64 of\nthe registered conns (hot set), and from all of them in turn (all active: their state is out of cache)",
      table(
        ["conns", "bare", "mux", "routing", "receive", "mux/bare thr.", "all active: bare", "mux", "routing"],
        r.push.map((p, i) => {
          const t = r.throughput?.[i];
          return [
            fmt(p.conns),
            fmt(p.bareNs, 1),
            fmt(p.muxNs, 1),
            fmt(p.routingNs, 1),
            t === undefined ? "—" : fmt(t.receiveNs),
            t === undefined ? "—" : fmt(t.ratio, 4),
            fmt(p.allActive.bareNs, 1),
            fmt(p.allActive.muxNs, 1),
            fmt(p.allActive.routingNs, 1),
          ];
        }),
      ),
    );
  }
  if (r.pull !== undefined) {
    out.push(
      "In-process pull mode (CPU ns per datagram; bursts of 64 datagrams, then 64 reads)",
      table(
        ["conns", "bare push", "readFrom", "for await"],
        r.pull.map((p) => [fmt(p.conns), fmt(p.bareNs, 1), fmt(p.readFromNs, 1), fmt(p.iteratorNs, 1)]),
      ),
    );
  }
  if (r.firstContact !== undefined) {
    out.push(
      `First contact: ${fmt(r.firstContact.perSecond)} new peers/s (${fmt(r.firstContact.nsPerContact)} CPU ns each: parse, create conn, queue candidate, accept)`,
    );
  }
  if (r.kernel !== undefined) {
    out.push(
      "Socket to socket (64 connected senders in a child process; medians; expect ±30 % between runs)",
      table(
        [
          "conns",
          "bare dgram/s",
          "push dgram/s",
          "pull dgram/s",
          "push/bare",
          "pull/bare",
          "bare ns",
          "push ns",
          "pull ns",
        ],
        r.kernel.map((k) => [
          fmt(k.conns),
          fmt(k.bare.perSecond),
          fmt(k.push.perSecond),
          fmt(k.pull.perSecond),
          fmt(k.push.perSecond / k.bare.perSecond, 2),
          fmt(k.pull.perSecond / k.bare.perSecond, 2),
          fmt(k.bare.cpuNsPerDatagram),
          fmt(k.push.cpuNsPerDatagram),
          fmt(k.pull.cpuNsPerDatagram),
        ]),
      ),
    );
  }
  if (r.memory !== undefined) {
    const a = r.memory.allocBytesPerDatagram;
    out.push(
      `Memory: ${fmt(r.memory.heapBytesPerConn)} B heap per idle conn at ${fmt(r.memory.conns)} conns. Allocated per datagram: mux ${fmt(a.mux, 2)} B, bare ${fmt(a.bare, 2)} B, control handler (one object) ${fmt(a.control, 2)} B`,
      `Heap per connected werift 0.25 pc pair (server pc + plain client pc, ${fmt(r.memory.heapBytesPerPcPair.pairs)} pairs, means of 4 balanced rounds): server on the mux ${fmt(r.memory.heapBytesPerPcPair.mux)} B, on its own socket ${fmt(r.memory.heapBytesPerPcPair.own)} B (attached − own: ${fmt(r.memory.heapBytesPerPcPair.mux - r.memory.heapBytesPerPcPair.own)} B)`,
    );
  }
  if (r.e2e !== undefined) {
    const e = r.e2e;
    out.push(
      `End to end: ${e.pairs} werift-ice pairs, server side on one mux vs own sockets (medians)`,
      table(
        ["", "connect ms", "echoes/s", "CPU ns/echo"],
        [
          ["own sockets", fmt(e.own.connectMs), fmt(e.own.echoesPerSecond), fmt(e.own.cpuNsPerEcho)],
          ["one mux", fmt(e.mux.connectMs), fmt(e.mux.echoesPerSecond), fmt(e.mux.cpuNsPerEcho)],
          ["ratio", fmt(e.connectRatio, 3), fmt(e.echoRatio, 3), ""],
        ],
      ),
    );
  }
  if (r.load !== undefined) out.push(renderLoad(r.load));
  out.push(
    "Targets",
    table(
      ["", "target", "measured", "met"],
      r.targets.map((t) => [t.name, t.target, t.measured, t.met ? "yes" : "NO"]),
    ),
  );
  console.log(`\n${out.join("\n\n")}\n`);
}

async function main(): Promise<void> {
  const started = performance.now();
  const m = machine();
  log(`${quick ? "quick" : "full"} run, ${m.cpu}, ${m.nproc} cores, Node ${m.node}`);
  const section = async <T>(name: Section, what: string, fn: () => Promise<T>): Promise<T | undefined> => {
    if (!wanted(name)) return undefined;
    log(what);
    return fn();
  };
  const parse = await section("parse", "STUN USERNAME extraction", () => benchParse(quick));
  const push = await section("push", "in-process routing, push mode", () => benchRoutingPush(COUNTS, quick));
  const pull = await section("pull", "in-process routing, pull mode", () => benchRoutingPull(COUNTS, quick));
  const firstContact = await section("first-contact", "first contact", () => benchFirstContact(quick));
  const kernel = await section("kernel", "socket to socket (sender child process)", () =>
    benchKernel(KERNEL_COUNTS, quick),
  );
  const memory = await section("memory", "memory (child process, --expose-gc)", () =>
    child<MemoryResult>(
      [
        "--expose-gc",
        "--max-semi-space-size=64",
        here("./memory.js"),
        String(MEMORY_CONNS),
        String(MEMORY_PC_PAIRS),
      ],
      300_000,
    ),
  );
  const e2e = await section("e2e", `end to end: ${E2E.pairs} werift-ice pairs, mux vs own sockets`, benchE2e);
  const load = await section(
    "load",
    `connecting under load: ${LOAD.clients} werift clients at once, ${fmt(LOAD.rate)} junk datagrams/s, ${LOAD.rounds} round(s) of mux / mux with the OS buffer / own sockets, junk elsewhere / own sockets, junk to them`,
    () => benchLoad(LOAD, here("./load-server.js"), child),
  );
  if ((push !== undefined || pull !== undefined) && routingSink() === 0)
    throw new Error("nothing was delivered");

  let throughput: Throughput[] | undefined;
  if (push !== undefined && kernel !== undefined) {
    const receiveNs = median(kernel.map((k) => k.bare.cpuNsPerDatagram));
    throughput = push.map((p) => ({
      conns: p.conns,
      receiveNs,
      routingNs: p.routingNs,
      ratio: receiveNs / (receiveNs + Math.max(0, p.routingNs)),
    }));
  }
  const targets = targetsOf({ parse, push, throughput, memory, e2e, load });
  const results = {
    date: new Date().toISOString(),
    quick,
    only: only ?? null,
    machine: m,
    parse,
    routing: { push, pull, firstContact },
    kernel,
    throughput,
    memory,
    e2e,
    load,
    targets,
  };
  writeFileSync(`${outDir}results.json`, `${JSON.stringify(results, null, 2)}\n`);
  if (kernel !== undefined) writeFileSync(`${outDir}throughput.svg`, chart(kernel, throughput, m));
  print(m, { parse, push, pull, firstContact, kernel, throughput, memory, e2e, load, targets });
  log(`wrote ${outDir}results.json in ${fmt((performance.now() - started) / 1000, 1)} s`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

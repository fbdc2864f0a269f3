/**
 * Heap of an attached werift agent over the same agent on its own socket, by constructor, from V8 heap
 * snapshots of the shipped build (issue 16 item 3; `docs/performance.md`, "An attached peer connection").
 *
 * ```sh
 * npm run build && npx tsup --config bench/tsup.config.ts
 * node bench/.cache/heap-agents.js [agents=300] [dist=./dist]
 * node bench/.cache/heap-agents.js --pc [pcs=100] [dist=./dist]
 * node bench/.cache/heap-agents.js --connected [pairs=100] [dist=./dist]   # in a loopback-only namespace
 * HEAP_RETAINERS='Set,(sliced string)' node bench/.cache/heap-agents.js --connected …   # who holds them
 * ```
 *
 * `--connected` (issue 16) measures what `memory-pc.ts` does, by constructor: `pairs` connected werift pc
 * pairs, the server pc attached or on its own socket, the client plain, after a warm-up of 10 pairs.
 *
 * The parent starts two child processes (`node --expose-gc`), each making `agents` werift-ice `Connection`s
 * and gathering them (`--pc`: werift `RTCPeerConnection`s with a data channel, their offer set and
 * gathered) — one mode each on its own 127.0.0.1 socket (`own`), or all attached to one mux (`mux`), with
 * STUN off in both — then waits 100 ms (what gathering scheduled has run: an attached agent gathers without
 * an event-loop turn), `gc()` twice, `v8.writeHeapSnapshot()`, and the self sizes of every node summed by
 * constructor (objects and closures by name, arrays and hidden objects by their kind). The parent prints
 * the difference per agent (mux − own), code space left out (it grows as the JIT warms up), then the
 * property, element and hash-table stores by the constructor of the object owning them, and one JSON line.
 *
 * It imports udpmux from `dist` (built with the package's `keepNames`, as users get it), not from src/:
 * the build's naming of functions changes what a closure costs.
 */
import { execFile } from "node:child_process";
import { readFileSync, unlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { writeHeapSnapshot } from "node:v8";
import type { RTCPeerConnection } from "werift";
import { connectedPcPair } from "./lib/pc.js";

type Counts = Record<string, [count: number, bytes: number]>;

export interface HeapAgentsResult {
  /** werift-ice agents, or werift `RTCPeerConnection`s (`--pc`). */
  kind: string;
  agents: number;
  /** Bytes per agent, mux − own, without code space. */
  perAgent: number;
  /** By constructor: [count, bytes] per agent, mux − own. */
  byConstructor: Counts;
  /** Property / element / table stores by the constructor of their owner: [count, bytes] per agent. */
  storesByOwner: Counts;
}

interface ChildResult {
  byConstructor: Counts;
  storesByOwner: Counts;
  retainers?: Counts;
}

interface Snapshot {
  snapshot: {
    meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

function add(counts: Counts, key: string, bytes: number): void {
  const entry = counts[key] ?? [0, 0];
  entry[0]++;
  entry[1] += bytes;
  counts[key] = entry;
}

/** Self sizes by constructor, and the stores (`properties`, `elements`, `table`) by their owner's. */
function summarize(snap: Snapshot): ChildResult {
  const { meta } = snap.snapshot;
  const F = meta.node_fields.length;
  const E = meta.edge_fields.length;
  const types = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const ti = meta.node_fields.indexOf("type");
  const ni = meta.node_fields.indexOf("name");
  const si = meta.node_fields.indexOf("self_size");
  const ci = meta.node_fields.indexOf("edge_count");
  const eti = meta.edge_fields.indexOf("type");
  const eni = meta.edge_fields.indexOf("name_or_index");
  const eto = meta.edge_fields.indexOf("to_node");
  const { nodes, edges, strings } = snap;
  const byConstructor: Counts = {};
  const storesByOwner: Counts = {};
  let e = 0;
  for (let i = 0; i < nodes.length; i += F) {
    const type = types[nodes[i + ti]!]!;
    const name = strings[nodes[i + ni]!]!;
    const key =
      type === "object"
        ? name
        : type === "closure"
          ? "(closure)"
          : type === "array" || type === "hidden"
            ? `(${type}) ${name}`
            : `(${type})`;
    add(byConstructor, key, nodes[i + si]!);
    const count = nodes[i + ci]!;
    for (let k = 0; k < count; k++, e += E) {
      if (edgeTypes[edges[e + eti]!] !== "internal") continue;
      const edgeName = strings[edges[e + eni]!];
      if (edgeName !== "properties" && edgeName !== "elements" && edgeName !== "table") continue;
      const owner = type === "object" ? name : `(${type})`;
      add(storesByOwner, `${owner} .${edgeName}`, nodes[edges[e + eto]! + si]!);
    }
  }
  const retainers = retainersOf(snap, process.env.HEAP_RETAINERS?.split(",") ?? []);
  return { byConstructor, storesByOwner, ...(retainers === undefined ? {} : { retainers }) };
}

/**
 * For debugging a difference: the retainers of the nodes whose summary key (as in `byConstructor`) is in
 * `keys`, counted by the retainer's key and the edge's name (env `HEAP_RETAINERS=key,key`).
 */
function retainersOf(snap: Snapshot, keys: string[]): Counts | undefined {
  if (keys.length === 0) return undefined;
  const { meta } = snap.snapshot;
  const F = meta.node_fields.length;
  const E = meta.edge_fields.length;
  const types = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const [ti, ni, si, ci] = ["type", "name", "self_size", "edge_count"].map((f) =>
    meta.node_fields.indexOf(f),
  );
  const [eti, eni, eto] = ["type", "name_or_index", "to_node"].map((f) => meta.edge_fields.indexOf(f));
  const { nodes, edges, strings } = snap;
  const keyOf = (i: number) => {
    const type = types[nodes[i + ti!]!]!;
    const name = strings[nodes[i + ni!]!]!;
    return type === "object"
      ? name
      : type === "closure"
        ? "(closure)"
        : `(${type}) ${type === "array" || type === "hidden" ? name : ""}`.trim();
  };
  const wanted = new Set(keys);
  const out: Counts = {};
  let e = 0;
  for (let i = 0; i < nodes.length; i += F) {
    const count = nodes[i + ci!]!;
    for (let k = 0; k < count; k++, e += E) {
      const to = edges[e + eto!]!;
      const toKey = keyOf(to);
      if (!wanted.has(toKey)) continue;
      const et = edgeTypes[edges[e + eti!]!];
      const en = et === "element" || et === "hidden" ? "[]" : strings[edges[e + eni!]!];
      add(out, `${toKey} <- ${keyOf(i)}.${en}`, nodes[to + si!]!);
    }
  }
  return out;
}

/** The child: `agents` gathered werift-ice agents, attached or not; prints its summary as one JSON line. */
async function child(kind: string, agents: number, attached: boolean, dist: string): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("run with --expose-gc");
  const require = createRequire(`${resolve("package.json")}`);
  const { Connection } = require("werift-ice") as typeof import("werift-ice");
  const { RTCPeerConnection } = require("werift") as typeof import("werift");
  const { UDPMux } = (await import(
    pathToFileURL(`${dist}/index.js`).href
  )) as typeof import("../src/index.js");
  const { attachUDPMux } = (await import(
    pathToFileURL(`${dist}/werift.js`).href
  )) as typeof import("../src/werift/index.js");
  const mux = await UDPMux.bind({ address: "127.0.0.1" });
  const gatheredAgent = async (attach: boolean) => {
    const agent = new Connection(false, {
      useIpv4: false,
      useIpv6: false,
      additionalHostAddresses: ["127.0.0.1"],
    });
    (agent as { stunServer?: unknown }).stunServer = undefined; // the own-socket agents contact nobody either
    if (attach) attachUDPMux(agent, mux);
    await agent.gatherCandidates();
    return agent;
  };
  // A pc with a data channel, its offer set and gathered (one ICE transport: max-bundle).
  const gatheredPc = async (attach: boolean) => {
    const pc = new RTCPeerConnection({
      bundlePolicy: "max-bundle",
      iceServers: [],
      iceUseIpv4: false,
      iceUseIpv6: false,
      iceAdditionalHostAddresses: ["127.0.0.1"],
    });
    if (attach) attachUDPMux(pc, mux);
    pc.createDataChannel("heap");
    for (const t of (pc as unknown as { secureManager: { iceTransports: { connection: object }[] } })
      .secureManager.iceTransports) {
      (t.connection as { stunServer?: unknown }).stunServer = undefined; // werift's default: never contacted
    }
    await pc.setLocalDescription(await pc.createOffer());
    if (pc.iceGatheringState !== "complete") {
      await new Promise<void>((resolve) =>
        pc.iceGatheringStateChange.subscribe((state) => state === "complete" && resolve()),
      );
    }
    return pc;
  };
  const list: { close(): Promise<unknown> }[] = [];
  if (kind === "connected") {
    // As `memory-pc.ts`: a warm-up of 10 pairs connected and closed, then `agents` pairs 10 at a time, the
    // server attached or on its own socket, the client always on its own.
    const attach = attached ? (pc: RTCPeerConnection) => attachUDPMux(pc, mux) : undefined;
    const pairs = async (n: number) => {
      const out: { close(): Promise<unknown> }[] = [];
      for (let k = 0; k < n; k += 10) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(10, n - k) }, () => connectedPcPair(attach)),
        );
        for (const p of batch) out.push(p.server, p.client);
      }
      return out;
    };
    await Promise.allSettled((await pairs(10)).map((pc) => pc.close()));
    await new Promise((resolve) => setTimeout(resolve, 3000)); // closed pcs' timers run out
    list.push(...(await pairs(agents)));
  } else {
    for (let i = 0; i < agents; i++) list.push(await (kind === "pc" ? gatheredPc : gatheredAgent)(attached));
  }
  await new Promise((resolve) => setTimeout(resolve, 100)); // what gathering left scheduled has run
  gc();
  gc();
  if (attached && process.env.HEAP_RETAINERS !== undefined)
    process.stderr.write(`${JSON.stringify(mux.stats())}\n`);
  const file = writeHeapSnapshot(`${process.env.TMPDIR ?? "/tmp"}/heap-agents-${process.pid}.heapsnapshot`);
  const result = summarize(JSON.parse(readFileSync(file, "utf8")) as Snapshot);
  unlinkSync(file);
  for (const target of list) await target.close();
  await mux.close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function diff(own: Counts, mux: Counts, agents: number): Counts {
  const out: Counts = {};
  for (const key of new Set([...Object.keys(own), ...Object.keys(mux)])) {
    const [c0, b0] = own[key] ?? [0, 0];
    const [c1, b1] = mux[key] ?? [0, 0];
    if (c0 !== c1 || b0 !== b1) out[key] = [(c1 - c0) / agents, (b1 - b0) / agents];
  }
  return out;
}

function table(counts: Counts, rows: number): string {
  return Object.entries(counts)
    .sort((a, b) => Math.abs(b[1][1]) - Math.abs(a[1][1]))
    .slice(0, rows)
    .map(
      ([key, [count, bytes]]) =>
        `${key.padEnd(52)} ${count.toFixed(2).padStart(7)} ${bytes.toFixed(1).padStart(8)} B`,
    )
    .join("\n");
}

async function parent(kind: string, agents: number, dist: string): Promise<void> {
  const run = async (attached: boolean): Promise<ChildResult> => {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ["--expose-gc", process.argv[1]!, "--child", kind, String(agents), attached ? "1" : "0", dist],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    process.stderr.write(stderr);
    return JSON.parse(stdout.trim().split("\n").at(-1)!) as ChildResult;
  };
  const own = await run(false);
  const mux = await run(true);
  const byConstructor = diff(own.byConstructor, mux.byConstructor, agents);
  if (own.retainers !== undefined) {
    process.stderr.write(`retainers:\n${table(diff(own.retainers, mux.retainers ?? {}, agents), 40)}\n\n`);
  }
  const storesByOwner = diff(own.storesByOwner, mux.storesByOwner, agents);
  const perAgent = Object.entries(byConstructor)
    .filter(([key]) => key !== "(code)")
    .reduce((sum, [, [, bytes]]) => sum + bytes, 0);
  process.stderr.write(
    `${agents} ${kind === "connected" ? "connected werift pc pairs (server pc attached or own, plain client)" : kind === "pc" ? "werift RTCPeerConnections (offer set, gathered)" : "gathered werift-ice agents"}, attached − own socket, per agent (count, self size):\n` +
      `${table(byConstructor, 40)}\n\nstores by owner:\n${table(storesByOwner, 30)}\n\n` +
      `total without code space: ${perAgent.toFixed(0)} B per agent\n`,
  );
  const result: HeapAgentsResult = { kind, agents, perAgent, byConstructor, storesByOwner };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

const args = process.argv.slice(2);
const main =
  args[0] === "--child"
    ? child(args[1]!, Number(args[2]), args[3] === "1", args[4]!)
    : args[0] === "--pc" || args[0] === "--connected"
      ? parent(args[0].slice(2), Number(args[1] ?? 100), resolve(args[2] ?? "dist"))
      : parent("agent", Number(args[0] ?? 300), resolve(args[1] ?? "dist"));
main.catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

/**
 * End to end, run as a child process per round (`node e2e.js <mux|own> <pairs> <echoMs>`): `pairs`
 * werift-ice agent pairs in this process. The server side of every pair is attached to one UDPMux
 * (`mux`) or has its own socket (`own`); the client side always has its own socket. Agents gather on
 * 127.0.0.1 only and never contact a STUN server. Measured: wall time from the start of gathering until
 * every pair is connected, then `Connection.send` echo traffic (client → server → client, 1,200 bytes,
 * 4 in flight per pair) for `echoMs`: echoes per second and this process's CPU per echo. Prints one JSON
 * line.
 */
import { Connection } from "werift-ice";
import { UDPMux } from "../src/index.js";
import { attachUDPMux } from "../src/werift/index.js";
import { MEDIA_BYTES } from "./lib/fixtures.js";
import { cpuNs } from "./lib/stats.js";

/** Host candidates on 127.0.0.1 only (no interface scan, no IPv6). */
const LOOPBACK_ICE_OPTIONS = { useIpv4: false, useIpv6: false, additionalHostAddresses: ["127.0.0.1"] };
const IN_FLIGHT = 4;

export interface E2eRun {
  mode: "mux" | "own";
  pairs: number;
  connectMs: number;
  echoesPerSecond: number;
  cpuNsPerEcho: number;
}

/** An agent on its own socket, with werift's public STUN default removed: never contacted. */
function ownAgent(controlling: boolean): Connection {
  const agent = new Connection(controlling, { ...LOOPBACK_ICE_OPTIONS });
  agent.stunServer = undefined;
  return agent;
}

async function connectPair(a: Connection, b: Connection): Promise<void> {
  await Promise.all([a.gatherCandidates(), b.gatherCandidates()]);
  a.setRemoteParams({ iceLite: false, usernameFragment: b.localUsername, password: b.localPassword });
  b.setRemoteParams({ iceLite: false, usernameFragment: a.localUsername, password: a.localPassword });
  for (const c of b.localCandidates) await a.addRemoteCandidate(c);
  for (const c of a.localCandidates) await b.addRemoteCandidate(c);
  await a.addRemoteCandidate(undefined);
  await b.addRemoteCandidate(undefined);
  await Promise.all([a.connect(), b.connect()]);
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  const pairs = Number(process.argv[3]);
  const echoMs = Number(process.argv[4]);
  if ((mode !== "mux" && mode !== "own") || !(pairs > 0) || !(echoMs > 0 && echoMs <= 10_000)) {
    throw new TypeError(`usage: e2e.js <mux|own> <pairs> <echoMs ≤ 10000>, got ${process.argv.slice(2)}`);
  }
  const mux = mode === "mux" ? await UDPMux.bind({ address: "127.0.0.1" }) : undefined;
  const servers = Array.from({ length: pairs }, () => {
    if (mux === undefined) return ownAgent(false);
    return attachUDPMux(new Connection(false, { ...LOOPBACK_ICE_OPTIONS }), mux);
  });
  const clients = Array.from({ length: pairs }, () => ownAgent(true));
  try {
    const start = performance.now();
    await Promise.all(servers.map((s, i) => connectPair(clients[i]!, s)));
    const connectMs = performance.now() - start;
    for (const s of servers) {
      if (mux !== undefined && s.nominated?.localCandidate.port !== mux.getListenAddresses()[0]!.port) {
        throw new Error("a server agent did not connect through the mux");
      }
    }

    const payload = Buffer.alloc(MEDIA_BYTES, 0x5a);
    let running = true;
    let echoes = 0;
    const failed = (err: unknown) => {
      console.error("send failed:", err);
      process.exitCode = 1;
    };
    for (const s of servers) s.onData.subscribe((data) => void s.send(data).catch(failed));
    for (const c of clients) {
      c.onData.subscribe(() => {
        echoes++;
        if (running) c.send(payload).catch(failed);
      });
    }
    // Warm up, then measure a window.
    for (const c of clients) for (let i = 0; i < IN_FLIGHT; i++) c.send(payload).catch(failed);
    await new Promise((resolve) => setTimeout(resolve, Math.min(500, echoMs / 2)));
    const before = echoes;
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, echoMs));
    const n = echoes - before;
    const ns = cpuNs(cpu);
    const seconds = (performance.now() - t0) / 1000;
    running = false;
    if (n === 0) throw new Error("no echo came back");
    const result: E2eRun = { mode, pairs, connectMs, echoesPerSecond: n / seconds, cpuNsPerEcho: ns / n };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await Promise.allSettled([...clients, ...servers].map((a) => a.close()));
    await mux?.close();
  }
}

main().then(
  () => process.exit(),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

/**
 * examples/fleet as it is deployed, on one machine: a redis-server on 127.0.0.1 and 2 "hosts", each a node
 * process (`examples/fleet/node.mjs`, 2 workers with a UDPMux + TCPMux each) on its own loopback address
 * (127.0.1.1, 127.0.2.1), against 20 libwebrtc clients that offer (WHIP) to alternating nodes:
 *
 * - a worker killed inside a node is replaced on its port, and takes sessions again;
 * - every client connects and echoes; the answers' candidates span both hosts' addresses and all 4 ports;
 * - SIGKILL of one host's processes: its clients notice (an echo unanswered for 1 s), re-offer, and all
 *   reconnect on the other host within the documented time;
 * - SIGTERM of a host with live sessions (after the first host came back): new offers sent to it land on the
 *   other host, its sessions keep echoing, their DELETEs sent to the other node reach it, and it exits 0
 *   once the last one ended, with no process left.
 *
 * The nodes import `udpmux` from `dist` (CI builds before it tests; locally run `npm run build` first).
 */
import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type FleetNode,
  type FleetSession,
  isAlive,
  offerToFleet,
  type Redis,
  startNode,
  startRedis,
} from "../../examples/fleet/launch.mjs";
import { NODE_TTL_MS } from "../../examples/fleet/registry.mjs";
import { explainFailure, within } from "./harness/failure.js";
import {
  assertLoopbackOnlyNamespace,
  installNetworkGuard,
  type NetworkGuard,
} from "./harness/network-guard.js";
import { WrtcEchoClient } from "./harness/wrtc-client.js";

const HOSTS = [
  { address: "127.0.1.1", port: 41000 },
  { address: "127.0.2.1", port: 42000 },
] as const;
const WORKERS = 2;
const CLIENTS = 20;
const MESSAGES = 10;
/** A client takes its session for dead when an echo is unanswered this long. */
const PROBE_TIMEOUT_MS = 1000;
/**
 * The documented bound from a host's death to every orphaned client reconnected (README "Many hosts"): the
 * client notices (PROBE_TIMEOUT_MS), placements skip the dead node once its key expired (≤ NODE_TTL_MS after
 * its last heartbeat; offers redirected there before fail and are retried), plus a connect.
 */
const REOFFER_BOUND_MS = PROBE_TIMEOUT_MS + NODE_TTL_MS + 4000;
/** New sessions offered to the draining host. */
const NEWCOMERS = 4;

const DIST = ["dist/index.js", "dist/werift.js"].map((file) =>
  fileURLToPath(new URL(`../../${file}`, import.meta.url)),
);

interface NodeView {
  id: string;
  host: string;
  draining: boolean;
  workers: { index: number; pid: number; port: number; alive: boolean; replaced: number }[];
}

interface Client {
  wrtc: WrtcEchoClient;
  session: FleetSession;
  /** `address:port` of the answer's UDP candidates. */
  candidates: string[];
}

const udpCandidates = (sdp: string) =>
  [...sdp.matchAll(/^a=candidate:\S+ \d+ udp \d+ (\S+) (\d+) typ /gim)].map((m) => `${m[1]}:${m[2]}`);

const nodeArgs = (redis: Redis, host: (typeof HOSTS)[number]) => [
  ...["--redis", redis.url, "--host", host.address, "--port", String(host.port)],
  ...["--workers", String(WORKERS), "--http-port", "0", "--drain-timeout", "30000"],
];

async function stats(node: FleetNode): Promise<NodeView> {
  return (await (await fetch(`${node.url}/stats`)).json()) as NodeView;
}

/** WHIP through the fleet from node `first`: offer, gathered candidates, POST (307s followed), both channels open. */
async function connect(name: string, urls: string[], first: number): Promise<Client> {
  const wrtc = new WrtcEchoClient(name);
  const opened = [wrtc.ordered, wrtc.unordered].map(
    (channel) =>
      new Promise<void>((resolve) => {
        channel.onopen = () => resolve();
      }),
  );
  const gathered = new Promise<void>((resolve) => {
    wrtc.pc.onicegatheringstatechange = () => {
      if (wrtc.pc.iceGatheringState === "complete") resolve();
    };
  });
  await wrtc.pc.setLocalDescription(await wrtc.pc.createOffer());
  await gathered;
  const session = await offerToFleet(urls, first, wrtc.pc.localDescription!.sdp);
  wrtc.note(`answered by ${session.answeredBy} (redirected: ${session.redirected}), ${session.location}`);
  wrtc.answers.push(session.answer);
  await wrtc.pc.setRemoteDescription({ type: "answer", sdp: session.answer });
  await within(15_000, `${name} channels open`, Promise.all(opened));
  return { wrtc, session, candidates: udpCandidates(session.answer) };
}

const onHost = (client: Client, host: (typeof HOSTS)[number]) =>
  client.candidates.length > 0 && client.candidates.every((c) => c.startsWith(`${host.address}:`));

describe("examples/fleet: 2 hosts × 2 workers with Redis, libwebrtc clients", () => {
  let guard: NetworkGuard | undefined;
  let redis: Redis | undefined;
  const nodes: FleetNode[] = [];
  /** Every pid any node reported (workers replaced included), for the no-process-left checks. */
  const pids = new Set<number>();
  let clients: Client[] = [];

  beforeAll(() => {
    assertLoopbackOnlyNamespace();
    const missing = DIST.filter((file) => !existsSync(file));
    if (missing.length > 0)
      throw new Error(`examples/fleet imports udpmux from dist: run \`npm run build\` first`);
  });

  afterEach(async () => {
    for (const client of clients) client.wrtc.close();
    clients = [];
    guard?.restore();
    guard = undefined;
    for (const node of nodes.splice(0)) {
      for (const pid of [node.pid, ...node.workers]) pids.add(pid);
    }
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, "SIGKILL"); // ours: started by this test
    pids.clear();
    await redis?.stop();
    redis = undefined;
  });

  it("places on both hosts, survives a dead host and a dead worker, drains a host", async () => {
    guard = installNetworkGuard();
    redis = await startRedis();
    const r = redis;
    for (const [n, host] of HOSTS.entries())
      nodes.push(await startNode(nodeArgs(r, host), { name: `host${n + 1}` }));
    for (const node of nodes) for (const pid of [node.pid, ...node.workers]) pids.add(pid);
    const urls = nodes.map((n) => n.url);
    const report: string[] = [];

    const explain = async () => [
      ...(await Promise.all(clients.map((c) => c.wrtc.describe()))),
      ...nodes.map((n) => `node ${n.url} output:\n${n.output.join("\n")}`),
    ];
    await explainFailure(async () => {
      // Each node printed exactly its pids line and its signaling line, on its own address.
      for (const [n, node] of nodes.entries()) {
        expect(node.stdout).toHaveLength(2);
        expect(node.url).toMatch(new RegExp(`^http://${HOSTS[n]!.address.replaceAll(".", "\\.")}:\\d+$`));
      }

      // A worker killed inside a node is replaced, on the same port.
      const before = await stats(nodes[0]!);
      const victim = before.workers[1]!;
      process.kill(victim.pid, "SIGKILL");
      let after = before;
      for (let i = 0; i < 100; i++) {
        await sleep(100);
        after = await stats(nodes[0]!);
        if (after.workers[1]!.pid !== victim.pid && after.workers[1]!.alive) break;
      }
      expect(after.workers[1]).toMatchObject({ index: 1, port: victim.port, alive: true, replaced: 1 });
      expect(after.workers[1]!.pid).not.toBe(victim.pid);
      expect(isAlive(victim.pid)).toBe(false);
      pids.add(after.workers[1]!.pid);

      // 20 clients through alternating nodes.
      const connectStart = performance.now();
      clients = await within(
        60_000,
        "connecting",
        Promise.all(Array.from({ length: CLIENTS }, (_, i) => connect(`client${i}`, urls, i % nodes.length))),
      );
      const connectMs = performance.now() - connectStart;
      const echoed = await within(
        60_000,
        "echoing",
        Promise.all(clients.map((c, i) => c.wrtc.echo(c.wrtc.ordered, i, MESSAGES))),
      );
      expect(echoed).toEqual(Array(CLIENTS).fill(MESSAGES));
      const endpoints = new Set(clients.flatMap((c) => c.candidates));
      const expected = HOSTS.flatMap((h) => [0, 1].map((i) => `${h.address}:${h.port + i}`));
      expect([...endpoints].sort()).toEqual(expected.sort());
      expect(new Set([...endpoints].map((e) => e.split(":")[1])).size).toBe(4);
      for (const c of clients) expect(new Set(c.candidates).size).toBe(1);
      // Offers to a node whose worker was not picked were redirected, and answered by the owner.
      expect(clients.some((c) => c.session.redirected)).toBe(true);
      for (const c of clients) {
        const owner = HOSTS.findIndex((h) => onHost(c, h));
        expect(c.session.answeredBy).toBe(urls[owner]);
      }
      report.push(
        `${CLIENTS} clients connected in ${connectMs.toFixed(0)} ms on ${[...endpoints].join(", ")}, ` +
          `${clients.filter((c) => c.session.redirected).length} redirected`,
      );

      // A dead host: SIGKILL every process of host 1. Its clients re-offer and land on host 2.
      const host1 = await stats(nodes[0]!);
      const host1Pids = [nodes[0]!.pid, ...host1.workers.map((w) => w.pid)];
      const orphans = clients.filter((c) => onHost(c, HOSTS[0]));
      expect(orphans.length).toBeGreaterThan(0);
      const killedAt = performance.now();
      for (const pid of host1Pids) process.kill(pid, "SIGKILL");
      const reconnected = await within(
        30_000,
        "re-offering",
        Promise.all(
          orphans.map(async (orphan, k) => {
            // It notices: an echo unanswered for PROBE_TIMEOUT_MS (bounded: 20 probes).
            for (let probe = 0; probe < 20; probe++) {
              try {
                await within(
                  PROBE_TIMEOUT_MS,
                  "probe",
                  orphan.wrtc.echo(orphan.wrtc.unordered, 1000 + probe, 1),
                );
                await sleep(100);
              } catch {
                break;
              }
            }
            const noticedMs = performance.now() - killedAt;
            orphan.wrtc.close();
            const fresh = await connect(`${orphan.wrtc.name}-again`, urls, k % urls.length);
            clients[clients.indexOf(orphan)] = fresh;
            expect(await fresh.wrtc.echo(fresh.wrtc.ordered, 2000 + k, MESSAGES)).toBe(MESSAGES);
            return { fresh, noticedMs, doneMs: performance.now() - killedAt };
          }),
        ),
      );
      const reofferMs = Math.max(...reconnected.map((r) => r.doneMs));
      for (const { fresh } of reconnected) expect(onHost(fresh, HOSTS[1])).toBe(true);
      expect(reofferMs).toBeLessThan(REOFFER_BOUND_MS);
      expect(host1Pids.filter(isAlive)).toEqual([]);
      report.push(
        `SIGKILL host 1: ${orphans.length} clients re-offered, all reconnected on host 2 within ` +
          `${reofferMs.toFixed(0)} ms (noticed after ≤ ${Math.max(...reconnected.map((r) => r.noticedMs)).toFixed(0)} ms; bound ${REOFFER_BOUND_MS} ms)`,
      );
      // Its entries expire: once NODE_TTL_MS passed, the fleet is host 2 alone.
      await sleep(Math.max(0, NODE_TTL_MS - (performance.now() - killedAt)) + 200);
      const fleet = (await (await fetch(`${urls[1]}/fleet`)).json()) as NodeView[];
      expect(fleet.map((n) => n.host)).toEqual([HOSTS[1].address]);

      // Draining: host 1 comes back (same address and ports), host 2 gets SIGTERM with its live sessions.
      nodes[0] = await startNode(nodeArgs(r, HOSTS[0]), { name: "host1-again" });
      for (const pid of [nodes[0].pid, ...nodes[0].workers]) pids.add(pid);
      urls[0] = nodes[0].url;
      const host2 = await stats(nodes[1]!);
      const host2Pids = [nodes[1]!.pid, ...host2.workers.map((w) => w.pid)];
      const live = clients.filter((c) => onHost(c, HOSTS[1]));
      expect(live).toHaveLength(CLIENTS);
      const drainAt = performance.now();
      nodes[1]!.child.kill("SIGTERM");
      // Draining is in Redis as soon as the node's immediate heartbeat lands.
      for (let i = 0; i < 50; i++) {
        const view = (await (await fetch(`${urls[0]}/fleet`)).json()) as NodeView[];
        if (view.find((n) => n.host === HOSTS[1].address)?.draining) break;
        await sleep(20);
      }
      // New sessions offered to the draining host land on host 1.
      const newcomers = await Promise.all(
        Array.from({ length: NEWCOMERS }, (_, i) => connect(`newcomer${i}`, [urls[1]!, urls[0]!], 0)),
      );
      clients.push(...newcomers);
      for (const c of newcomers) {
        expect(onHost(c, HOSTS[0])).toBe(true);
        expect(c.session.attempt).toBe(0); // redirected by the draining node itself, not retried
        expect(c.session.redirected).toBe(true);
      }
      // Its sessions keep echoing while it drains; then each ends with a DELETE sent to host 1 (→ 307 → host 2).
      const drainingEchoes = await within(
        30_000,
        "echoing while draining",
        Promise.all(live.map((c, i) => c.wrtc.echo(c.wrtc.unordered, 3000 + i, MESSAGES))),
      );
      expect(drainingEchoes).toEqual(Array(live.length).fill(MESSAGES));
      expect(isAlive(nodes[1]!.pid)).toBe(true);
      // A PATCH sent to host 1 reaches the owner too (trickle with the session's own credentials: 204).
      const local = live[0]!.wrtc.pc.localDescription!.sdp;
      const frag = ["ice-ufrag", "ice-pwd"].map((a) => new RegExp(`^a=${a}:.*$`, "m").exec(local)![0].trim());
      const patched = await fetch(`${urls[0]}${new URL(live[0]!.session.location).pathname}`, {
        method: "PATCH",
        headers: { "content-type": "application/trickle-ice-sdpfrag" },
        body: `${frag.join("\r\n")}\r\n`,
      });
      expect(patched.status).toBe(204);
      expect(patched.redirected).toBe(true);
      for (const c of live) {
        const res = await fetch(`${urls[0]}${new URL(c.session.location).pathname}`, { method: "DELETE" });
        expect(res.status).toBe(200);
        expect(res.redirected).toBe(true);
        c.wrtc.close();
      }
      const [code, signal] = await within(15_000, "host 2 exit after draining", nodes[1]!.exited);
      const drainMs = performance.now() - drainAt;
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(host2Pids.filter(isAlive)).toEqual([]);
      report.push(`SIGTERM host 2: drained ${live.length} sessions and exited in ${drainMs.toFixed(0)} ms`);

      // Only host 1 is left; it stops cleanly too (its newcomers closed by the stop), and nothing runs.
      const fleetAfter = (await (await fetch(`${urls[0]}/fleet`)).json()) as NodeView[];
      expect(fleetAfter.map((n) => n.host)).toEqual([HOSTS[0].address]);
      expect((await fetch(`${urls[0]}/offer/no-such-session`, { method: "DELETE" })).status).toBe(404);
      const host1Again = await stats(nodes[0]!);
      nodes[0]!.child.kill("SIGINT");
      expect(await within(15_000, "host 1 exit", nodes[0]!.exited)).toEqual([0, null]);
      expect([nodes[0]!.pid, ...host1Again.workers.map((w) => w.pid)].filter(isAlive)).toEqual([]);
      await r.stop();
      expect([...pids, r.pid].filter(isAlive)).toEqual([]);
      expect(guard!.violations).toEqual([]);
      console.log(`fleet: ${report.join("; ")}`);
    }, explain);
  });
});

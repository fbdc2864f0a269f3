/**
 * A client process of the `scaling` section, forked with IPC: libwebrtc peer connections (`@roamhq/wrtc`,
 * native: its ICE, DTLS and SCTP cost the client far less CPU than werift's would), one ordered data
 * channel each, non-trickle offers POSTed to the cluster's `/offer`. `connect` opens `peers` of them all at
 * once; `echo` keeps `inFlight` messages of `bytes` in flight on every channel and counts echoes in a
 * window of `ms` (after a 300 ms warm-up); `exit` closes them. No ICE servers: host candidates only, and
 * the only host is loopback (the bench runs in a loopback-only namespace); nothing contacts a STUN server.
 */
import { createRequire } from "node:module";
import type { FromScalingClient, ToScalingClient } from "./lib/scaling-protocol.js";
import { cpuNs } from "./lib/stats.js";

// The package's types pull in DOM globals this project does not load: the slice used here, typed by hand.
interface Channel {
  readonly readyState: string;
  binaryType: string;
  send(data: Uint8Array): void;
  onopen: (() => void) | null;
  onmessage: ((event: { data: ArrayBuffer | string }) => void) | null;
}
interface PeerConnection {
  readonly localDescription: { sdp: string } | null;
  readonly iceGatheringState: string;
  onicegatheringstatechange: (() => void) | null;
  createDataChannel(label: string): Channel;
  createOffer(): Promise<{ type: "offer"; sdp: string }>;
  setLocalDescription(d: { type: "offer"; sdp: string }): Promise<void>;
  setRemoteDescription(d: { type: "answer"; sdp: string }): Promise<void>;
  close(): void;
}
const wrtc = createRequire(import.meta.url)("@roamhq/wrtc") as {
  RTCPeerConnection: new (configuration: { iceServers: [] }) => PeerConnection;
};

const WARM_UP_MS = 300;
const peers: { pc: PeerConnection; channel: Channel }[] = [];
const send = (m: FromScalingClient) => process.send!(m);

async function open(url: string, deadline: AbortSignal): Promise<{ pc: PeerConnection; channel: Channel }> {
  const pc = new wrtc.RTCPeerConnection({ iceServers: [] });
  const channel = pc.createDataChannel("echo");
  channel.binaryType = "arraybuffer";
  peers.push({ pc, channel });
  const opened = new Promise<void>((resolve) => {
    channel.onopen = () => resolve();
  });
  const gathered = new Promise<void>((resolve) => {
    pc.onicegatheringstatechange = () => {
      if (pc.iceGatheringState === "complete") resolve();
    };
  });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered;
  const response = await fetch(`${url}/offer`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sdp: pc.localDescription!.sdp }),
    signal: deadline,
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  const { sdp } = (await response.json()) as { sdp: string };
  await pc.setRemoteDescription({ type: "answer", sdp });
  await new Promise<void>((resolve, reject) => {
    const abort = () => reject(deadline.reason);
    if (deadline.aborted) return abort();
    deadline.addEventListener("abort", abort, { once: true });
    opened.then(resolve).finally(() => deadline.removeEventListener("abort", abort));
  });
  return { pc, channel };
}

async function connect(url: string, n: number, timeoutMs: number): Promise<void> {
  const cpu = process.cpuUsage();
  const deadline = AbortSignal.timeout(timeoutMs);
  const results = await Promise.allSettled(Array.from({ length: n }, () => open(url, deadline)));
  const failed = results.flatMap((r) => (r.status === "rejected" ? [String(r.reason)] : []));
  send({ type: "connected", opened: n - failed.length, failed, cpuNs: cpuNs(cpu) });
}

async function echo(ms: number, inFlight: number, bytes: number): Promise<void> {
  const payload = new Uint8Array(bytes).fill(0x5a);
  let echoes = 0;
  let running = true;
  const live = peers.filter((p) => p.channel.readyState === "open");
  for (const { channel } of live) {
    channel.onmessage = () => {
      echoes++;
      if (running && channel.readyState === "open") channel.send(payload);
    };
    for (let i = 0; i < inFlight; i++) channel.send(payload);
  }
  await new Promise((resolve) => setTimeout(resolve, WARM_UP_MS));
  const before = echoes;
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const n = echoes - before;
  const result: FromScalingClient = {
    type: "echoed",
    echoes: n,
    seconds: (performance.now() - t0) / 1000,
    cpuNs: cpuNs(cpu),
  };
  running = false;
  for (const { channel } of live) channel.onmessage = null;
  send(result);
}

process.on("message", (m: ToScalingClient) => {
  const fail = (err: unknown) => {
    console.error("scaling client:", err);
    process.exit(1);
  };
  if (m.type === "connect") connect(m.url, m.peers, m.timeoutMs).catch(fail);
  else if (m.type === "echo") echo(m.ms, m.inFlight, m.bytes).catch(fail);
  else if (m.type === "exit") {
    for (const { pc } of peers) pc.close();
    // libwebrtc's threads can keep a process alive after close(): exit explicitly.
    setTimeout(() => process.exit(0), 100);
  }
});
process.on("disconnect", () => process.exit(0));
send({ type: "ready" });

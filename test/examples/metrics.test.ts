/**
 * examples/metrics/prometheus.mjs: a real UDPMux and TCPMux on 127.0.0.1, scraped through prom-client's
 * text exposition (format 0.0.4), parsed line by line here. Every metric has HELP and TYPE, counters end
 * in `_total` and follow the mux's totals, drops and TCP rejections carry their reason, gauges go down.
 */
import dgram from "node:dgram";
import { once } from "node:events";
import net from "node:net";
import { Registry } from "prom-client";
import { afterEach, beforeEach, expect, it } from "vitest";
import { METRICS, muxMetrics } from "../../examples/metrics/prometheus.mjs";
import { TCPMux, UDPMux } from "../../src/index.js";

interface Family {
  help?: string;
  type?: string;
  samples: { labels: Record<string, string>; value: number }[];
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`);
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/gy;

/** Prometheus text format 0.0.4, strictly: any line that is not HELP, TYPE or a sample fails the test. */
function parse(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string) => {
    const f = families.get(name) ?? { samples: [] };
    families.set(name, f);
    return f;
  };
  expect(text.endsWith("\n")).toBe(true);
  for (const line of text.slice(0, -1).split("\n")) {
    if (line === "") continue;
    const meta = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line);
    if (meta !== null) {
      const [, kind, name, rest] = meta as unknown as [string, "HELP" | "TYPE", string, string];
      if (kind === "HELP") family(name).help = rest;
      else family(name).type = rest;
      continue;
    }
    const sample = SAMPLE.exec(line);
    if (sample === null) throw new Error(`not a line of the text exposition: ${JSON.stringify(line)}`);
    const [, name, labelText = "", valueText] = sample as unknown as [
      string,
      string,
      string | undefined,
      string,
    ];
    const labels: Record<string, string> = {};
    LABEL.lastIndex = 0;
    let end = 0;
    for (let m = LABEL.exec(labelText); m !== null; m = LABEL.exec(labelText)) {
      labels[m[1]!] = m[2]!;
      end = LABEL.lastIndex;
    }
    if (end !== labelText.length) throw new Error(`bad labels: ${JSON.stringify(line)}`);
    const value = Number(valueText);
    if (Number.isNaN(value)) throw new Error(`bad value: ${JSON.stringify(line)}`);
    // A sample belongs to the family named in its TYPE line (no histogram/summary suffixes here).
    family(name).samples.push({ labels, value });
  }
  return families;
}

/** The value of `name`'s sample with exactly these labels; undefined if there is none. */
function value(families: Map<string, Family>, name: string, labels: Record<string, string>) {
  const samples = families.get(name)?.samples ?? [];
  const found = samples.filter((s) => JSON.stringify(s.labels) === JSON.stringify(labels));
  expect(found.length).toBeLessThanOrEqual(1);
  return found[0]?.value;
}

const handles = (kind: string) => process.getActiveResourcesInfo().filter((r) => r === kind).length;

let udp: UDPMux;
let tcp: TCPMux;
let registry: Registry;
let client: dgram.Socket;
const baseline = { udp: 0, server: 0, socket: 0 };

beforeEach(async () => {
  baseline.udp = handles("UDPWrap");
  baseline.server = handles("TCPServerWrap");
  baseline.socket = handles("TCPSocketWrap");
  udp = await UDPMux.bind({ address: "127.0.0.1", recvBufferSize: 1 << 20 });
  tcp = await TCPMux.listen({ address: "127.0.0.1" });
  registry = muxMetrics({ udp, tcp });
  client = dgram.createSocket("udp4");
  client.bind(0, "127.0.0.1");
  await once(client, "listening");
});

afterEach(async () => {
  await new Promise<void>((resolve) => client.close(() => resolve()));
  await Promise.all([udp.close(), tcp.close()]);
  // Nothing of the test is left: no UDP socket, no TCP server, no TCP connection (handles go a few
  // loop turns after their close callbacks).
  await until(() => handles("UDPWrap") === baseline.udp);
  expect(handles("TCPServerWrap")).toBe(baseline.server);
  expect(handles("TCPSocketWrap")).toBe(baseline.socket);
});

async function scrape() {
  const text = await registry.metrics();
  return { text, families: parse(text) };
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in 5 s");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** `n` datagrams that are not STUN (the mux drops them as `not-stun`), sent to the UDP mux. */
async function junk(n: number): Promise<void> {
  const before = udp.stats().received;
  const { port } = udp.getListenAddresses()[0]!;
  for (let i = 0; i < n; i++) client.send(Buffer.from(`junk ${i}`), port, "127.0.0.1");
  await until(() => udp.stats().received >= before + n);
}

/** A TCP connection whose first RFC 4571 frame is not STUN: the TCP mux closes it (`not-stun`). */
async function junkTcp(): Promise<void> {
  const { port } = tcp.getListenAddresses()[0]!;
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {}); // a reset after the mux closes it is expected; the close is awaited below
  await once(socket, "connect");
  const payload = Buffer.from("GET / HTTP/1.1\r\n\r\n");
  const frame = Buffer.alloc(2 + payload.length);
  frame.writeUInt16BE(payload.length, 0); // RFC 4571: 16-bit length, then the packet
  payload.copy(frame, 2);
  socket.write(frame);
  await once(socket, "close");
}

it("exposes every metric with HELP from the README's table, TYPE, and `_total` on counters only", async () => {
  expect(registry.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  const { text, families } = await scrape();
  expect(METRICS.length).toBeGreaterThanOrEqual(17);
  for (const spec of METRICS) {
    const f = families.get(spec.name);
    expect(f, spec.name).toBeDefined();
    expect(f!.help, spec.name).toBe(spec.help);
    expect(f!.help!.length, spec.name).toBeGreaterThan(10);
    expect(f!.type, spec.name).toBe(spec.type);
    expect(spec.name.endsWith("_total"), spec.name).toBe(spec.type === "counter");
    // Each HELP line comes before its TYPE line and its samples.
    const help = text.indexOf(`# HELP ${spec.name} `);
    expect(help).toBeGreaterThanOrEqual(0);
    expect(text.indexOf(`# TYPE ${spec.name} `)).toBeGreaterThan(help);
  }
  // Nothing but udpmux's families (no default process metrics in this registry).
  expect([...families.keys()].sort()).toEqual(METRICS.map((m) => m.name).sort());
  // Both transports where a field exists on both; the UDP- and TCP-only ones on their own.
  expect(value(families, "udpmux_received_total", { transport: "udp" })).toBe(0);
  expect(value(families, "udpmux_received_total", { transport: "tcp" })).toBe(0);
  expect(value(families, "udpmux_connections", { transport: "tcp" })).toBe(0);
  expect(value(families, "udpmux_tcp_connections", { transport: "tcp" })).toBe(0);
  expect(value(families, "udpmux_tcp_connections", { transport: "udp" })).toBeUndefined();
  expect(value(families, "udpmux_recv_buffer_bytes", { transport: "udp" })).toBe(udp.stats().recvBufferSize);
  expect(value(families, "udpmux_recv_buffer_bytes", { transport: "udp" })).toBeGreaterThanOrEqual(1 << 20);
  // Linux counts kernel drops (and CI runs on Linux): the series is there, at 0 on an idle socket.
  if (process.platform === "linux")
    expect(value(families, "udpmux_kernel_drops_total", { transport: "udp" })).toBe(0);
});

it("counters move between two scrapes: received, dropped by reason, TCP accepted and rejected by reason", async () => {
  const first = (await scrape()).families;
  expect(value(first, "udpmux_dropped_total", { transport: "udp", reason: "not-stun" })).toBeUndefined();

  await junk(3);
  await junkTcp();
  await until(() => tcp.stats().rejected === 1);

  const second = (await scrape()).families;
  expect(value(second, "udpmux_received_total", { transport: "udp" })).toBe(3);
  expect(value(second, "udpmux_delivered_total", { transport: "udp" })).toBe(0);
  expect(value(second, "udpmux_dropped_total", { transport: "udp", reason: "not-stun" })).toBe(3);
  expect(value(second, "udpmux_received_total", { transport: "tcp" })).toBe(1);
  expect(value(second, "udpmux_dropped_total", { transport: "tcp", reason: "not-stun" })).toBe(1);
  expect(value(second, "udpmux_tcp_accepted_total", { transport: "tcp" })).toBe(1);
  expect(value(second, "udpmux_tcp_rejected_total", { transport: "tcp", reason: "not-stun" })).toBe(1);
  expect(value(second, "udpmux_tcp_connections", { transport: "tcp" })).toBe(0);

  // Counters follow the mux's totals: more junk, higher counters, never reset by scraping.
  await junk(2);
  const third = (await scrape()).families;
  expect(value(third, "udpmux_received_total", { transport: "udp" })).toBe(5);
  expect(value(third, "udpmux_dropped_total", { transport: "udp", reason: "not-stun" })).toBe(5);
  expect(value(third, "udpmux_tcp_rejected_total", { transport: "tcp", reason: "not-stun" })).toBe(1);
  // The sum over reasons is stats().dropped.
  const dropped = second.get("udpmux_dropped_total")!.samples.filter((s) => s.labels.transport === "udp");
  expect(dropped.reduce((sum, s) => sum + s.value, 0)).toBe(3);
});

it("gauges go up and down with the mux", async () => {
  const conn = udp.getConn("abcd");
  const tcpConn = tcp.getConn("efgh");
  let { families } = await scrape();
  expect(value(families, "udpmux_connections", { transport: "udp" })).toBe(1);
  expect(value(families, "udpmux_connections", { transport: "tcp" })).toBe(1);
  conn.close();
  tcpConn.close();
  ({ families } = await scrape());
  expect(value(families, "udpmux_connections", { transport: "udp" })).toBe(0);
  expect(value(families, "udpmux_connections", { transport: "tcp" })).toBe(0);
});

it("a registry of one's own, and a UDP mux alone: only the UDP families", async () => {
  const own = new Registry();
  expect(muxMetrics({ udp, registry: own })).toBe(own);
  const families = parse(await own.metrics());
  expect(families.has("udpmux_tcp_accepted_total")).toBe(false);
  expect(families.has("udpmux_received_total")).toBe(true);
  expect(value(families, "udpmux_received_total", { transport: "tcp" })).toBeUndefined();
  expect(() => muxMetrics({})).toThrow(TypeError);
});

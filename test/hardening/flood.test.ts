/**
 * Flood (issue 5, "Tests that try"): 200,000 Binding Requests with random valid ufrags from 1,000 source
 * ports, sent at full speed by a child process to 127.0.0.1, while a legitimate session with a real ICE
 * password (signed checks, then data echoed by the server's conn) runs through the same mux.
 *
 * Measured: the retained heap of this process (after a forced GC, so garbage doesn't count) between the
 * moment the legitimate session is up and the moment every flood datagram has been routed. That is the
 * mux's growth plus the little the test itself keeps; the flooder's memory is in the child. Maps are
 * sampled during the flood and must stay within their bounds. The legitimate session's every message must
 * arrive: the kernel may drop datagrams when the mux's socket buffer overflows (counted from
 * /proc/net/snmp where available), so the client retransmits what wasn't echoed, as SCTP would.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULTS, type MuxedConnection, type UDPMux } from "../../src/index.js";
import { bindingRequest, closeAll, mux, socket } from "../helpers.js";

const REQUESTS = 200_000;
const SOURCES = 1_000;
const MESSAGES = 300;
const MiB = 1024 * 1024;

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

let flooder: ChildProcess | undefined;

afterEach(async () => {
  if (flooder !== undefined && flooder.exitCode === null && flooder.signalCode === null) {
    const exited = once(flooder, "exit");
    flooder.kill();
    await exited;
  }
  flooder = undefined;
  await closeAll();
});

/** The flooder: 1,000 sockets on 127.0.0.1, random 8-char local and 4-char remote ufrags, no pacing. */
const FLOODER = `
import { once } from "node:events";
import { randomBytes } from "node:crypto";
const [port, count, sources] = process.argv.slice(1).map(Number);
const ICE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
const sockets = [];
for (let i = 0; i < sources; i++) {
  const s = dgram.createSocket("udp4");
  s.bind(0, "127.0.0.1");
  await once(s, "listening");
  sockets.push(s);
}
function request() {
  const buf = Buffer.alloc(40); // header + USERNAME "LLLLLLLL:RRRR" padded to 16
  const r = randomBytes(24);
  buf.writeUInt16BE(0x0001, 0); buf.writeUInt16BE(20, 2); buf.writeUInt32BE(0x2112a442, 4);
  r.copy(buf, 8, 0, 12);
  buf.writeUInt16BE(0x0006, 20); buf.writeUInt16BE(13, 22);
  for (let i = 0; i < 8; i++) buf[24 + i] = ICE.charCodeAt(r[12 + i] & 63);
  buf[32] = 0x3a;
  for (let i = 0; i < 4; i++) buf[33 + i] = ICE.charCodeAt(r[20 + i] & 63);
  return buf;
}
process.send("ready");
const start = process.hrtime.bigint();
let sent = 0;
while (sent < count) {
  const batch = [];
  for (let i = 0; i < 2000 && sent < count; i++, sent++) {
    const s = sockets[sent % sources];
    batch.push(new Promise((resolve) => s.send(request(), port, "127.0.0.1", resolve)));
  }
  await Promise.all(batch);
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
process.send({ sent, seconds });
await Promise.all(sockets.map((s) => new Promise((resolve) => s.close(resolve))));
`;

/** The kernel's count of UDP datagrams dropped for a full receive buffer (this network namespace). */
function udpReceiveBufferErrors(): number | undefined {
  try {
    const lines = readFileSync("/proc/net/snmp", "utf8")
      .split("\n")
      .filter((l) => l.startsWith("Udp:"));
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/);
    return Number(values[names.indexOf("RcvbufErrors")]);
  } catch {
    return undefined;
  }
}

function retainedHeap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** A legitimate peer: a signed check, then numbered data the server's conn echoes back. */
async function legitimateSession(m: UDPMux) {
  const password = "legitimatePassword0123456789";
  const server: MuxedConnection = m.getConn("legitServer", undefined, { password });
  const serverGot = new Set<number>();
  const echoErrors: unknown[] = [];
  server.on("message", (msg, rinfo) => {
    if (msg[0] !== 0x17) return; // the check
    const seq = msg.readInt32BE(1);
    serverGot.add(seq);
    server.writeTo(msg, rinfo).catch((err: unknown) => echoErrors.push(err));
  });
  const client = await socket();
  const { port } = m.getListenAddresses()[0]!;
  const echoed = new Set<number>();
  const waiters = new Map<number, () => void>();
  client.on("message", (msg) => {
    if (msg[0] !== 0x17) return;
    const seq = msg.readInt32BE(1);
    echoed.add(seq);
    waiters.get(seq)?.();
  });
  const sendSeq = (seq: number) => {
    const msg = Buffer.alloc(64);
    msg[0] = 0x17; // DTLS application data (RFC 7983): not STUN
    msg.writeInt32BE(seq, 1);
    client.send(msg, port, "127.0.0.1");
  };
  /** Send `seq` until its echo comes back (kernel drops under the flood are retransmitted). */
  const roundTrip = async (seq: number): Promise<number> => {
    let retransmissions = 0;
    const back = new Promise<void>((resolve) => waiters.set(seq, resolve));
    sendSeq(seq);
    while (!echoed.has(seq)) {
      const timer = new Promise((resolve) => setTimeout(resolve, 200, "timeout"));
      if ((await Promise.race([back, timer])) === "timeout") {
        retransmissions++;
        sendSeq(seq);
      }
    }
    waiters.delete(seq);
    return retransmissions;
  };
  const check = bindingRequest("legitServer:legitClient", password);
  const checked = new Promise<void>((resolve) => server.once("message", () => resolve()));
  client.send(check, port, "127.0.0.1");
  await checked;
  return { server, serverGot, echoed, echoErrors, roundTrip };
}

describe("flood", () => {
  it.each([
    {
      name: "a werift-style server (getConn only; unclaimed conns wait in the accept queue)",
      accepting: false,
    },
    { name: "a server accepting every candidate (conns grow to maxConnections)", accepting: true },
  ])(
    "200,000 random-ufrag checks from 1,000 ports: $name",
    async ({ accepting }) => {
      const m = await mux();
      const { port } = m.getListenAddresses()[0]!;
      const legit = await legitimateSession(m);
      expect(await legit.roundTrip(0)).toBe(0); // the session works before the flood

      let accepted = 0;
      const acceptLoop = accepting
        ? (async () => {
            for await (const _ of m) accepted++;
          })()
        : undefined;

      const kernelDropsBefore = udpReceiveBufferErrors();
      const heapBefore = retainedHeap();
      const peak = { connections: 0, addresses: 0, acceptQueue: 0, transactions: 0 };
      const sampler = setInterval(() => {
        const s = m.stats();
        for (const key of Object.keys(peak) as (keyof typeof peak)[]) peak[key] = Math.max(peak[key], s[key]);
      }, 20);

      flooder = spawn(
        process.execPath,
        ["--input-type=module", "-e", FLOODER, String(port), String(REQUESTS), String(SOURCES)],
        { stdio: ["ignore", "inherit", "inherit", "ipc"] },
      );
      const messages = (async function* (child: ChildProcess) {
        while (true) yield ((await once(child, "message")) as [unknown])[0];
      })(flooder);
      expect((await messages.next()).value).toBe("ready");
      const receivedBefore = m.stats().received;

      // The legitimate session talks throughout the flood.
      const done = messages.next();
      let retransmissions = 0;
      let seq = 1;
      let finished = false;
      void done.then(() => {
        finished = true;
      });
      while (!finished || seq <= MESSAGES) {
        retransmissions += await legit.roundTrip(seq++);
      }
      const { sent, seconds } = (await done).value as { sent: number; seconds: number };
      // Datagrams on one socket are read in order: once this echo is back, the flood has been routed.
      retransmissions += await legit.roundTrip(-1);
      clearInterval(sampler);
      const floodReceived = m.stats().received - receivedBefore - (seq - 1) - retransmissions - 1;
      const heapAfter = retainedHeap();
      const kernelDropsAfter = udpReceiveBufferErrors();
      const stats = m.stats();

      const growth = (heapAfter - heapBefore) / MiB;
      console.log(
        `flood (${accepting ? "accepting" : "not accepting"}): ${sent} checks from ${SOURCES} ports in ${seconds.toFixed(2)} s ` +
          `= ${Math.round(sent / seconds)} requests/s sent; the mux received ${floodReceived} ` +
          `(kernel receive-buffer drops: ${kernelDropsAfter !== undefined && kernelDropsBefore !== undefined ? kernelDropsAfter - kernelDropsBefore : "n/a"}); ` +
          `retained heap growth ${growth.toFixed(2)} MiB; peak ${JSON.stringify(peak)}; ` +
          `legitimate messages ${seq - 1}, retransmitted ${retransmissions}; drops ${JSON.stringify(stats.droppedByReason)}` +
          (accepting ? `; accepted ${accepted}` : ""),
      );

      expect(sent).toBe(REQUESTS);
      expect(floodReceived).toBeGreaterThan(REQUESTS / 4); // the mux really was flooded
      // Every legitimate message arrived at the server's conn, and every echo came back.
      for (let i = -1; i < seq; i++) {
        expect(legit.serverGot.has(i)).toBe(true);
        expect(legit.echoed.has(i)).toBe(true);
      }
      expect(legit.echoErrors).toEqual([]);
      expect(legit.server.closed).toBe(false);
      // The maps stayed within their bounds the whole time.
      expect(peak.connections).toBeLessThanOrEqual(DEFAULTS.maxConnections);
      expect(peak.acceptQueue).toBeLessThanOrEqual(DEFAULTS.acceptQueueSize);
      expect(peak.addresses).toBeLessThanOrEqual(peak.connections * DEFAULTS.maxAddressesPerUfrag);
      expect(stats.transactions).toBe(0);
      if (accepting) {
        expect(stats.connections).toBe(DEFAULTS.maxConnections);
        expect(stats.droppedByReason["cap-reached"]).toBeGreaterThan(0);
      } else {
        expect(stats.connections).toBeLessThanOrEqual(1 + DEFAULTS.acceptQueueSize);
        expect(stats.droppedByReason["accept-queue-full"]).toBeGreaterThan(0);
      }
      expect(stats.droppedByReason["integrity-failed"]).toBeUndefined();
      // The bar, also when a server accepts every candidate and the flood fills maxConnections,
      // each conn holding its first check (the queue ring grows on demand, 4 slots for that one packet).
      expect(growth).toBeLessThan(20);

      await m.close();
      await acceptLoop;
      expect(m.stats()).toMatchObject({ connections: 0, addresses: 0, acceptQueue: 0, transactions: 0 });
    },
    60_000,
  );
});

/**
 * The receive buffer one socket needs for every peer's bursts (`UDPMux.bind()` asks for 4 MiB), the warning
 * when the kernel grants less, and the kernel drops `stats()` shows when it overflows anyway.
 */
import dgram from "node:dgram";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { UDPMux } from "../../src/index.js";
import { closeAll, mux, socket, track } from "../helpers.js";

const MiB = 1024 * 1024;
const linux = process.platform === "linux";
/** Linux reports twice the size that was set (the doubling covers its bookkeeping). */
const reported = (set: number) => (linux ? 2 * set : set);
const rmemMax = linux ? Number(readFileSync("/proc/sys/net/core/rmem_max", "utf8")) : undefined;

/** Every `UDPMuxWarning` emitted while a test runs. */
let warnings: (Error & { code?: string; detail?: string })[] = [];
const onWarning = (w: Error) => {
  if (w.name === "UDPMuxWarning") warnings.push(w);
};
beforeEach(() => {
  warnings = [];
  process.on("warning", onWarning);
});
afterEach(async () => {
  process.off("warning", onWarning);
  await closeAll();
});

/** process.emitWarning emits on the next tick. */
const warningsSettled = () => new Promise((resolve) => setImmediate(resolve));

describe("receive buffer", () => {
  it.runIf(rmemMax !== undefined && rmemMax >= 4 * MiB)(
    "bind() gives the socket 4 MiB by default, and says nothing when it got it",
    async () => {
      const m = await mux();
      expect(m.stats().recvBufferSize).toBe(reported(4 * MiB));
      await warningsSettled();
      expect(warnings).toEqual([]);
    },
  );

  it.runIf(linux)("an explicit recvBufferSize is what the socket gets", async () => {
    const m = await mux({ recvBufferSize: 256 * 1024 });
    expect(m.stats().recvBufferSize).toBe(reported(256 * 1024));
  });

  it.runIf(rmemMax !== undefined)(
    "asking for more than net.core.rmem_max warns once, with a stable code and the sysctl to raise",
    async () => {
      const m = await mux({ recvBufferSize: 2 * rmemMax! });
      expect(m.stats().recvBufferSize).toBe(reported(rmemMax!)); // capped, as the warning says
      await warningsSettled();
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.code).toBe("UDPMUX_RECV_BUFFER_SMALL");
      expect(warnings[0]!.detail).toContain("net.core.rmem_max");
      m.stats(); // reading stats doesn't warn again
      await warningsSettled();
      expect(warnings).toHaveLength(1);
    },
  );

  it("new UDPMux(socket) leaves a small caller's buffer alone and warns", async () => {
    const s = dgram.createSocket({ type: "udp4", recvBufferSize: 128 * 1024 });
    s.bind(0, "127.0.0.1");
    await once(s, "listening");
    const before = s.getRecvBufferSize();
    const m = track(new UDPMux(s));
    expect(s.getRecvBufferSize()).toBe(before);
    expect(m.stats().recvBufferSize).toBe(before);
    await warningsSettled();
    expect(warnings.map((w) => w.code)).toEqual(["UDPMUX_RECV_BUFFER_SMALL"]);
    expect(warnings[0]!.message).toContain(`reports ${linux ? 256 : 128} KiB`);
  });

  it.runIf(rmemMax !== undefined && rmemMax >= MiB)(
    "new UDPMux(socket) says nothing about a socket of 1 MiB",
    async () => {
      const s = dgram.createSocket({ type: "udp4", recvBufferSize: MiB });
      s.bind(0, "127.0.0.1");
      await once(s, "listening");
      track(new UDPMux(s));
      await warningsSettled();
      expect(warnings).toEqual([]);
    },
  );
});

/** Floods 127.0.0.1:port from a worker thread; posts the number sent when done. */
const FLOOD_WORKER = `
const dgram = require("node:dgram");
const { workerData, parentPort } = require("node:worker_threads");
const s = dgram.createSocket("udp4");
const payload = Buffer.alloc(workerData.size, 0x17); // not STUN: first byte 0x17 (a DTLS record type)
let queued = 0;
let sent = 0;
function burst() {
  for (let i = 0; i < 200 && queued < workerData.count; i++, queued++) {
    s.send(payload, workerData.port, "127.0.0.1", (err) => {
      if (err) throw err;
      if (++sent === workerData.count) s.close(() => parentPort.postMessage(sent));
    });
  }
  if (queued < workerData.count) setImmediate(burst);
}
parentPort.once("message", burst);
`;

describe.runIf(linux)("kernel drops", () => {
  it("a blocked event loop under a flood: the kernel's drops show in stats(), and nothing else is lost", async () => {
    const m = await mux({ recvBufferSize: 64 * 1024 });
    const { port } = m.getListenAddresses()[0]!;
    expect(await m.refreshKernelDrops()).toBe(0); // the first read, the baseline, is done before the flood
    const count = 3000;
    const worker = new Worker(FLOOD_WORKER, { eval: true, workerData: { port, count, size: 1000 } });
    const done = once(worker, "message");
    await once(worker, "online");
    worker.postMessage("go");
    // Block this thread for ~300 ms while the worker floods: 3 MB can't fit in a 64 KiB buffer.
    const blockedUntil = Date.now() + 300;
    while (Date.now() < blockedUntil) {
      /* busy: the event loop doesn't read the socket */
    }
    const [sent] = (await done) as [number];
    await worker.terminate();
    expect(sent).toBe(count);
    // Whatever the kernel kept is read once the loop turns.
    await until(async () => m.stats().received + ((await m.refreshKernelDrops()) ?? 0) >= count); // asserted below
    const { received, kernelDrops, dropped } = m.stats();
    expect(kernelDrops).toBe(await m.refreshKernelDrops()); // stats() shows the last read
    expect(kernelDrops).toBeGreaterThan(0);
    expect(received + kernelDrops!).toBe(count); // loopback loses nothing else
    expect(dropped).toBe(received); // junk: every datagram that reached the mux was dropped as not-stun
  });

  it("finds IPv6 and dual-stack sockets too (in /proc/net/udp6)", async () => {
    const v6 = await mux({ address: "::1" });
    const dual = await mux({ address: "::" });
    expect(await v6.refreshKernelDrops()).toBe(0);
    expect(await dual.refreshKernelDrops()).toBe(0);
  });

  it("stats() shows the count of the last read, refreshed every kernelDropsIntervalMs", async () => {
    const s = await socket();
    const { port } = s.address();
    s.setRecvBufferSize(4096);
    const m = track(new UDPMux(s, { closeSocket: false, kernelDropsIntervalMs: 50 }));
    expect(m.stats().kernelDrops).toBe(0); // before the first read completes, too
    expect(await m.refreshKernelDrops()).toBe(0);
    // Not started yet: nobody reads the socket, so 50 KB overflow its buffer.
    const sender = await socket();
    const sent = Array.from(
      { length: 50 },
      () =>
        new Promise((resolve, reject) =>
          sender.send(Buffer.alloc(1000), port, "127.0.0.1", (err) => (err ? reject(err) : resolve(err))),
        ),
    );
    await Promise.all(sent);
    expect(m.stats().kernelDrops).toBe(0); // not read yet
    m.start(); // starts the timer: no refreshKernelDrops() from here on
    expect(await until(() => (m.stats().kernelDrops ?? 0) > 0)).toBe(true);
    expect(m.stats().kernelDrops).toBeGreaterThan(0);
  });

  it("refreshKernelDrops() takes an AbortSignal, and resolves with the last count after close()", async () => {
    const m = await mux();
    await expect(m.refreshKernelDrops({ signal: AbortSignal.abort(new Error("stop")) })).rejects.toThrow(
      "stop",
    );
    const aborting = new AbortController();
    const refreshing = m.refreshKernelDrops({ signal: aborting.signal });
    aborting.abort(new Error("later"));
    await expect(refreshing).rejects.toThrow("later");
    await expect(m.refreshKernelDrops({ signal: "no" as never })).rejects.toMatchObject({
      code: "ERR_INVALID_ARG_TYPE",
    });
    expect(await m.refreshKernelDrops()).toBe(0);
    await m.close();
    expect(await m.refreshKernelDrops()).toBe(0);
    expect(m.stats().kernelDrops).toBe(0);
  });

  it("counts from the mux's start, not the socket's", async () => {
    const s = await socket();
    const { port } = s.address();
    s.setRecvBufferSize(4096);
    const first = track(new UDPMux(s, { closeSocket: false })); // never started: nobody reads the socket
    expect(await first.refreshKernelDrops()).toBe(0); // its first read: counting starts
    const sender = await socket();
    for (let i = 0; i < 50; i++) sender.send(Buffer.alloc(1000), port, "127.0.0.1");
    expect(await until(async () => ((await first.refreshKernelDrops()) ?? 0) > 0)).toBe(true);
    const second = track(new UDPMux(s, { closeSocket: false }));
    expect(await second.refreshKernelDrops()).toBe(0);
    expect(await first.refreshKernelDrops()).toBeGreaterThan(0);
  });
});

/**
 * Poll `condition` every 10 ms for up to 5 s (the kernel's counters have no event to await); whether it
 * became true. Callers assert on the values themselves, so a failure shows them.
 */
async function until(condition: () => boolean | Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + 5000;
  while (!(await condition())) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

for (const [skipped, reason] of [
  [!linux, "kernel drops and the doubled SO_RCVBUF are Linux facts: their tests run on Linux only"],
  [
    rmemMax !== undefined && rmemMax < 4 * MiB,
    `net.core.rmem_max is ${rmemMax}: the 4 MiB default can't be granted here, so only the warning is tested`,
  ],
] as const) {
  if (skipped) console.info(`recv-buffer.test.ts: skipped: ${reason}`);
}

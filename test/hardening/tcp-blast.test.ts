/**
 * Hostile peers, row 1: one authenticated ICE-TCP peer blasting 64 KiB frames at an attached werift agent
 * raises live `ArrayBuffer` memory (after a forced GC) by at most 4 MiB while it sends, and by at most
 * 1 MiB a second after it stops.
 *
 * The agent (werift 0.25.2) is attached to a UDPMux and a TCPMux on 127.0.0.1. The "peer" is a raw TCP
 * socket: one signed Binding Request for the agent's ufrag (RFC 4571 framed), then frames of 65,535 bytes
 * of junk (not STUN: werift hands them to its data path) as fast as the socket takes them for 4 s. It
 * writes one and the same buffer and waits for `'drain'` whenever `write()` says so, so the test itself
 * holds at most one frame. What the process holds beyond that is the mux's and the adapter's: frames read
 * and waiting for werift. Before the adapter bounded its queue in bytes per TCP connection (pausing the
 * connection at the TCP mux's `maxQueuedBytes`), it held up to 1,024 frames per agent and family: 64 MiB.
 *
 * Also asserted, so the bound can't be met by starving the peer: frames reached werift, and the adapter
 * paused the connection at least once (`tcp.stats().pausedConnections`). Timing-independent: every
 * threshold is a bound, not a rate.
 */
import { once } from "node:events";
import { connect } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { Connection } from "werift";
import { TCPMux, UDPMux } from "../../src/index.js";
import { attachUDPMux } from "../../src/werift/index.js";
import { bindingRequest } from "../helpers.js";
import { type IceAgent, LOOPBACK_ICE_OPTIONS, useWeriftSuite } from "../werift/helpers.js";

const { closer } = useWeriftSuite();

const MiB = 1024 * 1024;
const SEND_MS = 4000;
const SAMPLE_MS = 250;
const AFTER_MS = 1000;
/** The largest RFC 4571 payload. */
const FRAME_BYTES = 0xffff;

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Live `ArrayBuffer` bytes (Buffers included), garbage collected first. */
function liveArrayBuffers(): number {
  gc();
  gc();
  return process.memoryUsage().arrayBuffers;
}

function framed(payload: Buffer): Buffer {
  const header = Buffer.alloc(2);
  header.writeUInt16BE(payload.length);
  return Buffer.concat([header, payload]);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const mib = (bytes: number) => (bytes / MiB).toFixed(2);

describe("hostile ICE-TCP peer", () => {
  it("one authenticated peer blasting 64 KiB frames for 4 s: ≤ 4 MiB of ArrayBuffers while it sends, ≤ 1 MiB 1 s after", async () => {
    const mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    const tcp = closer.add(await TCPMux.listen({ address: "127.0.0.1" }));
    const agent = closer.add(
      attachUDPMux(new Connection(false, { ...LOOPBACK_ICE_OPTIONS }) as unknown as IceAgent, mux, {
        tcpMux: tcp,
      }),
    );
    await agent.gatherCandidates();

    // Count what reaches werift, and whether the connection is paused while werift works through it.
    const passive = agent.protocols.find((p) => (p as { type?: string }).type === "tcp") as {
      handleFrame(data: Buffer, addr: unknown): void;
    };
    expect(passive).toBeDefined();
    let handled = 0;
    let junkHandled = 0;
    let sawPaused = false;
    const handleFrame = passive.handleFrame;
    passive.handleFrame = function (data, addr) {
      handled++;
      if (data.length === FRAME_BYTES) junkHandled++;
      if (!sawPaused && tcp.stats().pausedConnections > 0) sawPaused = true;
      handleFrame.call(this, data, addr);
    };

    const { port } = tcp.getListenAddresses()[0]!;
    const socket = connect(port, "127.0.0.1");
    closer.add({ close: () => socket.destroy() });
    const socketErrors: Error[] = [];
    socket.on("error", (err) => socketErrors.push(err));
    socket.on("data", () => {}); // werift's Binding response
    await once(socket, "connect");
    socket.write(framed(bindingRequest(`${agent.localUsername}:peer`, agent.localPassword)));
    await expect.poll(() => handled, { timeout: 5000 }).toBe(1);
    expect(tcp.stats().tcpConnections).toBe(1);

    const junk = framed(Buffer.alloc(FRAME_BYTES, 0x80)); // 0x80: an RTP first byte (RFC 7983), not STUN
    const base = liveArrayBuffers();
    let peak = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, liveArrayBuffers() - base);
    }, SAMPLE_MS);
    let written = 0;
    try {
      const end = Date.now() + SEND_MS;
      while (Date.now() < end && !socket.destroyed) {
        written++;
        if (socket.write(junk)) continue;
        // 'drain', or the end of the blast: a paused peer must not hold the test past it
        const signal = AbortSignal.timeout(Math.max(1, end - Date.now()));
        await once(socket, "drain", { signal }).catch((err: unknown) => {
          if ((err as { name?: string }).name !== "AbortError") throw err;
        });
      }
      peak = Math.max(peak, liveArrayBuffers() - base);
    } finally {
      clearInterval(sampler);
    }
    await sleep(AFTER_MS);
    const after = liveArrayBuffers() - base;

    const seconds = SEND_MS / 1000;
    console.log(
      `tcp-blast: ArrayBuffers +${mib(peak)} MiB at peak while sending, +${mib(after)} MiB ${AFTER_MS} ms after; ` +
        `${written} frames written, ${junkHandled} reached werift (${mib((junkHandled * FRAME_BYTES) / seconds)} MiB/s); ` +
        `paused seen: ${sawPaused}`,
    );
    expect(socketErrors).toEqual([]);
    expect(junkHandled).toBeGreaterThan(0);
    expect(sawPaused).toBe(true);
    expect(peak).toBeLessThanOrEqual(4 * MiB);
    expect(after).toBeLessThanOrEqual(1 * MiB);
  }, 30_000);
});

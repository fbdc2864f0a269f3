/**
 * The junk source of the load bench, run as a child process (forked, IPC): RTP-shaped datagrams (first
 * byte 0x80: neither STUN nor DTLS, RFC 7983) of 100 to 1,200 bytes, from 8 sockets on 127.0.0.1, to the
 * server's ports in turn, paced at `rate` per second. Stops on `stop`, after `ms` (at most 30 s), after
 * `rate × ms` datagrams, or when the parent goes away, whichever comes first. See lib/load-protocol.ts.
 */
import type { Socket } from "node:dgram";
import type { FromFlooder, ToFlooder } from "./lib/load-protocol.js";
import { JUNK_MAX_BYTES, JUNK_MIN_BYTES, MAX_FLOOD_MS } from "./lib/load-protocol.js";
import { bindLoopback, closeSocket } from "./lib/socket.js";

/** Source sockets: junk comes from several addresses, as it would from outside. */
const SOURCES = 8;
/** A timer tick sends what is due since the last one; Node's timers fire every ~1 ms at best. */
const TICK_MS = 1;
/** At most this many datagrams per tick, so a stalled loop doesn't catch up in one burst. */
const MAX_PER_TICK = 200;

function junk(): Buffer {
  const buf = Buffer.alloc(JUNK_MAX_BYTES, 0xab);
  buf[0] = 0x80; // RTP version 2
  buf[1] = 0x60; // payload type 96
  return buf;
}

/** The size of datagram `i`: spread evenly over 100–1,200 bytes (397 is prime to the 1,101 sizes). */
function sizeOf(i: number): number {
  return JUNK_MIN_BYTES + ((i * 397) % (JUNK_MAX_BYTES - JUNK_MIN_BYTES + 1));
}

class Flood {
  #ports: number[];
  readonly #sockets: Socket[];
  readonly #rate: number;
  readonly #limit: number;
  readonly #deadline: number;
  readonly #payload = junk();
  #sent = 0;
  #first = 0;
  #last = 0;
  /** Datagrams owed since this time (reset while there is nowhere to send: nothing accumulates). */
  #since = performance.now();
  #owedBefore = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #done: Promise<void>;
  #finish!: () => void;

  constructor(sockets: Socket[], ports: number[], rate: number, ms: number) {
    this.#sockets = sockets;
    this.#ports = ports;
    this.#rate = rate;
    const bounded = Math.min(ms, MAX_FLOOD_MS);
    this.#limit = Math.ceil((rate * bounded) / 1000);
    this.#deadline = performance.now() + bounded;
    this.#done = new Promise((resolve) => {
      this.#finish = resolve;
    });
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  set ports(ports: number[]) {
    if (this.#ports.length === 0) this.#restartClock();
    this.#ports = ports;
  }

  #restartClock(): void {
    this.#owedBefore = this.#sent;
    this.#since = performance.now();
  }

  #tick(): void {
    const now = performance.now();
    if (now >= this.#deadline || this.#sent >= this.#limit) return this.stop();
    if (this.#ports.length === 0) return this.#restartClock();
    const due = Math.min(
      this.#owedBefore + Math.floor(((now - this.#since) * this.#rate) / 1000),
      this.#limit,
    );
    const n = Math.min(due - this.#sent, MAX_PER_TICK);
    if (n <= 0) return;
    if (this.#sent === 0) this.#first = now;
    for (let k = 0; k < n; k++) {
      const i = this.#sent + k;
      const socket = this.#sockets[i % SOURCES]!;
      const port = this.#ports[i % this.#ports.length]!;
      socket.send(this.#payload, 0, sizeOf(i), port, "127.0.0.1");
    }
    this.#sent += n;
    this.#last = now;
    // behind by more than a tick's cap: forget the backlog rather than burst
    if (due - this.#sent > MAX_PER_TICK) this.#restartClock();
  }

  stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#finish();
  }

  async result(): Promise<{ sent: number; seconds: number }> {
    await this.#done;
    return { sent: this.#sent, seconds: this.#sent === 0 ? 0 : (this.#last - this.#first) / 1000 };
  }
}

async function main(): Promise<void> {
  if (process.send === undefined) throw new Error("flood.js must be forked with an IPC channel");
  const sockets = await Promise.all(Array.from({ length: SOURCES }, bindLoopback));
  const reply = (m: FromFlooder) => process.send!(m);
  let flood: Flood | undefined;
  process.on("disconnect", () => process.exit(0));
  process.on("message", async (m: ToFlooder) => {
    try {
      switch (m.type) {
        case "start":
          if (flood !== undefined) throw new Error("flood already started");
          flood = new Flood(sockets, m.ports, m.rate, m.ms);
          return reply({ type: "started" });
        case "targets":
          if (flood !== undefined) flood.ports = m.ports;
          return;
        case "stop": {
          flood?.stop();
          const result = (await flood?.result()) ?? { sent: 0, seconds: 0 };
          await Promise.all(sockets.map(closeSocket));
          reply({ type: "stopped", ...result });
          return process.disconnect();
        }
      }
    } catch (err) {
      console.error("flood:", err);
      process.exit(1);
    }
  });
  reply({ type: "ready" });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

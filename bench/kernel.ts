/**
 * Socket to socket: a sender child process (64 connected sockets, 1,200-byte datagrams, 127.0.0.1 only)
 * blasts a receiver in this process for a bounded window; the receiver is a bare `dgram` socket, the mux in
 * push mode, or the mux in pull mode, in alternating rounds. Reported per receiver: datagrams/s delivered
 * and this process's CPU time (user + system) per datagram. On a 2-core machine the sender and receiver
 * share the cores with everything else, so datagrams/s swings; CPU per datagram is the steadier number.
 */
import { type ChildProcess, fork } from "node:child_process";
import type { Socket } from "node:dgram";
import { once } from "node:events";
import { UDPMux } from "../src/index.js";
import { bindingRequest, rinfo, ufrag } from "./lib/fixtures.js";
import type { FromSender, ToSender } from "./lib/sender-protocol.js";
import { SENDER_SOCKETS } from "./lib/sender-protocol.js";
import { bindLoopback, closeSocket } from "./lib/socket.js";
import { cpuNs, median } from "./lib/stats.js";

const RECV_BUFFER_BYTES = 8 * 1024 * 1024;

export interface SocketMeasure {
  /** Datagrams delivered to the application per second of blast. */
  perSecond: number;
  /** Receiver CPU (user + system) per delivered datagram. */
  cpuNsPerDatagram: number;
  /** Delivered ÷ sent (the rest was dropped by the kernel or the mux). */
  deliveredShare: number;
}

export interface KernelPoint {
  conns: number;
  bare: SocketMeasure;
  push: SocketMeasure;
  pull: SocketMeasure;
}

interface Receiver {
  readonly name: "bare" | "push" | "pull";
  readonly port: number;
  count(): number;
  close(): Promise<void>;
}

class Sender {
  readonly #child: ChildProcess;

  constructor() {
    this.#child = fork(new URL("./sender.js", import.meta.url), { stdio: "inherit" });
  }

  async ready(): Promise<void> {
    const [m] = (await once(this.#child, "message")) as [FromSender];
    if (m.type !== "ready") throw new Error(`sender: expected ready, got ${m.type}`);
  }

  async #ask<T extends FromSender["type"]>(
    m: ToSender,
    expected: T,
  ): Promise<Extract<FromSender, { type: T }>> {
    const answer = once(this.#child, "message");
    this.#child.send(m);
    const [reply] = (await answer) as [FromSender];
    if (reply.type !== expected) throw new Error(`sender: expected ${expected}, got ${reply.type}`);
    return reply as Extract<FromSender, { type: T }>;
  }

  /** Open 64 sockets connected to `port`; their source ports. */
  async open(port: number): Promise<number[]> {
    return (await this.#ask({ type: "open", port }, "opened")).ports;
  }

  async blast(port: number, ms: number): Promise<number> {
    return (await this.#ask({ type: "blast", port, ms }, "done")).sent;
  }

  async close(port: number): Promise<void> {
    await this.#ask({ type: "close", port }, "closed");
  }

  async exit(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = once(this.#child, "exit");
    this.#child.send({ type: "exit" } satisfies ToSender);
    await exited;
  }
}

async function bareReceiver(sender: Sender): Promise<Receiver> {
  const socket = await bindLoopback();
  socket.setRecvBufferSize(RECV_BUFFER_BYTES);
  const port = socket.address().port;
  await sender.open(port);
  let n = 0;
  socket.on("message", (msg: Buffer) => {
    if (msg.length > 0) n++;
  });
  return {
    name: "bare",
    port,
    count: () => n,
    close: async () => {
      await sender.close(port);
      await closeSocket(socket);
    },
  };
}

/**
 * A mux with `conns` conns. The 64 sender addresses are associated by a check each, spread over the first
 * min(conns, 64) conns; the other conns get one address each on ports the sender doesn't use.
 */
async function muxReceiver(mode: "push" | "pull", conns: number, sender: Sender): Promise<Receiver> {
  const socket: Socket = await bindLoopback();
  socket.setRecvBufferSize(RECV_BUFFER_BYTES);
  const port = socket.address().port;
  const senderPorts = await sender.open(port);
  const mux = new UDPMux(socket, { maxConnections: Math.max(conns, 10_000), maxAddressesPerUfrag: 64 });
  mux.start();
  let n = 0;
  const used = new Set(senderPorts);
  let filler = 1024;
  const readers: Promise<void>[] = [];
  for (let k = 0; k < conns; k++) {
    const local = ufrag(k, "k");
    const conn = mux.getConn(local);
    const ports = k < SENDER_SOCKETS ? senderPorts.filter((_, i) => i % conns === k) : [];
    if (ports.length === 0) {
      while (used.has(filler)) filler++;
      ports.push(filler++);
    }
    if (mode === "push") {
      conn.on("message", (msg: Buffer) => {
        if (msg.length > 0) n++;
      });
    }
    for (const port of ports) socket.emit("message", bindingRequest(local, ufrag(k, "s")), rinfo(port, 0));
    if (mode === "pull") {
      for (const _ of ports) await conn.readFrom(); // the checks themselves
      if (k < SENDER_SOCKETS) {
        readers.push(
          (async () => {
            for await (const packet of conn) if (packet.data.length > 0) n++;
          })(),
        );
      }
    }
  }
  n = 0; // push mode counted the checks
  const stats = mux.stats();
  if (stats.connections !== conns || stats.addresses !== Math.max(conns, SENDER_SOCKETS)) {
    throw new Error(`${mode} receiver: unexpected stats ${JSON.stringify(stats)}`);
  }
  return {
    name: mode,
    port,
    count: () => n,
    close: async () => {
      await sender.close(port);
      await mux.close();
      await Promise.all(readers);
    },
  };
}

/** Wait until `count` has not moved for 20 ms (at most 500 ms): the kernel queue has drained. */
async function settle(count: () => number): Promise<void> {
  const until = performance.now() + 500;
  let last = -1;
  while (performance.now() < until && count() !== last) {
    last = count();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function measure(sender: Sender, r: Receiver, ms: number): Promise<SocketMeasure> {
  const before = r.count();
  const cpu = process.cpuUsage();
  const sent = await sender.blast(r.port, ms);
  await settle(r.count);
  const ns = cpuNs(cpu);
  const delivered = r.count() - before;
  return {
    perSecond: delivered / (ms / 1000),
    cpuNsPerDatagram: ns / delivered,
    deliveredShare: delivered / sent,
  };
}

function medianMeasure(list: SocketMeasure[]): SocketMeasure {
  return {
    perSecond: median(list.map((m) => m.perSecond)),
    cpuNsPerDatagram: median(list.map((m) => m.cpuNsPerDatagram)),
    deliveredShare: median(list.map((m) => m.deliveredShare)),
  };
}

export async function benchKernel(counts: readonly number[], quick: boolean): Promise<KernelPoint[]> {
  const rounds = quick ? 1 : 5;
  const ms = quick ? 150 : 1000;
  const sender = new Sender();
  const out: KernelPoint[] = [];
  try {
    await sender.ready();
    for (const conns of counts) {
      const receivers = [
        await bareReceiver(sender),
        await muxReceiver("push", conns, sender),
        await muxReceiver("pull", conns, sender),
      ];
      try {
        for (const r of receivers) await measure(sender, r, quick ? 50 : 200); // warm-up
        const results: Record<Receiver["name"], SocketMeasure[]> = { bare: [], push: [], pull: [] };
        for (let round = 0; round < rounds; round++) {
          // Rotate the order so no receiver always follows the same one.
          for (let i = 0; i < receivers.length; i++) {
            const r = receivers[(i + round) % receivers.length]!;
            results[r.name].push(await measure(sender, r, ms));
          }
        }
        out.push({
          conns,
          bare: medianMeasure(results.bare),
          push: medianMeasure(results.push),
          pull: medianMeasure(results.pull),
        });
      } finally {
        for (const r of receivers) await r.close();
      }
    }
  } finally {
    await sender.exit();
  }
  return out;
}

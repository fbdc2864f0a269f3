/**
 * The traffic source for the socket benchmarks, run as a child process (forked, IPC): per receiver, 64 UDP
 * sockets on 127.0.0.1 connected to it, sending 1,200-byte datagrams as fast as they go for a bounded
 * time. See lib/sender-protocol.ts; the parent going away ends it.
 */
import type { Socket } from "node:dgram";
import { MEDIA_BYTES, mediaDatagram } from "./lib/fixtures.js";
import type { FromSender, ToSender } from "./lib/sender-protocol.js";
import { MAX_BLAST_MS, SENDER_SOCKETS } from "./lib/sender-protocol.js";
import { bindLoopback, closeSocket } from "./lib/socket.js";

/** Datagrams per socket per turn of the event loop. */
const PER_TURN = 4;

async function open(port: number): Promise<Socket> {
  const socket = await bindLoopback();
  await new Promise<void>((resolve, reject) =>
    socket.connect(port, "127.0.0.1", (err?: Error) => (err ? reject(err) : resolve())),
  );
  return socket;
}

async function blast(sockets: Socket[], ms: number): Promise<number> {
  const msg = mediaDatagram();
  if (msg.length !== MEDIA_BYTES) throw new Error("bad datagram size");
  const deadline = performance.now() + Math.min(ms, MAX_BLAST_MS);
  let sent = 0;
  while (performance.now() < deadline) {
    for (const socket of sockets) {
      for (let i = 0; i < PER_TURN; i++) socket.send(msg);
    }
    sent += sockets.length * PER_TURN;
    await new Promise(setImmediate); // let libuv flush and run send callbacks
  }
  return sent;
}

async function main(): Promise<void> {
  if (process.send === undefined) throw new Error("sender.js must be forked with an IPC channel");
  const sets = new Map<number, Socket[]>();
  const reply = (m: FromSender) => process.send!(m);
  process.on("disconnect", () => process.exit(0));
  process.on("message", async (m: ToSender) => {
    try {
      switch (m.type) {
        case "open": {
          const sockets = await Promise.all(Array.from({ length: SENDER_SOCKETS }, () => open(m.port)));
          sets.set(m.port, sockets);
          return reply({ type: "opened", ports: sockets.map((s) => s.address().port) });
        }
        case "blast": {
          const sockets = sets.get(m.port);
          if (sockets === undefined) throw new Error(`no sockets open to ${m.port}`);
          return reply({ type: "done", sent: await blast(sockets, m.ms) });
        }
        case "close":
          await Promise.all((sets.get(m.port) ?? []).map(closeSocket));
          sets.delete(m.port);
          return reply({ type: "closed" });
        case "exit":
          for (const sockets of sets.values()) await Promise.all(sockets.map(closeSocket));
          process.disconnect();
      }
    } catch (err) {
      console.error("sender:", err);
      process.exit(1);
    }
  });
  reply({ type: "ready" });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

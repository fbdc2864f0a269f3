/**
 * The TCP frame sender, a child process (`node tcp-sender.js <port> <frameBytes> <frames> [<ufrag>]`): one
 * TCP connection to 127.0.0.1:<port>; with a ufrag, first an RFC 4571-framed Binding Request
 * `<ufrag>:sender` (what routes a connection through a TCPMux), then `frames` framed RTP-shaped payloads of
 * `frameBytes`, written as 64 KiB-ish batches of whole frames, honouring backpressure; then it ends the
 * connection and exits. Bounded by the count, and by a 60 s deadline.
 */
import { once } from "node:events";
import { connect } from "node:net";
import { frame } from "../src/tcp/framing.js";
import { bindingRequest } from "./lib/fixtures.js";

const DEADLINE_MS = 60_000;

async function main(): Promise<void> {
  const [port, frameBytes, frames] = process.argv.slice(2, 5).map(Number);
  const ufrag = process.argv[5];
  if (!(port! > 0 && frameBytes! > 0 && frameBytes! <= 0xffff && frames! > 0)) {
    throw new TypeError(
      `usage: tcp-sender.js <port> <frameBytes> <frames> [ufrag], got ${process.argv.slice(2)}`,
    );
  }
  setTimeout(() => {
    console.error("tcp-sender: deadline passed");
    process.exit(1);
  }, DEADLINE_MS).unref();
  const payload = Buffer.alloc(frameBytes!, 0xab);
  payload[0] = 0x80; // RTP-shaped: not STUN, not DTLS (RFC 7983)
  const one = frame(payload)!;
  const perBatch = Math.max(1, Math.floor(65_536 / one.length));
  const batch = Buffer.concat(Array.from({ length: perBatch }, () => one));
  const socket = connect({ port: port!, host: "127.0.0.1", noDelay: true });
  socket.on("error", (err) => {
    console.error("tcp-sender:", err.message);
    process.exit(1);
  });
  await once(socket, "connect");
  if (ufrag !== undefined) socket.write(frame(bindingRequest(ufrag, "sender"))!);
  let left = frames!;
  while (left > 0) {
    const n = Math.min(left, perBatch);
    left -= n;
    const ok = socket.write(n === perBatch ? batch : batch.subarray(0, n * one.length));
    if (!ok) await once(socket, "drain");
  }
  socket.end();
  await once(socket, "close");
}

main().then(
  () => process.exit(),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

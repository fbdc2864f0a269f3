import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";

/** A udp4 socket bound to 127.0.0.1 on a free port (the benchmarks never leave loopback). */
export async function bindLoopback(): Promise<Socket> {
  const socket = createSocket("udp4");
  socket.on("error", (err) => console.error("bench socket error:", err));
  const listening = once(socket, "listening");
  socket.bind(0, "127.0.0.1");
  await listening;
  return socket;
}

export function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

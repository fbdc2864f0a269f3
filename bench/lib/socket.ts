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

/**
 * A loopback socket for an in-process mux (`new UDPMux(socket)`), with the receive buffer the mux asks for
 * when it binds its own (4 MiB), so the mux doesn't warn that the buffer is small: these benchmarks emit
 * `'message'` events themselves and never fill the buffer, and a warning per mux only clutters the log.
 */
export async function bindMuxSocket(): Promise<Socket> {
  const socket = await bindLoopback();
  socket.setRecvBufferSize(4 * 1024 * 1024);
  return socket;
}

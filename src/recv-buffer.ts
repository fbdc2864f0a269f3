/**
 * The socket's receive buffer (SO_RCVBUF): what the mux asks for, and the warning when it doesn't get it.
 *
 * With a socket per peer, every peer has a kernel buffer of its own; on a mux one buffer takes every peer's
 * bursts, and a datagram that arrives while it is full is dropped by the kernel before the mux sees it.
 * Linux's usual default (`net.core.rmem_default`, 208 KiB) holds about 170 full-size datagrams: a busy
 * server fills that in milliseconds whenever its event loop is held up (a DTLS handshake, a GC pause), and a
 * lost SCTP packet then costs a session SCTP's 3 s retransmission timer.
 *
 * Linux grants at most `net.core.rmem_max` and reports twice what was set (the doubling covers its
 * bookkeeping), but a socket nobody sized reports `net.core.rmem_default` as it is; so sizes are compared in
 * the kernel's reported units ({@link reportedSize}).
 */
import type { Socket } from "node:dgram";

/**
 * What `UDPMux.bind()` asks for unless `recvBufferSize` says otherwise: about 3,500 full-size datagrams,
 * 200 ms of 20,000 datagrams/s of 1,000 bytes. With it, opening 3,000 sessions in waves of 50 under 20,000
 * junk datagrams/s lost nothing at the socket (208 KiB: up to 1.4 million kernel drops, median open time
 * 3.3 s instead of 0.54 s).
 */
export const DEFAULT_RECV_BUFFER_SIZE = 4 * 1024 * 1024;

/** Below this, a socket handed to `new UDPMux(socket)` gets a warning (the mux leaves its size alone). */
export const MIN_RECV_BUFFER_SIZE = 1024 * 1024;

/** The `code` of the warning emitted when the receive buffer is smaller than wanted. */
export const RECV_BUFFER_WARNING = "UDPMUX_RECV_BUFFER_SMALL";

/** What the kernel reports for a socket whose buffer was set to `bytes` (Linux doubles it). */
export function reportedSize(bytes: number): number {
  return process.platform === "linux" ? 2 * bytes : bytes;
}

/**
 * Ask for `requested` bytes and read back what the kernel granted; warn (once, here) when it granted less.
 * Throws what `setRecvBufferSize` throws (`ERR_SOCKET_BUFFER_SIZE`).
 */
export function requestRecvBufferSize(socket: Socket, requested: number): number {
  socket.setRecvBufferSize(requested);
  const reported = socket.getRecvBufferSize();
  if (reported < reportedSize(requested)) {
    const granted = reported / (reportedSize(requested) / requested);
    warnSmall(
      `the UDP mux asked for a ${size(requested)} receive buffer and the kernel granted ${size(granted)}`,
    );
  }
  return reported;
}

/** Warn when a caller's socket has a receive buffer below {@link MIN_RECV_BUFFER_SIZE}. */
export function checkCallerRecvBuffer(socket: Socket): void {
  let reported: number;
  try {
    reported = socket.getRecvBufferSize();
  } catch {
    return; // a socket that can't say (e.g. a stand-in): nothing to warn about
  }
  if (reported < reportedSize(MIN_RECV_BUFFER_SIZE)) {
    warnSmall(
      `the socket given to the UDP mux has a receive buffer below ${size(MIN_RECV_BUFFER_SIZE)} ` +
        `(the kernel reports ${size(reported)}); create it with a larger \`recvBufferSize\``,
    );
  }
}

function warnSmall(message: string): void {
  process.emitWarning(
    `${message}: one socket takes every peer's bursts, and the kernel drops what doesn't fit.`,
    {
      type: "UDPMuxWarning",
      code: RECV_BUFFER_WARNING,
      detail:
        process.platform === "linux"
          ? "Linux caps the buffer at net.core.rmem_max: raise it, e.g. `sysctl -w net.core.rmem_max=8388608`."
          : "The operating system caps the receive buffer (e.g. kern.ipc.maxsockbuf on BSD and macOS).",
    },
  );
}

function size(bytes: number): string {
  return bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0
    ? `${bytes / (1024 * 1024)} MiB`
    : `${Math.round(bytes / 1024)} KiB`;
}

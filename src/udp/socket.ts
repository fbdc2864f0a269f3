/**
 * The mux's socket seen from outside the routing: whether it closed, closing it, and the gauges `stats()`
 * reads from the kernel (its receive buffer's size, the datagrams the kernel dropped at it).
 */
import type { Socket } from "node:dgram";
import type { AddressInfo } from "node:net";
import type { Family } from "../address.js";
import { invalidArgType, invalidArgValue, MuxClosedError } from "../errors.js";
import { KernelDropCounter } from "../kernel-drops.js";
import { log } from "../log.js";
import { validateSignal } from "../validate.js";

/** The address of a caller's socket: a `TypeError` unless it is a bound `dgram.Socket`. */
export function boundAddress(socket: Socket): AddressInfo {
  if (socket === null || typeof socket !== "object" || typeof socket.send !== "function") {
    throw invalidArgType("socket", "a dgram.Socket", socket);
  }
  try {
    return socket.address();
  } catch {
    throw invalidArgValue("socket", "a bound dgram.Socket", socket);
  }
}

export class MuxSocket {
  readonly #socket: Socket;
  readonly #kernelDrops: KernelDropCounter;
  #closed = false;
  #lastRecvBufferSize = 0;
  readonly #onClose: () => void;

  /**
   * Listens for the socket's `'error'` (logged: a send's own error also fails that send) and `'close'`
   * (then `onClose` is called) until {@link detach}.
   */
  constructor(
    socket: Socket,
    bound: { family: Family; localPort: number },
    kernelDropsIntervalMs: number,
    onClose: () => void,
  ) {
    this.#socket = socket;
    this.#kernelDrops = new KernelDropCounter(bound.family, bound.localPort, kernelDropsIntervalMs);
    this.#onClose = onClose;
    this.recvBufferSize();
    socket.on("error", this.#onSocketError);
    socket.on("close", this.#onSocketClose);
  }

  /** The socket closed (its `'close'` event, or our own close). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The socket's address, as `getListenAddresses()` reports it. Throws `ERR_MUX_CLOSED` when the socket was
   * closed under the mux, before its `'close'` event (the next tick) closes the mux.
   */
  address(): AddressInfo {
    let bound: AddressInfo;
    try {
      bound = this.#socket.address();
    } catch (cause) {
      throw new MuxClosedError({ cause });
    }
    const { address, family, port } = bound;
    return { address, family, port };
  }

  /** Stop listening to the socket (the mux finished closing). */
  detach(): void {
    this.#socket.off("error", this.#onSocketError);
    this.#socket.off("close", this.#onSocketClose);
  }

  readonly #onSocketError = (err: Error): void => {
    log("socket error: %O", err);
  };

  readonly #onSocketClose = (): void => {
    this.#closed = true;
    this.#onClose();
  };

  /** Begin refreshing the kernel's drop count every `kernelDropsIntervalMs`. */
  start(): void {
    this.#kernelDrops.start();
  }

  /** Stop refreshing; resolves once a read in flight has stopped (at its next 4 KiB page). */
  stop(): Promise<void> {
    return this.#kernelDrops.close();
  }

  /** Close the socket, unless closed already. Resolves once it is. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await new Promise<void>((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch (err) {
        // Closed by someone else in this same tick (its 'close' event is still on its way): gone all the same.
        log("socket already closed: %O", err);
        this.#closed = true;
        resolve();
      }
    });
  }

  /** The kernel's drop count as last read (see `UDPMuxStats.kernelDrops`). */
  kernelDrops(): number | undefined {
    return this.#kernelDrops.read();
  }

  /** `UDPMux.refreshKernelDrops(options)`: rejects only with `signal.reason` or a `TypeError` for a bad argument. */
  refreshKernelDrops(options: { signal?: AbortSignal } | undefined): Promise<number | undefined> {
    try {
      return this.#kernelDrops.refresh(validateSignal(options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The socket's receive buffer as reported; the last known size once the socket is closed. */
  recvBufferSize(): number {
    if (!this.#closed) {
      try {
        this.#lastRecvBufferSize = this.#socket.getRecvBufferSize();
      } catch (err) {
        log("getRecvBufferSize failed: %O", err);
      }
    }
    return this.#lastRecvBufferSize;
  }
}

/**
 * Ingress: datagrams for the mux that did not come from its own socket — what a TURN relay or a
 * TLS-wrapped stream would feed in. They are routed exactly as the socket's are; an address a check through
 * an ingress associates remembers it, so what its conn writes to that address goes back through the
 * ingress's own writer, not the socket. Closing the ingress drops those associations.
 *
 * Internal: not exported from the package (`mux[kIngress](send)`), until a transport uses it.
 */
import type { Family, RemoteInfo } from "../address.js";
import { canonicalAddress, familyOf } from "../address.js";
import { invalidArgType, invalidArgValue } from "../errors.js";

/**
 * The key of `UDPMux`'s ingress method.
 * @internal
 */
export const kIngress: unique symbol = Symbol("udpmux.ingress");

/**
 * How replies to an address learned through an ingress go back: resolve with the bytes written, once
 * `data` may be reused (the caller may reuse its buffer then); reject (or throw) if it can't be sent.
 * @internal
 */
export type IngressSend = (data: Uint8Array, address: string, port: number) => Promise<number>;

/**
 * A path into the mux besides its socket.
 * @internal
 */
export interface Ingress {
  /** Route `msg`, as from `from` (the remote peer's address as the ingress knows it). Never throws on input. */
  receive(msg: Buffer, from: { address: string; port: number; family?: Family }): void;
  /** Forget the associations made through this ingress; later `receive()`s are ignored. Idempotent. */
  close(): void;
}

/** The mux's side of an ingress: its writer, and whether it was closed. What an association's `via` is. */
export interface IngressPath {
  readonly send: IngressSend;
  closed: boolean;
}

/** What an ingress needs from its mux. */
export interface IngressHost {
  /** The mux is closed: nothing is routed any more. */
  readonly closed: boolean;
  route(msg: Buffer, src: RemoteInfo, path: IngressPath): void;
  forget(path: IngressPath): void;
}

/** Open an ingress on `host` whose replies go out through `send`. */
export function openIngress(host: IngressHost, send: IngressSend): Ingress {
  if (typeof send !== "function") throw invalidArgType("send", "a function", send);
  const path: IngressPath = { send, closed: false };
  return {
    receive(msg, from) {
      if (path.closed || host.closed) return;
      const address = canonicalAddress(from.address);
      const family = familyOf(address);
      if (family === undefined) throw invalidArgValue("from.address", "an IP address", from.address);
      host.route(msg, { address, family, port: from.port, size: msg.length }, path);
    },
    close() {
      if (path.closed) return;
      path.closed = true;
      host.forget(path);
    },
  };
}

/**
 * Write through an ingress: a writer that throws rejects this one write, as a socket's send would. (No
 * association names a closed ingress: closing one removes them.)
 */
export function sendThrough(
  path: IngressPath,
  data: Uint8Array,
  address: string,
  port: number,
): Promise<number> {
  try {
    return Promise.resolve(path.send(data, address, port));
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * MuxTransport: what a werift `StunProtocol` gets instead of its own `UdpTransport` — a transport backed by
 * the agent's `MuxedConnection`s. One per agent and IP family.
 *
 * Receiving is push mode end to end: each conn's `'message'` goes straight to the protocol's
 * `datagramReceived(data, [host, port])`, synchronously, as werift's own socket handler does. Sending goes
 * through the agent's current-ufrag conn, from the mux's one socket, by the conn's internal `sendTo`: no
 * promise per datagram (werift awaits every send, but only to go on: the one settled promise does), the
 * destination validated once per peer address rather than per datagram, failures counted and logged by
 * the agent binding as werift's data path would not catch them.
 */
import type { AddressInfo } from "node:net";
import type { Family, RemoteInfo } from "../address.js";
import { canonicalAddress, familyOf } from "../address.js";
import { ConnClosedError, invalidArgType, invalidArgValue } from "../errors.js";
import type { MuxedConnection, SendCallback } from "../muxed-connection.js";
import type { WeriftAddress, WeriftStunProtocol, WeriftUdpTransport } from "./internals.js";

/** What a transport needs from its agent binding. */
export interface TransportOwner {
  /** The conn to send through: the agent's current ufrag, this family. */
  sendConn(family: Family): MuxedConnection | undefined;
  /** A send failed: count and log it (werift's data path doesn't catch). */
  sendFailed(family: Family, err: unknown): void;
}

const noop = (): void => {};

/** What every send returns: werift awaits it, and the outcome goes to the agent binding instead. */
const SENT: Promise<void> = Promise.resolve();

export class MuxTransport implements WeriftUdpTransport {
  #closed = false;
  /** werift sets this on the transports it binds itself; datagrams for the protocol bypass it. */
  onData: (data: Buffer, addr: WeriftAddress) => void = noop;
  /** dgram's send callback for every datagram of this transport: one function, no closure per send. */
  readonly #onSent: SendCallback;
  /** The last destination checked, as werift gave it, and its canonical address: werift sends to one peer. */
  #lastHost: unknown;
  #lastPort: unknown;
  #lastAddress = "";

  constructor(
    private readonly owner: TransportOwner,
    readonly family: Family,
    private readonly local: AddressInfo,
    /** The protocol werift made for this family's host candidate; it gets every datagram. */
    readonly protocol: WeriftStunProtocol,
  ) {
    this.#onSent = (err) => {
      if (err) this.owner.sendFailed(this.family, err);
    };
  }

  // Getters, not fields: werift reads them, and a field would cost every transport a slot.
  get type(): "udp" {
    return "udp";
  }

  get socketType(): "udp4" | "udp6" {
    return this.family === "IPv4" ? "udp4" : "udp6";
  }

  get addressFamily(): 4 | 6 {
    return this.family === "IPv4" ? 4 : 6;
  }

  /** The mux's socket address in this family; werift takes the host candidate's port from it. */
  get address(): AddressInfo {
    return this.local;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The conn `'message'` listener: one datagram to the protocol. Made by a call, not an arrow field: the
   * build's `keepNames` names an arrow field with `defineProperty(fn, "name")`, which gives each such
   * closure a dictionary property store (~260 B per transport, heap snapshot of dist/).
   */
  readonly receive = receiverOf(this);

  /** Deliver one datagram to the protocol. */
  deliver(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.#closed) return;
    this.protocol.datagramReceived(msg, [rinfo.address, rinfo.port]);
  }

  /**
   * One datagram to `addr`. Settles at once: a failed send is counted and logged by the agent binding
   * (`sendFailed`), as it was when this awaited the socket. Rejects only for what werift must not do:
   * send after close, or to anything but an IP literal and port (nothing is ever resolved).
   */
  send(data: Buffer, addr?: WeriftAddress): Promise<void> {
    if (this.#closed) return Promise.reject(new ConnClosedError());
    if (!Array.isArray(addr)) return Promise.reject(invalidArgType("addr", "a [host, port] pair", addr));
    if (!(data instanceof Uint8Array)) {
      return Promise.reject(invalidArgType("data", "a Buffer or Uint8Array", data));
    }
    const host: unknown = addr[0];
    const port: unknown = addr[1];
    if (host !== this.#lastHost || port !== this.#lastPort) {
      const err = this.#checkDestination(host, port);
      if (err !== undefined) return Promise.reject(err);
    }
    const conn = this.owner.sendConn(this.family);
    if (conn === undefined) return Promise.reject(new ConnClosedError());
    conn.sendTo(data, this.#lastAddress, port as number, this.#onSent);
    return SENT;
  }

  /** Check a new destination as `writeTo` would, and remember it; the error if it is no IP and port. */
  #checkDestination(host: unknown, port: unknown): TypeError | undefined {
    if (typeof host !== "string") return invalidArgType("addr[0]", "a string", host);
    const address = canonicalAddress(host);
    if (familyOf(address) === undefined) return invalidArgValue("addr[0]", "an IP address", host);
    if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
      return invalidArgValue("addr[1]", "an integer from 1 to 65535", port);
    }
    this.#lastHost = host;
    this.#lastPort = port;
    this.#lastAddress = address;
    return undefined;
  }

  /** Called by werift's `protocol.close()`; the agent binding removes the conns. */
  async close(): Promise<void> {
    this.#closed = true;
  }

  /** Stop delivering and sending (the agent is closing). */
  markClosed(): void {
    this.#closed = true;
  }
}

/** `transport`'s conn listener (see {@link MuxTransport.receive}). */
function receiverOf(transport: MuxTransport): (msg: Buffer, rinfo: RemoteInfo) => void {
  return (msg, rinfo) => {
    transport.deliver(msg, rinfo);
  };
}

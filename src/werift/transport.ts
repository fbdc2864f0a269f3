/**
 * MuxTransport: what a werift `StunProtocol` gets instead of its own `UdpTransport` — a transport backed by
 * the agent's `MuxedConnection`s. One per agent and IP family.
 *
 * Receiving is push mode end to end: each conn's `'message'` goes straight to the protocol's
 * `datagramReceived(data, [host, port])`, synchronously, as werift's own socket handler does. Sending goes
 * through the agent's current-ufrag conn (`writeTo`), from the mux's one socket.
 */
import type { AddressInfo } from "node:net";
import type { Family, RemoteInfo } from "../address.js";
import { ConnClosedError, invalidArgType } from "../errors.js";
import type { MuxedConnection } from "../muxed-connection.js";
import type { WeriftAddress, WeriftStunProtocol, WeriftUdpTransport } from "./internals.js";

/** What a transport needs from its agent binding. */
export interface TransportOwner {
  /** The conn to send through: the agent's current ufrag, this family. */
  sendConn(family: Family): MuxedConnection | undefined;
  /** A send failed: count and log it (werift's data path doesn't catch). */
  sendFailed(family: Family, err: unknown): void;
}

const noop = (): void => {};

export class MuxTransport implements WeriftUdpTransport {
  readonly type = "udp" as const;
  readonly socketType: "udp4" | "udp6";
  readonly addressFamily: 4 | 6;
  #closed = false;
  /** werift sets this on the transports it binds itself; datagrams for the protocol bypass it. */
  onData: (data: Buffer, addr: WeriftAddress) => void = noop;
  readonly #onSendError: (err: unknown) => void;

  constructor(
    private readonly owner: TransportOwner,
    readonly family: Family,
    private readonly local: AddressInfo,
    private readonly protocol: WeriftStunProtocol,
  ) {
    this.socketType = family === "IPv4" ? "udp4" : "udp6";
    this.addressFamily = family === "IPv4" ? 4 : 6;
    this.#onSendError = (err) => this.owner.sendFailed(this.family, err);
  }

  /** The mux's socket address in this family; werift takes the host candidate's port from it. */
  get address(): AddressInfo {
    return this.local;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The conn `'message'` listener: one datagram to the protocol. */
  readonly receive = (msg: Buffer, rinfo: RemoteInfo): void => {
    if (this.#closed) return;
    this.protocol.datagramReceived(msg, [rinfo.address, rinfo.port]);
  };

  send = (data: Buffer, addr?: WeriftAddress): Promise<void> => {
    if (this.#closed) return Promise.reject(new ConnClosedError());
    if (!Array.isArray(addr)) return Promise.reject(invalidArgType("addr", "a [host, port] pair", addr));
    const conn = this.owner.sendConn(this.family);
    if (conn === undefined) return Promise.reject(new ConnClosedError());
    // writeTo validates the address (IP literals only: nothing is ever resolved).
    return conn.writeTo(data, { address: addr[0], port: addr[1] }).then(noop, this.#onSendError);
  };

  /** Called by werift's `protocol.close()`; the agent binding removes the conns. */
  close = async (): Promise<void> => {
    this.#closed = true;
  };

  /** Stop delivering and sending (the agent is closing). */
  markClosed(): void {
    this.#closed = true;
  }
}

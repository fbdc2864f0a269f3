/**
 * The UDP mux's send paths: what a conn writes goes to the socket, through the ingress its destination was
 * learned by, or — written to the mux's own address — in-process (hairpin). A STUN request records its
 * transaction first, and a write to a free address associates it first, so that an answer can't beat
 * either back; a failed write undoes both.
 */
import type { Socket } from "node:dgram";
import type { AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import type { Family, RemoteInfo } from "../address.js";
import { canonicalAddress, familyOf, isWildcard } from "../address.js";
import type { Associations } from "../core/associations.js";
import type { CoarseClock } from "../core/clock.js";
import type { Transactions } from "../core/transactions.js";
import { MuxClosedError } from "../errors.js";
import type { SendCallback } from "../muxed-connection.js";
import { classOf, hasUsername, isStunMessage, messageType, transactionKey } from "../stun.js";
import { type IngressPath, sendThrough } from "./ingress.js";
import type { UdpConnRecord } from "./record.js";

/** The bound socket as the send paths need it. */
export interface SocketAddressing {
  readonly localPort: number;
  readonly family: Family;
  /** A udp6 socket on "::": IPv4 peers are written to as v4-mapped addresses. */
  readonly dualStack: boolean;
  /** The destination addresses that reach the socket, for hairpin detection. */
  readonly ownAddresses: ReadonlySet<string>;
}

export interface SenderTables {
  readonly associations: Associations<UdpConnRecord, IngressPath>;
  readonly transactions: Transactions<UdpConnRecord>;
  readonly clock: CoarseClock;
  /** A hairpin datagram "arrives" (a loop turn after its write): route it in-process, from `record`. */
  loopback(record: UdpConnRecord, data: Buffer, src: RemoteInfo): void;
}

export class UdpSender {
  readonly #socket: Socket;
  readonly #localPort: number;
  readonly #family: Family;
  readonly #dualStack: boolean;
  readonly #ownAddresses: ReadonlySet<string>;
  readonly #associations: SenderTables["associations"];
  readonly #tables: SenderTables;
  #closed = false;
  /**
   * Rejecters of sends not yet called back. `dgram` never calls back a send that was still resolving its
   * destination when the socket closed, so without this a closed socket would leave those writes hanging.
   */
  readonly #pending = new Set<(err: unknown) => void>();

  constructor(socket: Socket, addressing: SocketAddressing, tables: SenderTables) {
    this.#socket = socket;
    this.#localPort = addressing.localPort;
    this.#family = addressing.family;
    this.#dualStack = addressing.dualStack;
    this.#ownAddresses = addressing.ownAddresses;
    this.#associations = tables.associations;
    this.#tables = tables;
  }

  /** The mux closed: every later send fails with `ERR_MUX_CLOSED`. */
  close(): void {
    this.#closed = true;
  }

  /** The socket closed: reject the sends it will never call back. */
  failPending(err: Error): void {
    for (const fail of this.#pending) fail(err);
    this.#pending.clear();
  }

  /** `record`'s conn writes `data` to `address:port` (`MuxedConnection.writeTo`). */
  send(record: UdpConnRecord, data: Uint8Array, address: string, port: number): Promise<number> {
    if (this.#closed) return Promise.reject(new MuxClosedError());
    if (this.#isOwn(address, port)) return this.#sendHairpin(record, data, address);
    const { transactions, clock } = this.#tables;
    const associations = this.#associations;
    let associate = true;
    let transaction: string | undefined;
    if (isStunRequest(data)) {
      transaction = transactionKey(data);
      transactions.add(record, transaction, address, port, clock.now);
      // A query to a STUN server (no USERNAME) must not capture the server's address.
      associate = hasUsername(data);
    }
    const existing = associations.get(address, port);
    const created =
      associate && existing === undefined ? associations.onSend(record, address, port, clock.now) : undefined;
    const sent = this.raw(data, address, port, existing?.via);
    if (created === undefined && transaction === undefined) return sent; // the common case: nothing to undo
    return sent.catch((err: unknown) => {
      // Nothing left: a failed send claims no address and waits for no answer.
      if (created !== undefined) associations.undoSend(created);
      if (transaction !== undefined) transactions.forget(transaction, record);
      throw err;
    });
  }

  /**
   * `send` for a caller that waits for nothing (`MuxedConnection.sendTo`). The common case of a peer
   * connection's traffic — no STUN request, to an address associated already through the socket, not
   * hairpin — goes straight to the socket: nothing to record first or undo after, and `callback` is
   * dgram's own send callback, so nothing is allocated. Anything else takes `send`. (A send still resolving
   * its destination when the socket closes is never called back by dgram; nobody waits for it, and the mux
   * is closing.)
   */
  sendNoWait(
    record: UdpConnRecord,
    data: Uint8Array,
    address: string,
    port: number,
    callback: SendCallback,
  ): void {
    if (this.#closed) return callback(new MuxClosedError());
    if (!this.#isOwn(address, port) && !isStunRequest(data)) {
      const association = this.#associations.get(address, port);
      if (association !== undefined && association.via === undefined) {
        try {
          this.#socket.send(data, port, this.#socketAddress(address), callback);
        } catch (err) {
          callback(err as Error); // e.g. ERR_SOCKET_DGRAM_NOT_RUNNING: only this write fails
        }
        return;
      }
    }
    this.send(record, data, address, port).then(() => callback(null), callback);
  }

  /** Write `data` as it is, associating nothing: through `via` if given, else from the socket. */
  raw(data: Uint8Array, address: string, port: number, via?: IngressPath): Promise<number> {
    if (via !== undefined) return sendThrough(via, data, address, port);
    const to = this.#socketAddress(address);
    return new Promise<number>((resolve, reject) => {
      this.#pending.add(reject);
      try {
        this.#socket.send(data, port, to, (err, bytes) => {
          this.#pending.delete(reject);
          if (err) reject(err);
          else resolve(bytes);
        });
      } catch (err) {
        this.#pending.delete(reject);
        reject(err); // e.g. ERR_SOCKET_DGRAM_NOT_RUNNING: only this write fails
      }
    });
  }

  #socketAddress(address: string): string {
    return this.#dualStack && familyOf(address) === "IPv4" ? `::ffff:${address}` : address;
  }

  /** Whether `address:port` is the mux's own socket (hairpin). */
  #isOwn(address: string, port: number): boolean {
    return port === this.#localPort && this.#ownAddresses.has(address);
  }

  /** Deliver in-process, as the kernel would, but on the next turn of the event loop. */
  #sendHairpin(record: UdpConnRecord, data: Uint8Array, address: string): Promise<number> {
    const copy = Buffer.from(data); // the caller may reuse its buffer once the write resolves
    const port = this.#localPort;
    if (isStunRequest(copy)) {
      this.#tables.transactions.add(record, transactionKey(copy), address, port, this.#tables.clock.now);
    }
    const src: RemoteInfo = { address, family: familyOf(address) ?? this.#family, port, size: copy.length };
    setImmediate(() => this.#tables.loopback(record, copy, src));
    return Promise.resolve(copy.length);
  }
}

function isStunRequest(data: Uint8Array): boolean {
  return isStunMessage(data) && classOf(messageType(data)) === "request";
}

/** How a socket bound to `bound` is written to. */
export function socketAddressing(bound: AddressInfo): SocketAddressing {
  const family = bound.family === "IPv6" ? "IPv6" : "IPv4";
  // A udp6 socket on "::" reaches IPv4 peers through v4-mapped addresses (unless it is ipv6Only, and then
  // such a send fails and rejects that one write).
  const dualStack = family === "IPv6" && isWildcard(bound.address);
  return { localPort: bound.port, family, dualStack, ownAddresses: ownAddresses(bound.address, dualStack) };
}

/** The destination addresses that reach a socket bound to `bound` (for hairpin detection). */
function ownAddresses(bound: string, dualStack: boolean): Set<string> {
  const out = new Set<string>();
  if (!isWildcard(bound)) {
    out.add(canonicalAddress(bound));
    return out;
  }
  const v6 = bound === "::";
  if (!v6 || dualStack) out.add("127.0.0.1");
  if (v6) out.add("::1");
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) {
      if (info.family === "IPv6" && v6) out.add(canonicalAddress(info.address));
      if (info.family === "IPv4" && (!v6 || dualStack)) out.add(info.address);
    }
  }
  return out;
}

/**
 * UdpConns: the UDP mux's conns — the conn table every transport shares (`core/conn-table.ts`) plus what UDP
 * keeps per conn (address associations, transactions, the hairpin link) — and their window on the mux
 * (`ConnHost`): what a conn writes goes to the sender, a conn that closes is forgotten everywhere, a conn
 * given its first password loses what unverified checks gave it.
 */
import type { Socket } from "node:dgram";
import type { AddressInfo } from "node:net";
import type { Family } from "../address.js";
import { canonicalAddress } from "../address.js";
import { Associations } from "../core/associations.js";
import type { CoarseClock } from "../core/clock.js";
import { ConnTable } from "../core/conn-table.js";
import type { Counters } from "../core/counters.js";
import { Transactions } from "../core/transactions.js";
import { MuxClosedError } from "../errors.js";
import { connLog, log, RateLimitedLog } from "../log.js";
import { type ConnHost, MuxedConnection } from "../muxed-connection.js";
import type { ResolvedOptions } from "../options.js";
import type { IngressPath } from "./ingress.js";
import { newRecord, type UdpConnRecord, unlink } from "./record.js";
import { type SenderTables, type SocketAddressing, UdpSender } from "./send.js";

export class UdpConns {
  readonly table: ConnTable<UdpConnRecord>;
  readonly associations: Associations<UdpConnRecord, IngressPath>;
  readonly transactions: Transactions<UdpConnRecord>;
  readonly sender: UdpSender;
  readonly #socket: Socket;
  readonly #dualStack: boolean;
  readonly #counters: Counters;
  #closed = false;
  readonly #listenerLog = new RateLimitedLog(connLog);

  constructor(
    socket: Socket,
    addressing: SocketAddressing,
    o: ResolvedOptions,
    clock: CoarseClock,
    counters: Counters,
    loopback: SenderTables["loopback"],
  ) {
    this.#socket = socket;
    this.#dualStack = addressing.dualStack;
    this.#counters = counters;
    this.table = new ConnTable(o, (ufrag, family) => {
      const conn = new MuxedConnection(this.#host, ufrag, family, o.maxQueuedPackets);
      return newRecord(conn, clock.now);
    });
    this.associations = new Associations({ maxPerOwner: o.maxAddressesPerUfrag, idleMs: o.addressIdleMs });
    this.transactions = new Transactions({
      maxPerOwner: o.maxTransactionsPerConn,
      timeoutMs: o.transactionTimeoutMs,
    });
    const { associations, transactions } = this;
    this.sender = new UdpSender(socket, addressing, { associations, transactions, clock, loopback });
  }

  /** Forget expired transactions, and close the conns nobody claimed within `acceptTimeoutMs`, at `now`. */
  sweep(now: number): void {
    this.transactions.sweep(now);
    this.table.expire(now, (record) => {
      log("ufrag %s: unclaimed for %d ms, removed", record.conn.localUfrag, now - record.createdAt);
      record.conn.closeDropping("expired"); // releases it, and its waiting candidate
    });
  }

  /** The mux is closing: writes fail, accepts reject with `err`, every conn closes, every map empties. */
  close(err: Error, cause: Error | undefined): void {
    this.#closed = true;
    this.sender.close();
    this.table.closeAccepts(err);
    for (const record of [...this.table.values()]) record.conn.closeDropping("conn-closed", cause);
    this.associations.clear();
    this.transactions.clear();
  }

  /** Forget a closing conn everywhere. Called (only) by `MuxedConnection.close()`. */
  #release(conn: MuxedConnection): void {
    const record = this.table.remove(conn);
    if (record === undefined) return;
    this.associations.removeOwner(record);
    this.transactions.removeOwner(record);
    unlink(record);
  }

  #localAddress(family: Family): AddressInfo {
    const { address, port } = this.#socket.address();
    if (family === "IPv4" && this.#dualStack) return { address: "0.0.0.0", family, port };
    return { address: canonicalAddress(address), family, port };
  }

  /** The conns' window on the mux (see `ConnHost`). */
  readonly #host: ConnHost = ((self: UdpConns): ConnHost => ({
    get closed(): boolean {
      return self.#closed;
    },
    send: (conn, data, address, port) => {
      const record = this.table.get(conn);
      if (record === undefined) return Promise.reject(new MuxClosedError());
      return this.sender.send(record, data, address, port);
    },
    sendNoWait: (conn, data, address, port, callback) => {
      const record = this.table.get(conn);
      if (record === undefined) return callback(new MuxClosedError());
      this.sender.sendNoWait(record, data, address, port, callback);
    },
    release: (conn) => this.#release(conn),
    localAddress: (family) => this.#localAddress(family),
    countDelivered: () => {
      this.#counters.delivered++;
    },
    countDropped: (reason, count = 1) => this.#counters.drop(reason, count),
    logListenerError: (ufrag, err) => this.#listenerLog.log("ufrag %s: a listener threw: %O", ufrag, err),
    setPaused: () => {}, // a datagram socket has no per-peer reading to pause
    queueShrunk: () => {},
    // The conn got its first password: the addresses unverified checks gave it go (its own sends keep theirs).
    dropUnverified: (conn) => {
      const record = this.table.get(conn);
      if (record !== undefined) this.associations.dropUnverified(record);
    },
  }))(this);
}

/**
 * ConnTableMux: the public face every mux shares, whatever carries its packets. `UDPMux` and `TCPMux` keep
 * their conns in a {@link ConnTable} (the transport-free half of a mux: conns by local ufrag, unclaimed
 * conns, the accept queue), so asking for a conn, taking a new peer's and giving one back read the same on
 * both; this base class is that API, written once over three things each transport supplies: its table,
 * the family a conn gets when the caller names none, and whether it closed. Not exported: users see it as
 * the methods of `UDPMux` and `TCPMux`, which implement the rest of {@link IceMux} (their listen
 * addresses, and `once("close")` typed by their own events).
 */
import { EventEmitter } from "node:events";
import type { Family } from "./address.js";
import type { Candidate, ConnRecord, ConnTable } from "./core/conn-table.js";
import { MuxClosedError } from "./errors.js";
import type { IceMux } from "./ice-mux.js";
import type { MuxedConnection } from "./muxed-connection.js";
import { iterateUntil } from "./waiters.js";

export abstract class ConnTableMux<Events extends Record<keyof Events, unknown[]>>
  extends EventEmitter<Events>
  implements Omit<IceMux, "getListenAddresses" | "once">, AsyncIterable<Candidate>
{
  /**
   * The mux's conns (their records are the transport's: the base class needs only what every record has).
   * @internal
   */
  protected abstract get connTable(): ConnTable<ConnRecord>;

  /**
   * The family of a conn asked for without an address: the socket's (UDP) or the server's (TCP).
   * @internal
   */
  protected abstract get defaultFamily(): Family;

  /** `true` once the mux began closing. */
  abstract get closed(): boolean;

  /**
   * The conn for `localUfrag` and the IP family of `addr` (default: the family of the mux's socket or
   * server), created if missing and claimed: it no longer expires, and its candidate leaves the accept
   * queue. `addr` only picks the family: no address is associated with the conn (UDP) nor dialled (TCP).
   * With `password` (the local ICE password), inbound checks must carry a valid MESSAGE-INTEGRITY. Throws a
   * `TypeError` for a bad argument, `ERR_MUX_CLOSED` once the mux closed, and `ERR_CONNECTION_LIMIT` when
   * creating the conn would exceed `maxConnections`.
   */
  getConn(localUfrag: string, addr?: { address: string }, options?: { password?: string }): MuxedConnection {
    return this.connTable.getConn(localUfrag, addr, options, this.defaultFamily, this.closed);
  }

  /**
   * The next candidate: a conn created by a first check for an unknown ufrag (over TCP, the first frame of
   * a connection), claimed by this call. Rejects with `ERR_MUX_CLOSED` once the mux closed (pending calls
   * too), or with `signal.reason`.
   */
  accept(options?: { signal?: AbortSignal }): Promise<Candidate> {
    return this.connTable.acceptChecked(options, this.closed);
  }

  /** Candidates as they come (each as `accept()` gives it); ends when the mux closes. */
  [Symbol.asyncIterator](): AsyncIterableIterator<Candidate> {
    return iterateUntil(
      (signal) => this.accept({ signal }),
      (err) => err instanceof MuxClosedError,
    );
  }

  /**
   * Close and forget the conns of `localUfrag` (both families), each emitting `'close'`, with what the
   * transport keeps for them — UDP's addresses and transactions, TCP's connections — and a candidate still
   * waiting for `accept()`. Unknown ufrags are ignored.
   */
  removeConnByUfrag(localUfrag: string): void {
    this.connTable.removeByUfrag(localUfrag);
  }
}

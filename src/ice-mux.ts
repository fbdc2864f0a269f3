/**
 * IceMux: what an ICE agent (the werift adapter) needs from a mux, whatever carries the packets. As in
 * pion/ice, where one small interface stands before `UDPMux`, `UDPMuxUniversal` and `TCPMux`, an adapter
 * sees only this: it asks for the conn of a local ufrag, gives it back, learns the addresses to advertise,
 * and hears when the mux goes away. `UDPMux` implements it (and `TCPMux` will).
 */
import type { AddressInfo } from "node:net";
import type { MuxedConnection } from "./muxed-connection.js";

export interface IceMux {
  /** `true` once the mux began closing. */
  readonly closed: boolean;
  /**
   * The conn of `localUfrag` in the family of `addr` (default: the mux's), created if missing; with
   * `password`, inbound checks must carry a valid MESSAGE-INTEGRITY.
   */
  getConn(localUfrag: string, addr?: { address: string }, options?: { password?: string }): MuxedConnection;
  /** The addresses the mux listens on (a wildcard bind reports the wildcard); `ERR_MUX_CLOSED` once closed. */
  getListenAddresses(): AddressInfo[];
  /** Close and forget the conns of `localUfrag`. */
  removeConnByUfrag(localUfrag: string): void;
  /** `'close'`: the mux finished closing. */
  once(event: "close", listener: () => void): unknown;
}

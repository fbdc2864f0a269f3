/** What the UDP mux keeps per conn: the conn table's record plus UDP's associations, transactions, hairpin. */
import { type Association, type AssociationOwner, NO_ASSOCIATIONS } from "../core/associations.js";
import type { ConnRecord } from "../core/conn-table.js";
import type { TransactionOwner } from "../core/transactions.js";
import type { MuxedConnection } from "../muxed-connection.js";
import type { IngressPath } from "./ingress.js";

export interface UdpConnRecord
  extends ConnRecord,
    AssociationOwner<MuxedConnection, IngressPath>,
    TransactionOwner {
  /** Associations owned, at most `maxAddressesPerUfrag`; exact size, replaced on change (see `core/associations.ts`). */
  addresses: readonly UdpAssociation[];
  /** The other end of a hairpin session on this same mux, once a check linked them. */
  hairpinPeer: UdpConnRecord | undefined;
}

/** A remote address's owner; `via` is the ingress it is reached through (`undefined`: the socket). */
export type UdpAssociation = Association<UdpConnRecord, IngressPath>;

/** A fresh record for `conn` (the conn table files it under its ufrag). */
export function newRecord(conn: MuxedConnection, now: number): UdpConnRecord {
  return {
    conn,
    addresses: NO_ASSOCIATIONS,
    transactions: undefined,
    claimed: false,
    createdAt: now,
    hairpinPeer: undefined,
  };
}

/** Two conns of one mux are the ends of a hairpin session: what one sends to the mux goes to the other. */
export function link(a: UdpConnRecord, b: UdpConnRecord): void {
  a.hairpinPeer = b;
  b.hairpinPeer = a;
}

/** `record` is going away: whoever it was linked to is linked to nobody. */
export function unlink(record: UdpConnRecord): void {
  if (record.hairpinPeer?.hairpinPeer === record) record.hairpinPeer.hairpinPeer = undefined;
  record.hairpinPeer = undefined;
}

/** The parent ↔ sender child protocol (see bench/sender.ts). */
export const SENDER_SOCKETS = 64;
/** No single blast runs longer than this, whatever the parent asks. */
export const MAX_BLAST_MS = 5000;

/**
 * `open`: 64 new sockets connected to `port` (answered by `opened` with their ports: a connected UDP socket
 * keeps its port only while it stays connected, so each receiver gets its own set); `blast`: send to
 * `port` for `ms` (answered by `done`); `close`: close the set for `port` (answered by `closed`).
 */
export type ToSender =
  | { type: "open"; port: number }
  | { type: "blast"; port: number; ms: number }
  | { type: "close"; port: number }
  | { type: "exit" };
export type FromSender =
  | { type: "ready" }
  | { type: "opened"; ports: number[] }
  | { type: "done"; sent: number }
  | { type: "closed" };

/** The load bench's processes and what they say to each other over IPC (see bench/load.ts). */

/** The three servers compared side by side. */
export const LOAD_VARIANTS = ["mux", "mux-os-buffer", "own", "own-flooded"] as const;
export type LoadVariant = (typeof LOAD_VARIANTS)[number];

/** No flood runs longer than this, whatever the parent asks. */
export const MAX_FLOOD_MS = 30_000;
/** Junk datagram sizes: from a small stray packet to a full media packet. */
export const JUNK_MIN_BYTES = 100;
export const JUNK_MAX_BYTES = 1200;

/** server → flooder: send junk to `ports` at `rate`/s for at most `ms`; `targets` replaces the ports. */
export type ToFlooder =
  | { type: "start"; ports: number[]; rate: number; ms: number }
  | { type: "targets"; ports: number[] }
  | { type: "stop" };
export type FromFlooder =
  | { type: "ready" }
  | { type: "started" }
  /** `seconds`: how long it sent (from the first datagram to the last). */
  | { type: "stopped"; sent: number; seconds: number };

/** server → clients: open `count` peer connections at once; `answer` completes offer `id`. */
export type ToClients =
  | { type: "go"; count: number; timeoutMs: number }
  | { type: "answer"; id: number; sdp: string }
  | { type: "exit" };
/** `openMs[i]`: createOffer → the client's channel `open`, or null if it did not open in time. */
export type FromClients =
  | { type: "ready" }
  | { type: "offer"; id: number; sdp: string }
  | { type: "done"; openMs: (number | null)[] };

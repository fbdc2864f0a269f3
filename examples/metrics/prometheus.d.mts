import type { Registry } from "prom-client";
import type { TCPMuxStats, UDPMuxStats } from "udpmux";

export interface MetricSpec {
  readonly name: string;
  readonly type: "counter" | "gauge";
  /** The stats() field read (a number). */
  readonly field?: string;
  /** The stats() field broken down by a `reason` label. */
  readonly byReason?: "droppedByReason" | "rejectedByReason";
  readonly transports: readonly ("udp" | "tcp")[];
  /** `mux.refreshKernelDrops()` before reading. */
  readonly refresh?: boolean;
  readonly help: string;
}

export const METRICS: readonly MetricSpec[];

/** What the metrics read of a `UDPMux` (structural, so a mux built from src/ fits too). */
export interface UDPMuxLike {
  stats(): UDPMuxStats;
  refreshKernelDrops(): Promise<number | undefined>;
}

/** What the metrics read of a `TCPMux`. */
export interface TCPMuxLike {
  stats(): TCPMuxStats;
}

export function muxMetrics(options: { udp?: UDPMuxLike; tcp?: TCPMuxLike; registry?: Registry }): Registry;

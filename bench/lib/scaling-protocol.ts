/** IPC between bench/scaling.ts and its client processes (bench/scaling-client.ts). */
export type ToScalingClient =
  | { type: "connect"; url: string; peers: number; timeoutMs: number }
  | { type: "echo"; ms: number; inFlight: number; bytes: number }
  | { type: "exit" };

export type FromScalingClient =
  | { type: "ready" }
  | { type: "connected"; opened: number; failed: string[]; cpuNs: number }
  | { type: "echoed"; echoes: number; seconds: number; cpuNs: number };

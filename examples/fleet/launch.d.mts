import type { ChildProcess } from "node:child_process";

export declare const NODE: string;
export declare function isAlive(pid: number): boolean;

export interface Redis {
  url: string;
  pid: number;
  output: string[];
  stop(): Promise<void>;
}
export declare function startRedis(options?: { host?: string }): Promise<Redis>;

export interface FleetNode {
  child: ChildProcess;
  /** `http://ADDR:PORT`, from the node's signaling line. */
  url: string;
  pid: number;
  /** The worker pids the node printed at start (a replaced worker has a new one: see GET /stats). */
  workers: number[];
  stdout: string[];
  output: string[];
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}
export declare function startNode(
  args: string[],
  options?: { name?: string; echo?: boolean },
): Promise<FleetNode>;

export interface FleetSession {
  answer: string;
  /** The session's absolute URL on the node that answered (for PATCH and DELETE). */
  location: string;
  answeredBy: string;
  redirected: boolean;
  attempt: number;
}
export declare function offerToFleet(
  urls: string[],
  first: number,
  sdp: string,
  options?: { timeoutMs?: number; retryMs?: number },
): Promise<FleetSession>;

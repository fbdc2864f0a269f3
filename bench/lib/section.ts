/**
 * A benchmark section is one record: its name, how it runs, the targets it is judged by (each with the
 * reason for its value) and how its result reads on stdout. `bench/run.ts` only iterates the records in
 * `bench/sections/index.ts`; adding a section is a file in `bench/sections/` and its line in that list.
 */
import { execFile } from "node:child_process";
import { availableParallelism, cpus, release } from "node:os";
import { promisify } from "node:util";

export interface Machine {
  cpu: string;
  /** `os.availableParallelism()`: the cores this process may use. */
  nproc: number;
  node: string;
  kernel: string;
  platform: string;
}

/** What the benchmarks ran on; `os.cpus()` works on Linux, macOS and Windows alike (no /proc needed). */
export function machine(): Machine {
  return {
    cpu: cpus()[0]?.model.trim() || "unknown",
    nproc: availableParallelism(),
    node: process.version,
    kernel: release(),
    platform: process.platform,
  };
}

export interface Target {
  name: string;
  /** The bar, as printed ("≥ 0.95"). */
  target: string;
  measured: string;
  met: boolean;
  /** Why the bar is where it is. */
  reason: string;
}

export interface RunOptions {
  /** CI's smoke run: fewer conns, rounds and clients; its numbers show the code runs, not how fast. */
  quick: boolean;
  machine: Machine;
  /** The path of a compiled bench file next to run.js (`bench/.cache/<file>`), for child processes. */
  script(file: string): string;
  /** Results of the sections that ran earlier in this run, by name (the kernel section reads `push`'s). */
  earlier: ReadonlyMap<string, unknown>;
  log(message: string): void;
}

export interface Section<R> {
  /** What `--only=` names it by, and its key in results.json's `sections`. */
  name: string;
  /** One line for the progress log on stderr. */
  title(options: RunOptions): string;
  run(options: RunOptions): Promise<R>;
  /** The targets judged on this result; none is fine. */
  targets(result: R, options: RunOptions): Target[];
  /** Its part of the report on stdout. */
  render(result: R, options: RunOptions): string;
  /** Extra files a full run writes next to results.json (file name → contents), e.g. the chart. */
  files?(result: R, options: RunOptions): Record<string, string>;
}

/** Keeps `R` checked inside each record while the list holds records of different result types. */
export function section<R>(record: Section<R>): Section<unknown> {
  return record as Section<unknown>;
}

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

const execFileAsync = promisify(execFile);

/** Runs a bench child process (`node …args`); its last stdout line is its JSON result. */
export async function child<T>(args: string[], timeoutMs: number): Promise<T> {
  const { stdout } = await execFileAsync(process.execPath, args, { timeout: timeoutMs, maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as T;
}

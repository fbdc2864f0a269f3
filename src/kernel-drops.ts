/**
 * Datagrams the kernel dropped at one UDP socket because its receive buffer was full: the loss a mux can't
 * see itself. Linux counts them per socket in the last column (`drops`) of `/proc/net/udp` and
 * `/proc/net/udp6` (a per-network-namespace view); other platforms have no per-socket count.
 *
 * The socket is found once, by its local port, and remembered by its inode; when several sockets of the
 * namespace share the port, only the one whose inode this process holds counts. Each read is one read of a
 * small `/proc` file: no per-datagram cost.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import type { Family } from "./address.js";

/** `/proc/net/udp` columns: `sl local_address rem_address st … uid timeout inode ref pointer drops`. */
const LOCAL_ADDRESS = 1;
const INODE = 9;

export class KernelDropCounter {
  readonly #file: string;
  readonly #inode: string | undefined;
  readonly #baseline: number | undefined;
  #last: number | undefined;

  /** Starts counting now: drops before this call are not counted. */
  constructor(family: Family, port: number) {
    this.#file = family === "IPv6" ? "/proc/net/udp6" : "/proc/net/udp";
    this.#inode = process.platform === "linux" ? findInode(this.#file, port) : undefined;
    this.#baseline = this.#inode === undefined ? undefined : readDrops(this.#file, this.#inode);
    this.#last = this.#baseline === undefined ? undefined : 0;
  }

  /**
   * Drops since the counter started; `undefined` where the platform can't tell. Once the socket is gone,
   * the last count read.
   */
  read(): number | undefined {
    if (this.#baseline === undefined || this.#inode === undefined) return undefined;
    const now = readDrops(this.#file, this.#inode);
    // The kernel's counter is 32 bits wide.
    if (now !== undefined) this.#last = (now - this.#baseline) >>> 0;
    return this.#last;
  }
}

function lines(file: string): string[][] | undefined {
  try {
    return readFileSync(file, "latin1")
      .split("\n")
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => fields.length > INODE);
  } catch {
    return undefined; // no /proc (a container without it, another platform)
  }
}

function findInode(file: string, port: number): string | undefined {
  const suffix = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const matches = (lines(file) ?? [])
    .filter((fields) => fields[LOCAL_ADDRESS]!.endsWith(suffix))
    .map((fields) => fields[INODE]!);
  if (matches.length <= 1) return matches[0];
  const own = ownSocketInodes();
  const ours = matches.filter((inode) => own.has(inode));
  return ours.length === 1 ? ours[0] : undefined; // several of our own: can't tell which
}

function readDrops(file: string, inode: string): number | undefined {
  const fields = lines(file)?.find((f) => f[INODE] === inode);
  if (fields === undefined) return undefined;
  const drops = Number(fields.at(-1));
  return Number.isSafeInteger(drops) ? drops : undefined;
}

/** The inodes of this process's sockets (`/proc/self/fd/N → socket:[inode]`). */
function ownSocketInodes(): Set<string> {
  const out = new Set<string>();
  try {
    for (const fd of readdirSync("/proc/self/fd")) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
        if (match !== null) out.add(match[1]!);
      } catch {
        // closed between the listing and the read
      }
    }
  } catch {
    // no /proc/self/fd
  }
  return out;
}

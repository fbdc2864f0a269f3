/**
 * Datagrams the kernel dropped at one UDP socket because its receive buffer was full: the loss a mux can't
 * see itself. Linux counts them per socket in the last column (`drops`) of `/proc/net/udp` and
 * `/proc/net/udp6` (a per-network-namespace view); other platforms have no per-socket count.
 *
 * Those files list every UDP socket of the namespace: with 15,000 of them, reading and splitting one on
 * every `stats()` took ~200 ms, long enough to overflow the very buffer being watched. So nothing here runs
 * on the caller's path: the file is read asynchronously (one read in flight at a time), by a timer every
 * `kernelDropsIntervalMs` or on demand, and {@link KernelDropCounter.read} returns the count of the last
 * read. A read searches the raw bytes for the socket's port and parses only the lines that carry it.
 *
 * The socket is found by the first read, begun at construction, by its local port, and remembered by its
 * inode; that read is also the baseline (drops before it are not counted). When several sockets of the
 * namespace share the port, only the one whose inode this process holds counts.
 */
import { closeSync, open as openFd, read as readFd } from "node:fs";
import { readdir, readlink } from "node:fs/promises";
import type { Family } from "./address.js";
import { log } from "./log.js";

/** `/proc/net/udp` columns: `sl local_address rem_address st … uid timeout inode ref pointer drops`. */
const LOCAL_ADDRESS = 1;
const INODE = 9;

/** `readlink` calls in flight while looking through `/proc/self/fd` (a server may hold thousands of fds). */
const FD_BATCH = 64;

/** The first read's buffer; later ones start at the size the last read needed (128 bytes a socket). */
const FIRST_READ_BYTES = 64 * 1024;

const LF = 0x0a;

/** One line of `/proc/net/udp{,6}`: a socket on the port looked for. */
export interface ProcSocket {
  inode: string;
  /** The kernel's 32-bit counter. */
  drops: number;
}

export class KernelDropCounter {
  readonly #file: string;
  readonly #port: number;
  readonly #intervalMs: number;
  /** `pending` until the first read has looked for the socket; `none` when it can't be found (no more reads). */
  #lookup: "pending" | "found" | "none";
  #inode: string | undefined;
  #baseline = 0;
  #last: number | undefined;
  #readBytes = FIRST_READ_BYTES;
  /** The read in flight, and the one queued behind it for callers that asked during it. Neither rejects. */
  #running: Promise<void> | undefined;
  #queued: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  /**
   * Begins the first read now: it finds the socket and takes the baseline, so drops before it completes
   * (moments later) are not counted. Until it does, {@link read} returns 0 on Linux.
   */
  constructor(family: Family, port: number, intervalMs: number) {
    this.#file = family === "IPv6" ? "/proc/net/udp6" : "/proc/net/udp";
    this.#port = port;
    this.#intervalMs = intervalMs;
    const linux = process.platform === "linux";
    this.#lookup = linux ? "pending" : "none";
    this.#last = linux ? 0 : undefined;
    if (linux) this.#begin();
  }

  /** Refresh every `intervalMs` (an unref'd timer) until {@link close}. Idempotent. */
  start(): void {
    if (this.#timer !== undefined || this.#closed || this.#lookup === "none") return;
    this.#timer = setInterval(this.#tick, this.#intervalMs);
    this.#timer.unref();
  }

  /**
   * Drops since the first read, as of the last read; never touches the file system. `undefined` where the
   * platform can't tell (or the socket couldn't be told apart); 0 until the first read completes. Once the
   * socket is gone, the last count read.
   */
  read(): number | undefined {
    return this.#last;
  }

  /**
   * Read now and resolve with the fresh count: the read starts after this call (one in flight is waited
   * for, and callers arriving meanwhile share the next). Never rejects but with `signal.reason`. After
   * {@link close}, the last count read.
   */
  refresh(signal?: AbortSignal): Promise<number | undefined> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const fresh = this.#fresh().then(() => this.#last);
    return signal === undefined ? fresh : abortable(fresh, signal);
  }

  /** Stop the timer; resolves once no read is in flight. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    return this.#running ?? Promise.resolve();
  }

  readonly #tick = (): void => {
    if (this.#running === undefined) this.#begin(); // a slow read isn't piled on
  };

  #fresh(): Promise<void> {
    if (this.#running === undefined) return this.#begin();
    this.#queued ??= this.#running.then(() => {
      this.#queued = undefined;
      return this.#begin();
    });
    return this.#queued;
  }

  #begin(): Promise<void> {
    if (this.#closed || this.#lookup === "none") return Promise.resolve();
    const running = this.#update()
      .catch((err: unknown) => log("kernel drops: reading %s failed: %O", this.#file, err))
      .finally(() => {
        this.#running = undefined;
      });
    this.#running = running;
    return running;
  }

  async #update(): Promise<void> {
    let text: Buffer | undefined;
    try {
      text = await readProcFile(this.#file, this.#readBytes, () => this.#closed);
    } catch (err) {
      log("kernel drops: can't read %s: %O", this.#file, err);
      if (this.#lookup === "pending") this.#giveUp(); // no /proc (a container without it)
      return;
    }
    if (text === undefined) return; // closed while reading
    this.#readBytes = Math.max(FIRST_READ_BYTES, text.length + (text.length >> 3));
    const sockets = socketsOnPort(text, this.#port);
    if (this.#lookup === "pending") {
      const found = sockets.length <= 1 ? sockets[0] : await ownSocket(sockets, () => this.#closed);
      if (this.#closed) return; // closed while looking: the socket may still be ours, the count stays 0
      if (found === undefined) {
        log(
          "kernel drops: port %d: %d sockets in %s, none known as ours",
          this.#port,
          sockets.length,
          this.#file,
        );
        return this.#giveUp();
      }
      this.#lookup = "found";
      this.#inode = found.inode;
      this.#baseline = found.drops;
      return;
    }
    const now = sockets.find((s) => s.inode === this.#inode);
    if (now !== undefined) this.#last = dropsSince(this.#baseline, now.drops); // a socket gone keeps its count
  }

  #giveUp(): void {
    this.#lookup = "none";
    this.#last = undefined;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * The whole of a `/proc` file, or `undefined` once `stop()` says so. Such a file has no size, and the kernel
 * hands it out a page (4 KiB) per read: with 15,000 sockets, ~480 reads. So they all go into one buffer,
 * grown when full, not a fresh 64 KiB chunk each (31 MB of garbage a read, as `readFile` makes), and with
 * callbacks: half the event-loop time of `FileHandle.read` (~10 ms a read of 15,000 sockets, in ~480
 * slices of ~20 µs).
 */
function readProcFile(file: string, bytes: number, stop: () => boolean): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    openFd(file, "r", (openErr, fd) => {
      if (openErr !== null) return reject(openErr);
      let buf = Buffer.allocUnsafe(bytes);
      let length = 0;
      // close(2) of a /proc file frees a page: done at once, so a read stopped by close() ends one
      // thread-pool trip sooner.
      const finish = (err: Error | null, text: Buffer | undefined) => {
        try {
          closeSync(fd);
        } catch (closeErr) {
          err ??= closeErr as Error;
        }
        if (err !== null) reject(err);
        else resolve(text);
      };
      const next = (): void => {
        if (stop()) return finish(null, undefined);
        if (length === buf.length) {
          const bigger = Buffer.allocUnsafe(2 * buf.length);
          buf.copy(bigger, 0, 0, length);
          buf = bigger;
        }
        readFd(fd, buf, length, buf.length - length, null, (err, bytesRead) => {
          if (err !== null) return finish(err, undefined);
          if (bytesRead === 0) return finish(null, buf.subarray(0, length));
          length += bytesRead;
          next();
        });
      };
      next();
    });
  });
}

/**
 * The sockets whose local port is `port` in the text of `/proc/net/udp{,6}`. Only lines holding the port's
 * `:XXXX ` (4 upper-case hex digits, then the space before `rem_address`) are decoded and split, so the
 * cost is a byte search, not a parse of every socket of the namespace.
 */
export function socketsOnPort(text: Buffer, port: number): ProcSocket[] {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const needle = Buffer.from(`${hex} `, "latin1");
  const out: ProcSocket[] = [];
  for (let at = text.indexOf(needle); at !== -1; ) {
    const start = text.lastIndexOf(LF, at) + 1;
    let end = text.indexOf(LF, at);
    if (end === -1) end = text.length;
    const fields = text.toString("latin1", start, end).trim().split(/\s+/);
    // The port may be a remote one (`rem_address`): only `local_address` counts.
    if (fields.length > INODE && fields[LOCAL_ADDRESS]!.endsWith(hex)) {
      const drops = Number(fields.at(-1));
      if (Number.isSafeInteger(drops)) out.push({ inode: fields[INODE]!, drops });
    }
    at = text.indexOf(needle, end);
  }
  return out;
}

/** Drops between two readings of the kernel's counter, which is 32 bits wide (and wraps). */
export function dropsSince(baseline: number, now: number): number {
  return (now - baseline) >>> 0;
}

/** The one of `sockets` this process holds (`/proc/self/fd/N → socket:[inode]`); none when 0 or several. */
async function ownSocket(sockets: ProcSocket[], stop: () => boolean): Promise<ProcSocket | undefined> {
  const wanted = new Set(sockets.map((s) => s.inode));
  const held = new Set<string>();
  let fds: string[];
  try {
    fds = await readdir("/proc/self/fd");
  } catch (err) {
    log("kernel drops: can't list /proc/self/fd: %O", err);
    return undefined;
  }
  for (let i = 0; i < fds.length && !stop(); i += FD_BATCH) {
    const links = await Promise.all(
      fds.slice(i, i + FD_BATCH).map(
        (fd) => readlink(`/proc/self/fd/${fd}`).catch(() => ""), // closed between the listing and the read
      ),
    );
    for (const link of links) {
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
      if (inode !== undefined && wanted.has(inode)) held.add(inode);
    }
  }
  const ours = sockets.filter((s) => held.has(s.inode));
  return ours.length === 1 ? ours[0] : undefined; // several of our own: can't tell which
}

/** `promise`, or `signal.reason` if it aborts first; the listener is removed either way. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

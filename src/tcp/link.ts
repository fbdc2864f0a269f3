/**
 * One accepted TCP connection (a *link*) and its flow control.
 *
 * A link is read until its conn can't take more: either its consumer asked (`MuxedConnection.pauseFrom`, the
 * werift adapter, whose queue is bounded per connection) or the conn's own queue for `readFrom()` reached a
 * bound. Then the mux stops reading the socket, so TCP flow control slows the sender, and reads on once both
 * reasons are gone. {@link LinkFlow} is that decision as plain state transitions — which return what to do
 * (stop reading now, schedule a resume) and keep the counts `stats()` reports — with the socket calls left
 * to the caller (see `test/tcp/link.test.ts`).
 */
import type { Socket } from "node:net";
import type { AddressMap, Family } from "../address.js";
import type { ConnRecord } from "../core/conn-table.js";
import { type FrameTiming, NONE } from "./deadlines.js";
import type { FrameAction, FrameReader } from "./framing.js";

/** What a mux counts over all its links: those whose reading is paused (`stats().pausedConnections`). */
export interface PauseCount {
  paused: number;
}

/** What a conn counts over its links: those paused until its queue drains. */
export interface QueueWaiters {
  queuePaused: number;
}

/**
 * Why reading one link is stopped: for its consumer, for its conn's queue, or both; and whether a resume is
 * already scheduled. Each transition keeps the mux's {@link PauseCount} (a link counts once, whatever the
 * reasons) and the conn's {@link QueueWaiters}. After {@link close} every transition is a no-op.
 */
export class LinkFlow {
  #consumerPaused = false;
  #queuePaused = false;
  #resumeScheduled = false;
  #closed = false;
  readonly #mux: PauseCount;

  constructor(mux: PauseCount) {
    this.#mux = mux;
  }

  /** Reading is stopped, for either reason. */
  get paused(): boolean {
    return this.#consumerPaused || this.#queuePaused;
  }

  get consumerPaused(): boolean {
    return this.#consumerPaused;
  }

  get queuePaused(): boolean {
    return this.#queuePaused;
  }

  get resumeScheduled(): boolean {
    return this.#resumeScheduled;
  }

  /** The consumer can't take more (`pauseFrom`). Returns whether that is news: then stop reading now. */
  consumerPause(): boolean {
    if (this.#closed || this.#consumerPaused) return false;
    this.#consumerPaused = true;
    if (!this.#queuePaused) this.#mux.paused++;
    return true;
  }

  /** The consumer can take more (`resumeFrom`). Returns whether to schedule a resume now. */
  consumerResume(): boolean {
    if (this.#closed || !this.#consumerPaused) return false;
    this.#consumerPaused = false;
    if (!this.#queuePaused) this.#mux.paused--;
    return this.#schedule();
  }

  /** The conn's queue reached a bound with this link's frame: stop reading it until the queue drains. */
  queueFull(conn: QueueWaiters): void {
    if (this.#closed || this.#queuePaused) return;
    this.#queuePaused = true;
    conn.queuePaused++;
    if (!this.#consumerPaused) this.#mux.paused++;
  }

  /** The conn's queue drained (to half its bounds). Returns whether to schedule a resume now. */
  queueDrained(conn: QueueWaiters): boolean {
    if (this.#closed || !this.#queuePaused) return false;
    this.#queuePaused = false;
    conn.queuePaused--;
    if (!this.#consumerPaused) this.#mux.paused--;
    return this.#schedule();
  }

  /**
   * The scheduled resume runs (next turn of the event loop, never inside a reader's or consumer's call).
   * Returns whether to read on: not if a reason to pause came back meanwhile, or the link closed.
   */
  resumeDue(): boolean {
    this.#resumeScheduled = false;
    return !this.#closed && !this.#consumerPaused && !this.#queuePaused;
  }

  /** The link is gone: it no longer counts as paused, for the mux or for `conn` (if it was routed). */
  close(conn: QueueWaiters | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#queuePaused && conn !== undefined) conn.queuePaused--;
    if (this.paused) this.#mux.paused--;
    this.#consumerPaused = false;
    this.#queuePaused = false;
  }

  #schedule(): boolean {
    if (this.#resumeScheduled) return false;
    this.#resumeScheduled = true;
    return true;
  }
}

/** One accepted TCP connection: pending until its first frame routes it to a record. */
export interface Link extends FrameTiming {
  readonly socket: Socket;
  readonly reader: FrameReader;
  readonly address: string;
  readonly port: number;
  readonly family: Family;
  /** What per-source limits count it under: the IPv4 address, or the IPv6 /64. */
  readonly source: string;
  /** `(frame) => links.#onFrame(link, frame)`, made once per connection. */
  readonly onFrame: (frame: Buffer) => FrameAction;
  /** Set by the first frame; `undefined` while pending and once closed. */
  record: TcpConnRecord | undefined;
  /** Its check verified by MESSAGE-INTEGRITY; unverified connections count against their source. */
  verified: boolean;
  /** The first-frame deadline, while pending. */
  timer: NodeJS.Timeout | undefined;
  /** Frames read so far (tells a frame still in progress from the next one). */
  frames: number;
  readonly flow: LinkFlow;
  /**
   * While the mux shares its port with a web server and the connection's first bytes don't yet say which
   * of the two it is for: the bytes so far (fewer than `CLASSIFY_BYTES`). `undefined` once classified, or
   * when there is no web server.
   */
  head: Buffer | undefined;
  /** While {@link head} is set: removes the mux's socket listeners (the connection goes to the web server). */
  release: (() => void) | undefined;
}

/** The mux's bookkeeping for one conn: the table's record plus its TCP connections. */
export interface TcpConnRecord extends ConnRecord, QueueWaiters {
  /** Routed connections by remote address, at most `maxAddressesPerUfrag` (one while unclaimed). */
  readonly links: AddressMap<Link>;
}

/** Where a link comes from. */
export interface LinkPeer {
  readonly address: string;
  readonly port: number;
  readonly family: Family;
  readonly source: string;
}

/** A new, pending link; its frames go to `onFrame(link, frame)`, its pauses count in `pauses`. */
export function createLink(
  socket: Socket,
  reader: FrameReader,
  peer: LinkPeer,
  pauses: PauseCount,
  onFrame: (link: Link, frame: Buffer) => FrameAction,
): Link {
  const link: Link = {
    socket,
    reader,
    address: peer.address,
    port: peer.port,
    family: peer.family,
    source: peer.source,
    onFrame: (data) => onFrame(link, data),
    record: undefined,
    verified: false,
    timer: undefined,
    frames: 0,
    flow: new LinkFlow(pauses),
    head: undefined,
    release: undefined,
    frameIndex: NONE,
    frameStartedAt: 0,
    framePausedAt: NONE,
  };
  return link;
}

/**
 * TcpFlowControl: the socket side of TCP flow control for `TcpLinks`. {@link LinkFlow} (`link.ts`) decides
 * when a link's reading stops and when it may read on; this does what it says — stops the reader or the
 * socket, holds the link's frame deadline while the peer can't finish a frame we don't read
 * ({@link FrameDeadlines}), and reads on a turn later, first what the reader kept, then the socket.
 */
import type { FrameDeadlines } from "./deadlines.js";
import type { FrameAction, PushResult } from "./framing.js";
import type { Link, TcpConnRecord } from "./link.js";

/** The bounds of a conn's queue for `readFrom()` at which its links pause. */
interface QueueBounds {
  readonly maxQueuedBytes: number;
  readonly maxQueuedPackets: number;
}

export class TcpFlowControl {
  readonly #bounds: QueueBounds;
  readonly #deadlines: FrameDeadlines<Link>;
  /** What `TcpLinks` does after a read: pause the socket again, or time the frame in progress. */
  readonly #afterRead: (link: Link, result: PushResult) => void;

  constructor(
    bounds: QueueBounds,
    deadlines: FrameDeadlines<Link>,
    afterRead: (link: Link, result: PushResult) => void,
  ) {
    this.#bounds = bounds;
    this.#deadlines = deadlines;
    this.#afterRead = afterRead;
  }

  /**
   * After a delivery: pause reading `link` if its consumer asked to (`pauseFrom`, during the delivery) or
   * its conn's queue reached a bound; the reader keeps the rest of the chunk for later.
   */
  backpressure(link: Link, record: TcpConnRecord): FrameAction {
    if (link.flow.consumerPaused) return "pause";
    const conn = record.conn;
    if (
      conn.queuedBytes < this.#bounds.maxQueuedBytes &&
      conn.queuedPackets < this.#bounds.maxQueuedPackets
    ) {
      return undefined;
    }
    link.flow.queueFull(record);
    return "pause";
  }

  /** The consumer of `record` (the werift adapter) can't take more from `address:port` now, or can again. */
  setPaused(record: TcpConnRecord, address: string, port: number, paused: boolean): void {
    const link = record.links.get(address, port);
    if (link === undefined) return;
    if (!paused) {
      if (link.flow.consumerResume()) this.#scheduleResume(link);
    } else if (link.flow.consumerPause()) {
      // Inside the read loop `backpressure` pauses the reader; outside it, stop the socket now.
      link.socket.pause();
      this.#deadlines.pause(link);
    }
  }

  /** `record`'s reader took a packet: resume its paused links once the queue is down to half its bounds. */
  queueShrunk(record: TcpConnRecord): void {
    if (record.queuePaused === 0) return;
    const conn = record.conn;
    if (conn.queuedBytes > this.#bounds.maxQueuedBytes / 2) return;
    if (conn.queuedPackets > this.#bounds.maxQueuedPackets / 2) return;
    for (const link of record.links.values()) {
      if (link.flow.queueDrained(record)) this.#scheduleResume(link);
    }
  }

  /** Read on, next turn (never inside a reader's or consumer's call): first what was kept, then the socket. */
  #scheduleResume(link: Link): void {
    setImmediate(() => {
      if (!link.flow.resumeDue() || link.socket.destroyed || link.record === undefined) return;
      this.#deadlines.resume(link);
      const result = link.reader.paused ? link.reader.resume(link.onFrame) : "ok";
      this.#afterRead(link, result);
      if (result === "ok") link.socket.resume();
    });
  }
}

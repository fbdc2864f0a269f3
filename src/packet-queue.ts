/**
 * PacketQueue: a conn's datagrams (or frames) waiting for `readFrom()`, bounded in count and counted in
 * bytes, so a stream transport can pause its source on bytes (`TCPMux`'s `maxQueuedBytes`).
 */
import type { RemoteInfo } from "./address.js";
import { BoundedQueue } from "./queue.js";

export interface QueuedPacket {
  readonly data: Buffer;
  readonly rinfo: RemoteInfo;
}

export class PacketQueue {
  readonly #items: BoundedQueue<QueuedPacket>;
  #bytes = 0;

  constructor(capacity: number) {
    this.#items = new BoundedQueue(capacity);
  }

  get length(): number {
    return this.#items.length;
  }

  /** Bytes of the packets waiting. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Append; `false` when the count bound is reached (the caller counts the drop). */
  push(data: Buffer, rinfo: RemoteInfo): boolean {
    if (!this.#items.push({ data, rinfo })) return false;
    this.#bytes += data.length;
    return true;
  }

  shift(): QueuedPacket | undefined {
    const item = this.#items.shift();
    if (item !== undefined) this.#bytes -= item.data.length;
    return item;
  }

  /** Forget everything; how many packets went. */
  drain(): number {
    const count = this.#items.drain().length;
    this.#bytes = 0;
    return count;
  }
}

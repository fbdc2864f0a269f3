/**
 * A bounded FIFO ring. `push` refuses (returns false) when full, so the caller decides what a full queue
 * means and counts it; nothing is ever dropped silently in here.
 *
 * Storage starts empty and doubles (from {@link INITIAL_SLOTS}) up to `capacity`: every conn has a queue,
 * most hold one datagram at most (a first check, or nothing in push mode), and `capacity` slots up front
 * would cost ~1 KiB per conn.
 */
const INITIAL_SLOTS = 4;

export class BoundedQueue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;
  #length = 0;

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.#length;
  }

  /** Append; `false` when the queue is full. */
  push(item: T): boolean {
    if (this.#length === this.capacity) return false;
    if (this.#length === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#length) % this.#items.length] = item;
    this.#length++;
    return true;
  }

  /** Remove and return the oldest item. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#items.length;
    this.#length--;
    return item;
  }

  /** Remove every item matching `predicate`, keeping the order of the rest; returns how many went. */
  removeWhere(predicate: (item: T) => boolean): number {
    const kept: T[] = [];
    let removed = 0;
    while (this.#length > 0) {
      const item = this.shift() as T;
      if (predicate(item)) removed++;
      else kept.push(item);
    }
    for (const item of kept) this.push(item);
    return removed;
  }

  /** Remove and return everything, oldest first. */
  drain(): T[] {
    const out: T[] = [];
    while (this.#length > 0) out.push(this.shift() as T);
    return out;
  }

  /** Double the ring (capped at `capacity`), unrolling it so the oldest item is at slot 0. */
  #grow(): void {
    const size = Math.min(this.capacity, Math.max(INITIAL_SLOTS, this.#items.length * 2));
    const next = new Array<T | undefined>(size);
    for (let i = 0; i < this.#length; i++) next[i] = this.#items[(this.#head + i) % this.#items.length];
    this.#items = next;
    this.#head = 0;
  }
}

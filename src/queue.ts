/**
 * A fixed-capacity FIFO ring. `push` refuses (returns false) when full, so the caller decides what a full
 * queue means and counts it; nothing is ever dropped silently in here.
 */
export class BoundedQueue<T> {
  /**
   * The ring, allocated on the first push: every conn has a queue but a conn read in push mode never fills
   * it, and `capacity` slots up front would be ~1 KiB per idle conn.
   */
  #items: (T | undefined)[] | undefined;
  #head = 0;
  #length = 0;

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.#length;
  }

  /** Append; `false` when the queue is full. */
  push(item: T): boolean {
    if (this.#length === this.capacity) return false;
    this.#items ??= new Array(this.capacity);
    this.#items[(this.#head + this.#length) % this.capacity] = item;
    this.#length++;
    return true;
  }

  /** Remove and return the oldest item. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const items = this.#items!; // non-empty: allocated by push
    const item = items[this.#head];
    items[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.capacity;
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
}

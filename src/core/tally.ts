/**
 * Tally: counts by key (connections per source address, say) where a key exists only while its count is
 * above zero, so the map holds no more entries than there are live things being counted.
 */
export class Tally {
  readonly #counts = new Map<string, number>();

  get(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  increment(key: string): void {
    this.#counts.set(key, this.get(key) + 1);
  }

  decrement(key: string): void {
    const left = this.get(key) - 1;
    if (left > 0) this.#counts.set(key, left);
    else this.#counts.delete(key);
  }

  /** Keys with a count above zero. */
  get size(): number {
    return this.#counts.size;
  }
}

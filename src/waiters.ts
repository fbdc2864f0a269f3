/**
 * The waiting shared by `accept()` and `readFrom()`: a FIFO set of pending callers, each removable by its
 * `AbortSignal`, and an async iterator built on a waiting call. One implementation, so both abort, clean up
 * and end the same way.
 */

/** A pending caller. */
export interface Waiter<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
}

/**
 * Wait in `waiters` until someone settles this waiter, or `signal` aborts: then it rejects with
 * `signal.reason` and leaves the set. The abort listener is removed either way.
 */
export function enqueueWaiter<T>(waiters: Set<Waiter<T>>, signal: AbortSignal | undefined): Promise<T> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      waiters.delete(waiter);
      reject(signal!.reason);
    };
    const waiter: Waiter<T> = {
      resolve: (value) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(value);
      },
      reject: (err) => {
        signal?.removeEventListener("abort", onAbort);
        reject(err);
      },
    };
    waiters.add(waiter);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Remove and return the oldest waiter. */
export function takeWaiter<T>(waiters: Set<Waiter<T>> | undefined): Waiter<T> | undefined {
  if (waiters === undefined) return undefined;
  for (const waiter of waiters) {
    waiters.delete(waiter);
    return waiter;
  }
  return undefined;
}

/**
 * An async iterator over `next(signal)` that ends (done) when `next` rejects with an error `isEnd` accepts;
 * `return()` (a `break` out of `for await`) aborts the pending call so no waiter is left behind.
 */
export function iterateUntil<T>(
  next: (signal: AbortSignal) => Promise<T>,
  isEnd: (err: unknown) => boolean,
): AsyncIterableIterator<T> {
  const stop = new AbortController();
  const iterator: AsyncIterableIterator<T> = {
    next: async () => {
      try {
        return { value: await next(stop.signal), done: false };
      } catch (err) {
        if (isEnd(err) || stop.signal.aborted) return { value: undefined, done: true };
        throw err;
      }
    },
    return: async () => {
      stop.abort();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

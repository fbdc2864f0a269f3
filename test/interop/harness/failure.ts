/** `promise`, or a rejection naming `what` after `ms` (so a stalled phase fails fast and says which). */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `body`; if it throws (an assertion included), prints what `explain` gathers — the clients' own ICE
 * and DTLS logs — before rethrowing. (vitest's `onTestFailed` runs after `afterEach` has closed the peers.)
 */
export async function explainFailure<T>(
  body: () => Promise<T>,
  explain: () => Promise<string[]> | string[],
): Promise<T> {
  try {
    return await body();
  } catch (error) {
    try {
      console.error(`${(await explain()).join("\n")}`);
    } catch (explainError) {
      console.error("could not gather the failure report:", explainError);
    }
    throw error;
  }
}

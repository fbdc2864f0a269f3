// What the examples' runners (`npm run example:*`) and their tests share about waiting on other processes:
// a bounded wait, and whether a process is still there.

/** `promise`, or a rejection saying `what` was not done when `ms` pass first; the timer is cleared either way. */
export function within(ms, what, promise) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not done after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Whether process `pid` still exists (signal 0: nothing is sent). */
export function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if (error.code === "ESRCH") return false;
    throw error;
  }
}

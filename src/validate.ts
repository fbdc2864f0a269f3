/**
 * Argument validation, written once. Each validator throws with Node's code (`ERR_INVALID_ARG_TYPE` for
 * the wrong type, `ERR_INVALID_ARG_VALUE` for a wrong value of the right type, `ERR_OUT_OF_RANGE` for a
 * number outside its range) and a message that names the argument, what was expected and what came; so a
 * check reads the same everywhere and its message can't drift between copies.
 */
import type { Family } from "./address.js";
import { canonicalAddress, familyOf } from "./address.js";
import { invalidArgType, invalidArgValue, invalidArgValueMessage, outOfRange } from "./errors.js";
import { isIceUfrag } from "./stun.js";

/** A non-null object (an options bag, an address). */
export function validateObject<T extends object>(value: unknown, name: string): asserts value is T {
  if (value === null || typeof value !== "object") throw invalidArgType(name, "an object", value);
}

/**
 * Every own key of the options bag `options` is one of `valid`: a misspelled option (`maxConection`) would
 * otherwise be accepted and ignored. Throws a `TypeError` with `ERR_INVALID_ARG_VALUE` naming the first unknown
 * key and the closest valid name ("Unknown option `maxConection`: did you mean `maxConnections`?"), or, when
 * none is close, every valid name. `name` is the bag's name in the message when it isn't `options`.
 */
export function validateOptionNames(options: object, valid: readonly string[], name = "options"): void {
  for (const key of Object.keys(options)) {
    if (valid.includes(key)) continue;
    const where = name === "options" ? "" : ` in \`${name}\``;
    const meant = closestName(key, valid);
    throw invalidArgValueMessage(
      meant === undefined
        ? `Unknown option \`${key}\`${where}; the options are ${valid.map((v) => `\`${v}\``).join(", ")}`
        : `Unknown option \`${key}\`${where}: did you mean \`${meant}\`?`,
    );
  }
}

/**
 * The name in `valid` closest to `key` by edit distance (case-insensitive; the first on a tie), if close
 * enough to be a typo: at most 2 edits, or 40% of the key's length for longer keys (as TypeScript's own
 * "did you mean" allows).
 */
export function closestName(key: string, valid: readonly string[]): string | undefined {
  const limit = Math.max(2, Math.floor(key.length * 0.4));
  let best: string | undefined;
  let bestDistance = limit + 1;
  const k = key.toLowerCase();
  for (const name of valid) {
    const d = editDistance(k, name.toLowerCase(), bestDistance);
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * Optimal-string-alignment distance (Levenshtein plus transposition of neighbours: `maxConnetcions` is one
 * edit from `maxConnections`); `bound` or more once it can't be below `bound`.
 */
function editDistance(a: string, b: string, bound: number): number {
  if (Math.abs(a.length - b.length) >= bound) return bound;
  let prev2: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, prev2[j - 2]! + 1);
      row.push(d);
      rowMin = Math.min(rowMin, d);
    }
    if (rowMin >= bound) return bound;
    prev2 = prev;
    prev = row;
  }
  return prev[b.length]!;
}

/** A port number: 1–65535, or 0–65535 with `allowZero` (bind to any free port). */
export function validatePort(value: unknown, name: string, { allowZero = false } = {}): number {
  if (typeof value !== "number") throw invalidArgType(name, "a number", value);
  const min = allowZero ? 0 : 1;
  if (!Number.isInteger(value) || value < min || value > 65535) {
    throw invalidArgValue(name, `an integer from ${min} to 65535`, value);
  }
  return value;
}

/** A positive safe integer (a size, a count; a time in ms is {@link validateTimeout}'s). */
export function validatePositiveInteger(value: unknown, name: string): number {
  if (typeof value !== "number") throw invalidArgType(name, "a positive integer", value);
  if (!Number.isSafeInteger(value) || value < 1) throw invalidArgValue(name, "a positive integer", value);
  return value;
}

/**
 * The longest delay a Node timer holds: it stores milliseconds in a signed 32-bit integer, and a longer
 * `setTimeout`/`setInterval` warns (`TimeoutOverflowWarning`) and fires after 1 ms instead — a
 * `firstFrameTimeoutMs` of 2³¹ would close every connection at once. About 24.8 days.
 */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/**
 * A duration in milliseconds (every `*Ms` option): an integer from `min` (default 1) to
 * {@link MAX_TIMEOUT_MS}. The wrong type throws `ERR_INVALID_ARG_TYPE`; any other number outside the range
 * (0, negative, fractional, NaN, Infinity, 2³¹) a `RangeError` with `ERR_OUT_OF_RANGE`.
 */
export function validateTimeout(value: unknown, name: string, { min = 1 } = {}): number {
  const range = `an integer from ${min} to ${MAX_TIMEOUT_MS} (milliseconds)`;
  if (typeof value !== "number") throw invalidArgType(name, range, value);
  if (!Number.isInteger(value) || value < min || value > MAX_TIMEOUT_MS) throw outOfRange(name, range, value);
  return value;
}

/** An IP address literal (host names are never resolved); returns its canonical spelling and family. */
export function validateIpAddress(value: unknown, name: string): { address: string; family: Family } {
  if (typeof value !== "string") throw invalidArgType(name, "an IP address string", value);
  const address = canonicalAddress(value);
  const family = familyOf(address);
  if (family === undefined)
    throw invalidArgValue(name, "an IP address (host names are never resolved)", value);
  return { address, family };
}

/** An ICE ufrag (RFC 8445 §5.3: 4 to 256 ice-chars; the mux accepts what it can route). */
export function validateUfrag(value: unknown, name: string): string {
  if (typeof value !== "string") throw invalidArgType(name, "a string", value);
  if (!isIceUfrag(value)) throw invalidArgValue(name, "an ICE ufrag (4 to 256 of [A-Za-z0-9+/])", value);
  return value;
}

/** An ICE password: a non-empty string. */
export function validatePassword(value: unknown, name: string): string {
  if (typeof value !== "string") throw invalidArgType(name, "a string", value);
  if (value.length === 0) throw invalidArgValue(name, "a non-empty string", value);
  return value;
}

/** An optional `{ signal }` bag; the signal, if any. */
export function validateSignal(options: unknown): AbortSignal | undefined {
  if (options === undefined) return undefined;
  validateObject<{ signal?: unknown }>(options, "options");
  const { signal } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidArgType("signal", "an AbortSignal", signal);
  }
  return signal;
}

/**
 * `conn.writeTo(data, to)`'s arguments: `data` bytes, `to` an IP literal and a port from 1 to 65535. Returns
 * the canonical address.
 */
export function validateDestination(data: unknown, to: unknown): string {
  if (!(data instanceof Uint8Array)) throw invalidArgType("data", "a Buffer or Uint8Array", data);
  validateObject<{ address?: unknown; port?: unknown }>(to, "to");
  if (typeof to.address !== "string") throw invalidArgType("to.address", "a string", to.address);
  const address = canonicalAddress(to.address);
  if (familyOf(address) === undefined) throw invalidArgValue("to.address", "an IP address", to.address);
  if (typeof to.port !== "number") throw invalidArgType("to.port", "a number", to.port);
  if (!Number.isInteger(to.port) || to.port < 1 || to.port > 65535) {
    throw invalidArgValue("to.port", "an integer from 1 to 65535", to.port);
  }
  return address;
}

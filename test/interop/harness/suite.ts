/**
 * The lifecycle every interop suite on the network guard shares: refuse to run outside a loopback-only
 * namespace, count this process's UDP handles before anything starts, record every bind, send and lookup
 * of each test, and after it close what it opened and wait until the UDP handles are back to the count
 * (nothing leaks into the next test).
 */
import { afterEach, beforeAll, beforeEach } from "vitest";
import {
  assertLoopbackOnlyNamespace,
  countUdpHandles,
  installNetworkGuard,
  type NetworkGuard,
  udpHandlesSettle,
} from "./network-guard.js";

export interface InteropSuite {
  /** The running test's network guard. */
  readonly guard: NetworkGuard;
  /** UDP handles of this process before any server or client of the file started. */
  readonly baseline: number;
}

/**
 * Registers the hooks; call once at the top of a `describe`. `teardown` closes what the test opened
 * (browsers before servers); it runs after every test, before the guard is restored and the handles
 * are counted.
 */
export function useInteropSuite(teardown: () => Promise<void> | void): InteropSuite {
  let guard: NetworkGuard | undefined;
  let baseline = 0;
  beforeAll(() => {
    assertLoopbackOnlyNamespace();
    baseline = countUdpHandles();
  });
  beforeEach(() => {
    guard = installNetworkGuard();
  });
  afterEach(async () => {
    await teardown();
    guard!.restore();
    await udpHandlesSettle(baseline);
  });
  return {
    get guard() {
      return guard!;
    },
    get baseline() {
      return baseline;
    },
  };
}

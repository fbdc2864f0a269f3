import { format } from "node:util";
import createDebug from "debug";
import { afterEach, expect, it, vi } from "vitest";
import { RateLimitedLog } from "../src/log.js";

afterEach(() => {
  vi.useRealTimers();
});

it("logs at most 10 lines a second on attacker-triggerable paths, then says how many it held back", () => {
  vi.useFakeTimers({ toFake: ["Date", "performance"] }); // the limiter reads performance.now()
  const lines: string[] = [];
  const logger = createDebug("udpmux:test-rate-limit");
  logger.enabled = true;
  logger.log = (...args: unknown[]) => lines.push(format(...args));
  const limited = new RateLimitedLog(logger);
  for (let i = 0; i < 1000; i++) limited.log("drop %d", i);
  expect(lines).toHaveLength(10);
  vi.advanceTimersByTime(1000);
  limited.log("drop after a second");
  expect(lines).toHaveLength(12);
  expect(lines[10]).toContain("990 similar lines suppressed");
  expect(lines[11]).toContain("drop after a second");
});

it("does nothing while the namespace is disabled", () => {
  const logger = createDebug("udpmux:test-disabled");
  logger.enabled = false;
  const spy = vi.fn();
  logger.log = spy;
  new RateLimitedLog(logger).log("x");
  expect(spy).not.toHaveBeenCalled();
});

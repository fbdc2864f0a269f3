/** The unknown-option check every options bag goes through (src/validate.ts). */
import { describe, expect, it } from "vitest";
import { closestName, validateOptionNames } from "../src/validate.js";

const NAMES = ["maxConnections", "maxQueuedPackets", "acceptQueueSize", "closeSocket", "ipv6Only"];

describe("closestName", () => {
  it.each([
    ["maxConection", "maxConnections"], // two letters missing
    ["maxConnetcions", "maxConnections"], // two neighbours swapped: one edit
    ["maxconnections", "maxConnections"], // case only
    ["ipv6only", "ipv6Only"],
    ["acceptQueueSise", "acceptQueueSize"],
  ])("%s → %s", (key, meant) => {
    expect(closestName(key, NAMES)).toBe(meant);
  });

  it.each(["port", "x", "somethingElseEntirely", "maxBytes"])("%s → nothing close", (key) => {
    expect(closestName(key, NAMES)).toBeUndefined();
  });
});

describe("validateOptionNames", () => {
  it("accepts the valid names, whatever their values", () => {
    expect(() => validateOptionNames({ maxConnections: 1, closeSocket: undefined }, NAMES)).not.toThrow();
    expect(() => validateOptionNames({}, NAMES)).not.toThrow();
  });

  it("names the unknown key and the closest valid one", () => {
    expect(() => validateOptionNames({ maxConnections: 1, maxConection: 5 }, NAMES)).toThrow(
      expect.objectContaining({
        name: "TypeError",
        code: "ERR_INVALID_ARG_VALUE",
        message: "Unknown option `maxConection`: did you mean `maxConnections`?",
      }),
    );
  });

  it("lists every valid name when nothing is close", () => {
    expect(() => validateOptionNames({ port: 0 }, NAMES)).toThrow(
      expect.objectContaining({
        code: "ERR_INVALID_ARG_VALUE",
        message:
          "Unknown option `port`; the options are `maxConnections`, `maxQueuedPackets`, `acceptQueueSize`, " +
          "`closeSocket`, `ipv6Only`",
      }),
    );
  });

  it("names the bag when it isn't `options`", () => {
    expect(() => validateOptionNames({ portt: 1 }, ["port", "address"], "server")).toThrow(
      expect.objectContaining({ message: "Unknown option `portt` in `server`: did you mean `port`?" }),
    );
  });
});

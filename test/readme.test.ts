/** The README's table of bounds must say what the code does. */
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { DEFAULT_RECV_BUFFER_SIZE, DEFAULTS } from "../src/index.js";

it("documents every option with its default", () => {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const table = readme.split("<!-- bounds:start -->")[1]?.split("<!-- bounds:end -->")[0] ?? "";
  const rows = new Map<string, string>();
  for (const match of table.matchAll(/^\| `(\w+)` \| `([^`]+)` \|/gm)) rows.set(match[1]!, match[2]!);
  expect(Object.fromEntries(rows)).toEqual(
    Object.fromEntries(
      Object.entries({ ...DEFAULTS, recvBufferSize: DEFAULT_RECV_BUFFER_SIZE }).map(([k, v]) => [
        k,
        String(v),
      ]),
    ),
  );
});

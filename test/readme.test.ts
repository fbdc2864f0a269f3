/** The README's table of bounds must say what the code does. */
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { DEFAULT_RECV_BUFFER_SIZE, DEFAULTS, TCP_DEFAULTS } from "../src/index.js";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");

/** The `| \`option\` | \`default\` |` rows between two markers. */
function table(name: string): Record<string, string> {
  const text = readme.split(`<!-- ${name}:start -->`)[1]?.split(`<!-- ${name}:end -->`)[0] ?? "";
  const rows = new Map<string, string>();
  for (const match of text.matchAll(/^\| `(\w+)` \| `([^`]+)` \|/gm)) rows.set(match[1]!, match[2]!);
  return Object.fromEntries(rows);
}

const asText = (defaults: object) =>
  Object.fromEntries(Object.entries(defaults).map(([k, v]) => [k, String(v)]));

it("documents every UDPMux option with its default", () => {
  expect(table("bounds")).toEqual(asText({ ...DEFAULTS, recvBufferSize: DEFAULT_RECV_BUFFER_SIZE }));
});

it("documents every TCPMux option with its default", () => {
  expect(table("tcp-bounds")).toEqual(asText(TCP_DEFAULTS));
});

it("links only to headings that exist", () => {
  // GitHub's anchors: lower case, punctuation but '-' and '_' dropped, spaces to '-'.
  const anchors = new Set(
    [...readme.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
      m[1]!
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, "")
        .replace(/ /g, "-"),
    ),
  );
  const links = [...readme.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]!);
  expect(links.length).toBeGreaterThan(0);
  expect(links.filter((l) => !anchors.has(l))).toEqual([]);
});

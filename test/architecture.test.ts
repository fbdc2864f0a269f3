/** The shape of src/ (STYLE.md "Layout shows the architecture"): no import circles. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs script, no types
import { findCycles } from "../scripts/import-cycles.mjs";

const find = findCycles as (dir: string) => string[][];

let scratch: string | undefined;
afterEach(() => {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  scratch = undefined;
});

describe("imports", () => {
  it("src/ has no import cycle (value or type imports)", () => {
    expect(find("src")).toEqual([]);
  });

  it("the check finds a cycle through a type import, a re-export and a subfolder", () => {
    scratch = mkdtempSync(join(tmpdir(), "udpmux-cycles-"));
    mkdirSync(join(scratch, "core"));
    writeFileSync(join(scratch, "a.ts"), 'import type { B } from "./core/b.js";\nexport const a = 1;\n');
    writeFileSync(join(scratch, "core", "b.ts"), 'export { c as B } from "../c.js";\n');
    writeFileSync(join(scratch, "c.ts"), 'import {\n  a,\n} from "./a.js";\nexport const c = a;\n');
    writeFileSync(join(scratch, "d.ts"), 'import { a } from "./a.js";\n'); // outside the cycle
    expect(find(scratch)).toEqual([["a.ts", "core/b.ts", "c.ts", "a.ts"]]);
  });
});

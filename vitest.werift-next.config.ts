import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { defineConfig } from "vitest/config";
import base from "./vitest.config.js";

/**
 * The werift suite (test/werift/) against the newest published `werift` and `werift-ice`, which
 * `node scripts/werift-next.mjs --install` put in a scratch folder (`$WERIFT_NEXT_DIR`, default
 * node_modules/.cache/werift-next). `npm run test:werift-next` runs both phases and prints the verdict.
 *
 * The aliases map the two bare specifiers the suite imports to the files Node's ESM resolver picks for
 * `import "werift"` / `import "werift-ice"` in the scratch folder (recorded by `--install`): for werift its ESM
 * bundle lib/index.mjs, as for the pinned one. (Aliasing to the package folder would not do: Vite resolves a
 * folder path to its CJS `main`.) `werift-024` (npm:werift@0.24.4) stays the pinned one. Aliases act on what
 * Vite resolves — every `import` of the tests and of the setup file below — not on a CJS `require()`, which
 * Node resolves itself: neither test/werift/ nor src/werift/ requires werift, and inside the scratch packages
 * Node resolves their own dependencies from the scratch folder. The setup file (written by `--install`)
 * proves in each test worker that `werift` and `werift-ice` are the scratch copies and records their versions.
 */
const dir = resolve(process.env.WERIFT_NEXT_DIR ?? "node_modules/.cache/werift-next");
const state = join(dir, "state.json");
if (!existsSync(state)) {
  throw new Error(`no werift-next install in ${dir}: run \`node scripts/werift-next.mjs --install\` first`);
}
const { entries } = JSON.parse(readFileSync(state, "utf8")) as { entries: Record<string, string> };

export default defineConfig({
  ...base,
  resolve: {
    alias: Object.entries(entries).map(([name, file]) => ({
      find: new RegExp(`^${name}$`),
      replacement: file,
    })),
  },
  test: {
    ...base.test,
    include: ["test/werift/**/*.test.ts"],
    setupFiles: [join(dir, "alias-check.setup.mjs")],
    reporters: ["default", "json"],
    outputFile: { json: join(dir, "results.json") },
  },
});

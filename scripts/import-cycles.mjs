#!/usr/bin/env node
/**
 * Import cycles among the TypeScript files under a folder (default `src/`): every static relative import
 * (`import … from "./x.js"`, `import type …`, `export … from`), `.js` read as `.ts`. Prints each cycle as
 * `a.ts → b.ts → a.ts` and exits 1 when there is one. `findCycles(dir)` is what the architecture test calls.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const IMPORT = /^\s*(?:import|export)\s[^;]*?\sfrom\s+["'](\.{1,2}\/[^"']+)["']/gms;

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Each cycle once, as the list of its files relative to `dir` (the first repeated at the end). */
export function findCycles(dir) {
  const root = resolve(dir);
  const graph = new Map();
  for (const file of files(root)) {
    const deps = [...readFileSync(file, "utf8").matchAll(IMPORT)].map((m) =>
      resolve(dirname(file), m[1].replace(/\.js$/, ".ts")),
    );
    graph.set(
      file,
      deps.filter((d) => d.startsWith(root)),
    );
  }
  const cycles = new Map();
  const state = new Map(); // 1: on the current path, 2: done
  const path = [];
  const visit = (file) => {
    state.set(file, 1);
    path.push(file);
    for (const dep of graph.get(file) ?? []) {
      if (state.get(dep) === 1) {
        const cycle = path.slice(path.indexOf(dep));
        const start = cycle.indexOf([...cycle].sort()[0]); // one spelling per cycle
        const key = [...cycle.slice(start), ...cycle.slice(0, start)];
        cycles.set(
          key.join("\0"),
          [...key, key[0]].map((f) => relative(root, f)),
        );
      } else if (state.get(dep) === undefined && graph.has(dep)) visit(dep);
    }
    path.pop();
    state.set(file, 2);
  };
  for (const file of graph.keys()) if (state.get(file) === undefined) visit(file);
  return [...cycles.values()];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const cycles = findCycles(process.argv[2] ?? "src");
  for (const cycle of cycles) console.log(cycle.join(" → "));
  if (cycles.length > 0) process.exitCode = 1;
  else console.log("no import cycles");
}

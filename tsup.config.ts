import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/index.ts", werift: "src/werift/index.ts" },
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  platform: "node",
  external: ["werift", "werift-ice"],
  // One copy of the core in both entry points, in CJS too, so `instanceof MuxClosedError` holds across them.
  splitting: true,
  // Classes keep their names in stack traces and `constructor.name` (esbuild would rename `UDPMux` to
  // `_UDPMux` where a class refers to itself).
  keepNames: true,
});

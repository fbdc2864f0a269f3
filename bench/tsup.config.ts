import { defineConfig } from "tsup";

/**
 * The benchmarks are TypeScript compiled by the same tsup/esbuild as the package (target node20), into
 * bench/.cache/. src/ is bundled in from source, so a run measures the working tree (no stale dist/) and can
 * reach internals the package doesn't export (the STUN parser).
 */
export default defineConfig({
  entry: {
    run: "bench/run.ts",
    sender: "bench/sender.ts",
    memory: "bench/memory.ts",
    "memory-pc": "bench/memory-pc.ts",
    e2e: "bench/e2e.ts",
    "load-server": "bench/load-server.ts",
    "load-clients": "bench/load-clients.ts",
    flood: "bench/flood.ts",
    "tcp-sender": "bench/tcp-sender.ts",
    "tcp-e2e": "bench/tcp-e2e.ts",
    "tcp-hostile": "bench/tcp-hostile.ts",
    "scaling-client": "bench/scaling-client.ts",
    "heap-agents": "bench/heap-agents.ts",
  },
  outDir: "bench/.cache",
  format: ["esm"],
  target: "node20",
  platform: "node",
  sourcemap: true,
  clean: true,
  splitting: true,
  dts: false,
  external: ["werift", "werift-ice", "stun", "tinybench", "debug", "@roamhq/wrtc"],
});

import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * Interop suites: real WebRTC clients (libwebrtc through @roamhq/wrtc, headless Chromium) against a werift
 * server on one UDP port. Run inside a loopback-only network namespace (`npm run test:interop` checks).
 */
export default defineConfig({
  resolve: {
    // The browser example imports the package by name, as a user would; tests resolve that to the source.
    alias: [
      {
        find: /^udpmux\/werift$/,
        replacement: fileURLToPath(new URL("./src/werift/index.ts", import.meta.url)),
      },
      { find: /^udpmux$/, replacement: fileURLToPath(new URL("./src/index.ts", import.meta.url)) },
    ],
  },
  test: {
    include: ["test/interop/**/*.interop.ts"],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: "forks",
    // One suite at a time: each one loads a 2-core machine with 20 libwebrtc peers or a browser.
    fileParallelism: false,
  },
});

import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: "forks",
    // test/werift/leak.test.ts observes garbage collection (WeakRef + global.gc); fields.test.ts asks V8
    // whether attached agents keep fast properties (%HasFastProperties)
    execArgv: ["--expose-gc", "--allow-natives-syntax"],
  },
});

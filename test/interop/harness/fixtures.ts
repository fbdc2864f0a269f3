/** The test pages in test/interop/fixtures/, as the echo server's `files` serve them. */
import { readFileSync } from "node:fs";
import type { StaticFile } from "./echo-server.js";

/** `test/interop/fixtures/<name>` as an HTML page. */
export function fixturePage(name: string): StaticFile {
  return {
    contentType: "text/html; charset=utf-8",
    body: readFileSync(new URL(`../fixtures/${name}`, import.meta.url)),
  };
}

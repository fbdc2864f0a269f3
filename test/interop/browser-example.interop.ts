/**
 * examples/browser, driven by Chromium: the page connects 8 peer connections to the example server and
 * shows their round-trip times. Checks that all of them reach the server's one UDP port and that the
 * example (which leaves werift's `iceServers` at its default) looks up no STUN server, then screenshots
 * the page: into docs/browser-example.png with UDPMUX_UPDATE_SCREENSHOT=1, else into a temp directory.
 */
import { mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { type BrowserExample, startBrowserExample } from "../../examples/browser/server.mjs";
import { launchChromium, newLoggedPage } from "./harness/chromium.js";
import { explainFailure } from "./harness/failure.js";
import { useInteropSuite } from "./harness/suite.js";

const PEERS = 8;
const SCREENSHOT = fileURLToPath(new URL("../../docs/browser-example.png", import.meta.url));

describe("examples/browser in Chromium", () => {
  let example: BrowserExample | undefined;
  let browser: Browser | undefined;
  let tab: Page | undefined;
  let browserConsole: string[] = [];
  let tempDir: string | undefined;

  const suite = useInteropSuite(async () => {
    await browser?.close();
    browser = undefined;
    tab = undefined;
    browserConsole = [];
    await example?.close();
    example = undefined;
    if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
    tempDir = undefined;
  });

  it("shows live round-trip times for 8 peer connections, all on the server's one UDP port", async () => {
    example = await startBrowserExample({ host: "127.0.0.1" });
    browser = await launchChromium();
    tab = await newLoggedPage(browser, browserConsole, { viewport: { width: 900, height: 460 } });

    await explainFailure(
      async () => {
        await tab!.goto(`${example!.url}/?peers=${PEERS}&gum=1`);
        // The page marks itself live once every peer connection has a few round trips.
        await tab!.waitForSelector("body[data-state=live]", { timeout: 30_000 });
        // The selected pairs refresh every second; wait until every row shows one.
        await tab!.waitForFunction(
          `[...document.querySelectorAll("#peers td:nth-child(4)")].filter((td) => td.textContent).length === ${PEERS}`,
          undefined,
          { timeout: 10_000 },
        );
        const rows = await tab!.$$eval("#peers tr", (trs) =>
          trs.map((tr) => [...tr.children].map((cell) => cell.textContent ?? "")),
        );

        expect(rows).toHaveLength(PEERS);
        for (const [, state, browserCandidate, serverCandidate, lastRtt] of rows) {
          expect(state).toBe("connected");
          expect(browserCandidate).toMatch(/^127\.0\.0\.1:\d+$/);
          expect(serverCandidate).toBe(`127.0.0.1:${example!.udpPort}`);
          expect(lastRtt).toMatch(/^\d+\.\d\d ms$/);
        }
        expect(await tab!.getAttribute("body", "data-server-addresses")).toBe(
          `127.0.0.1:${example!.udpPort}`,
        );
        expect(await tab!.textContent("#server")).toContain(
          `server: ${PEERS} werift peer connections on one UDP socket (port ${example!.udpPort})`,
        );
        expect(example!.peers.size).toBe(PEERS);
        expect(suite.guard.binds).toEqual(["127.0.0.1"]);
        expect(suite.guard.violations).toEqual([]);

        let file = SCREENSHOT;
        if (process.env.UDPMUX_UPDATE_SCREENSHOT !== "1") {
          tempDir = await mkdtemp(path.join(os.tmpdir(), "udpmux-"));
          file = path.join(tempDir, "browser-example.png");
        }
        await tab!.screenshot({ path: file, fullPage: true });
        expect((await stat(file)).size).toBeGreaterThan(10_000);
      },
      async () => [
        `page: ${(await tab?.textContent("main")) ?? "(none)"}`,
        `browser console:\n  ${browserConsole.join("\n  ")}`,
      ],
    );
  });
});

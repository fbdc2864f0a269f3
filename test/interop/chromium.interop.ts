/**
 * Headless Chromium as the client: one page opens 10 RTCPeerConnections to the werift server, whose peer
 * connections share one UDPMux (signaling over HTTP from the same origin), echoes payloads of 1–16 KiB on
 * each (ordered and unordered channels alternate), checks every byte and reports back what it verified and
 * which candidate pair it selected.
 */
import type { Browser, Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { launchChromium, newLoggedPage } from "./harness/chromium.js";
import { explainFailure, within } from "./harness/failure.js";
import { fixturePage } from "./harness/fixtures.js";
import { countUdpHandles } from "./harness/network-guard.js";
import { describeServer, expectAnswersOnMuxPort, type MuxServer, startMuxServer } from "./harness/servers.js";
import { useInteropSuite } from "./harness/suite.js";

const PEERS = 10;
const MESSAGES = 100;

const echoPage = fixturePage("echo-page.html");

/** What fixtures/echo-page.html reports per peer connection. */
interface PeerResult {
  index: number;
  id: string;
  ordered: boolean;
  verified: number;
  selected?: { local: string; remote: string };
}

/** The page's functions (this project's TypeScript has no DOM types; the page is plain JavaScript). */
interface EchoPage {
  runEcho(options: {
    peers: number;
    messages: number;
    minSize: number;
    maxSize: number;
    window: number;
  }): Promise<PeerResult[]>;
  interopReport(): string[];
}

describe("Chromium against a werift server on one UDPMux", () => {
  let server: MuxServer | undefined;
  let browser: Browser | undefined;
  let tab: Page | undefined;
  let browserConsole: string[] = [];

  const explain = async () => [
    ...((await tab?.evaluate(() => (globalThis as unknown as EchoPage).interopReport())) ?? []),
    `browser console:\n  ${browserConsole.join("\n  ")}`,
    ...describeServer(server),
  ];

  const suite = useInteropSuite(async () => {
    await browser?.close();
    browser = undefined;
    tab = undefined;
    browserConsole = [];
    await server?.close();
    server = undefined;
  });

  it("10 peer connections from one page echo every byte through one socket and one port", async () => {
    const mux = await startMuxServer({ files: { "/": echoPage } });
    server = mux;
    browser = await launchChromium();
    tab = await newLoggedPage(browser, browserConsole);

    await explainFailure(async () => {
      await tab!.goto(`${mux.url}/`);
      const options = { peers: PEERS, messages: MESSAGES, minSize: 1024, maxSize: 16 * 1024, window: 8 };
      const results = await within(
        60_000,
        "Chromium's echo",
        tab!.evaluate((o) => (globalThis as unknown as EchoPage).runEcho(o), options),
      );
      const handlesWhileConnected = countUdpHandles();

      expect(results.map((result) => result.verified)).toEqual(Array(PEERS).fill(MESSAGES));
      expect(results.filter((result) => result.ordered)).toHaveLength(PEERS / 2);
      // Every peer connection, as Chromium sees it, reaches the mux's one address.
      expect(results.map((result) => result.selected?.remote)).toEqual(
        Array(PEERS).fill(`127.0.0.1:${mux.udpPort}`),
      );
      expect(new Set(results.map((result) => result.id)).size).toBe(PEERS);
      // The server bound one UDP socket for all of them, and every answer advertises its port only.
      expect(suite.guard.binds).toEqual(["127.0.0.1"]);
      expect(handlesWhileConnected).toBe(suite.baseline + 1);
      expectAnswersOnMuxPort(mux, PEERS);
      expect(suite.guard.violations).toEqual([]);
    }, explain);
  });
});

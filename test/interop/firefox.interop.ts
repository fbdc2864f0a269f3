/**
 * Headless Firefox ESR as the client (nICEr: a second ICE stack and browser engine beside libwebrtc): one
 * page opens 5 RTCPeerConnections to the werift server, whose peer connections share one UDPMux, echoes
 * messages of 1 B to 16 KiB on an ordered channel of each, checks order and every byte, and POSTs what it
 * verified to this suite's reporter. No WebDriver: Firefox is a plain child process on a fresh profile
 * (see harness/firefox.ts for the preferences nICEr needs in a loopback-only namespace).
 */
import { describe, expect, it } from "vitest";
import { explainFailure, within } from "./harness/failure.js";
import { type FirefoxProcess, launchFirefox } from "./harness/firefox.js";
import { fixturePage } from "./harness/fixtures.js";
import { countUdpHandles } from "./harness/network-guard.js";
import { type Reporter, startReporter } from "./harness/reporter.js";
import { describeServer, expectAnswersOnMuxPort, type MuxServer, startMuxServer } from "./harness/servers.js";
import { useInteropSuite } from "./harness/suite.js";

const PEERS = 5;
const MESSAGES = 40;

const page = fixturePage("firefox-echo-page.html");

/** What fixtures/firefox-echo-page.html reports. */
interface PageReport {
  ok: boolean;
  error?: string;
  log?: string[];
  elapsedMs?: number;
  userAgent?: string;
  results?: {
    index: number;
    id: string;
    verified: number;
    openedMs: number;
    selected?: { local: string; remote: string };
  }[];
}

describe("Firefox ESR against a werift server on one UDPMux", () => {
  let server: MuxServer | undefined;
  let reporter: Reporter<PageReport> | undefined;
  let firefox: FirefoxProcess | undefined;

  const suite = useInteropSuite(async () => {
    await firefox?.close();
    firefox = undefined;
    await reporter?.close();
    reporter = undefined;
    await server?.close();
    server = undefined;
  });

  it(`${PEERS} peer connections echo 1 B–16 KiB messages in order through one socket and one port`, async () => {
    const mux = await startMuxServer({ files: { "/": page } });
    server = mux;
    reporter = await startReporter<PageReport>();
    const started = performance.now();
    firefox = await launchFirefox(
      `${mux.url}/?peers=${PEERS}&messages=${MESSAGES}&report=${encodeURIComponent(reporter.url)}`,
    );
    const ff = firefox;

    await explainFailure(
      async () => {
        const report = await within(90_000, "Firefox's echo report", reporter!.report);
        const handlesAfter = countUdpHandles();
        if (!report.ok) throw new Error(`the page failed: ${report.error}\n  ${report.log?.join("\n  ")}`);
        const results = report.results!;

        expect(results.map((result) => result.verified)).toEqual(Array(PEERS).fill(MESSAGES));
        expect(new Set(results.map((result) => result.id)).size).toBe(PEERS);
        // Every peer connection, as Firefox sees it, reaches the mux's one address.
        expect(results.map((result) => result.selected?.remote)).toEqual(
          Array(PEERS).fill(`127.0.0.1:${mux.udpPort}`),
        );
        // The server bound one UDP socket for all of them, and every answer advertises its port only.
        expect(suite.guard.binds).toEqual(["127.0.0.1"]);
        expect(handlesAfter).toBe(suite.baseline + 1);
        expectAnswersOnMuxPort(mux, PEERS);
        expect(suite.guard.violations).toEqual([]);
        console.log(
          `Firefox (${report.userAgent}): ${PEERS} peer connections × ${MESSAGES} echoes verified; ` +
            `channels open after ${results.map((r) => r.openedMs).join(", ")} ms; page done in ${report.elapsedMs} ms, ` +
            `${(performance.now() - started).toFixed(0)} ms from launch`,
        );
      },
      () => [
        `firefox output:\n  ${ff.output.join("").split("\n").slice(-40).join("\n  ")}`,
        ...describeServer(mux),
      ],
    );
  });
});

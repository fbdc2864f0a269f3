/**
 * Headless Firefox ESR as the client (nICEr: a second ICE stack and browser engine beside libwebrtc): one
 * page opens 5 RTCPeerConnections to the werift server, whose peer connections share one UDPMux, echoes
 * messages of 1 B to 16 KiB on an ordered channel of each, checks order and every byte, and POSTs what it
 * verified to this suite's reporter. No WebDriver: Firefox is a plain child process on a fresh profile
 * (see harness/firefox.ts for the preferences nICEr needs in a loopback-only namespace).
 */
import { once } from "node:events";
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { udpCandidatePorts } from "./harness/echo-server.js";
import { explainFailure, within } from "./harness/failure.js";
import { type FirefoxProcess, launchFirefox } from "./harness/firefox.js";
import {
  assertLoopbackOnlyNamespace,
  countUdpHandles,
  installNetworkGuard,
  type NetworkGuard,
  udpHandlesSettle,
} from "./harness/network-guard.js";
import { type MuxServer, startMuxServer } from "./harness/servers.js";

const PEERS = 5;
const MESSAGES = 40;

const page = {
  contentType: "text/html; charset=utf-8",
  body: readFileSync(new URL("./fixtures/firefox-echo-page.html", import.meta.url)),
};

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

/** An HTTP server on 127.0.0.1 that resolves `report` with the first body POSTed to it. */
async function startReporter() {
  let deliver: (report: PageReport) => void = () => {};
  const report = new Promise<PageReport>((resolve) => {
    deliver = resolve;
  });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      res.writeHead(204, { "access-control-allow-origin": "*" }).end();
      if (req.method === "POST") deliver(JSON.parse(Buffer.concat(chunks).toString("utf8")) as PageReport);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/report`,
    report,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("Firefox ESR against a werift server on one UDPMux", () => {
  let guard: NetworkGuard;
  let server: MuxServer | undefined;
  let reporter: Awaited<ReturnType<typeof startReporter>> | undefined;
  let firefox: FirefoxProcess | undefined;
  let baseline = 0;

  beforeAll(() => {
    assertLoopbackOnlyNamespace();
    baseline = countUdpHandles();
  });
  beforeEach(() => {
    guard = installNetworkGuard();
  });
  afterEach(async () => {
    await firefox?.close();
    firefox = undefined;
    await reporter?.close();
    reporter = undefined;
    await server?.close();
    server = undefined;
    guard.restore();
    await udpHandlesSettle(baseline);
  });

  it(`${PEERS} peer connections echo 1 B–16 KiB messages in order through one socket and one port`, async () => {
    const mux = await startMuxServer({ files: { "/": page } });
    server = mux;
    reporter = await startReporter();
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
        expect(guard.binds).toEqual(["127.0.0.1"]);
        expect(handlesAfter).toBe(baseline + 1);
        expect(mux.answers).toHaveLength(PEERS);
        for (const answer of mux.answers) {
          expect(udpCandidatePorts(answer).length).toBeGreaterThan(0);
          expect(new Set(udpCandidatePorts(answer))).toEqual(new Set([mux.udpPort]));
        }
        expect(guard.violations).toEqual([]);
        console.log(
          `Firefox (${report.userAgent}): ${PEERS} peer connections × ${MESSAGES} echoes verified; ` +
            `channels open after ${results.map((r) => r.openedMs).join(", ")} ms; page done in ${report.elapsedMs} ms, ` +
            `${(performance.now() - started).toFixed(0)} ms from launch`,
        );
      },
      () => [
        `firefox output:\n  ${ff.output.join("").split("\n").slice(-40).join("\n  ")}`,
        ...[...mux.logs.keys()].map((id) => mux.describe(id)),
        `mux stats: ${JSON.stringify(mux.mux.stats())}`,
        ...mux.errors.map((error) => `server signaling error: ${error.stack}`),
      ],
    );
  });
});

/**
 * examples/media over WHIP and WHEP, with clients nobody here wrote: the example started as a user starts
 * it (`HOST=127.0.0.1 PORT=0 UDP_PORT=0 SERVE_STUN=1 node examples/media/server.mjs`, the package from
 * `dist`), its `WHIP endpoint …` and `WHEP endpoint …` lines read from stdout. In headless Chromium, the
 * vendor's own `@eyevinn/whip-web-client` publishes the fake camera and microphone (once trickling its
 * candidates in PATCHes, once with every candidate in the offer), and `@eyevinn/webrtc-player` (type
 * "whep") watches; both are bundled with esbuild and served from a page on another origin (CORS). The
 * viewer must decode frames, the publisher and the viewer must reach the one UDP port, and
 * `curl -X DELETE <Location>` must end the session: the server's peer connections close.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";
import type { Browser, Page } from "playwright-core";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, newLoggedPage } from "./harness/chromium.js";
import { explainFailure, within } from "./harness/failure.js";
import { assertLoopbackOnlyNamespace } from "./harness/network-guard.js";

const ROOT = new URL("../../", import.meta.url);
const SERVER = fileURLToPath(new URL("examples/media/server.mjs", ROOT));
const MIN_FRAMES = 30;

interface Example {
  child: ChildProcess;
  whip: string;
  whep: string;
  output: string[];
  exited: Promise<unknown>;
}

/** Starts examples/media as a user would and reads its two endpoint lines. */
async function startExample(): Promise<Example> {
  const child = spawn(process.execPath, [SERVER], {
    env: { ...process.env, HOST: "127.0.0.1", PORT: "0", UDP_PORT: "0", SERVE_STUN: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const exited = once(child, "exit");
  createInterface({ input: child.stderr! }).on("line", (line) => output.push(`stderr: ${line}`));
  const endpoints = new Promise<{ whip: string; whep: string }>((resolve, reject) => {
    const found: Record<string, string> = {};
    createInterface({ input: child.stdout! }).on("line", (line) => {
      output.push(`stdout: ${line}`);
      const match = /^(WHIP|WHEP) endpoint (http:\/\/127\.0\.0\.1:(\d+)\/\S+)$/.exec(line);
      if (match) {
        expect(Number(match[3])).toBeGreaterThan(0);
        found[match[1]!] = match[2]!;
      }
      if (found.WHIP && found.WHEP) resolve({ whip: found.WHIP, whep: found.WHEP });
    });
    void exited.then(() => reject(new Error(`the example exited before it listened:\n${output.join("\n")}`)));
  });
  return { child, ...(await within(20_000, "example start", endpoints)), output, exited };
}

/**
 * The page's script, bundled with the standard clients: `publish()` runs the vendor's WHIP client as its
 * README shows (minus its default public STUN server), `watch()` the vendor's WHEP player, `peerStats()`
 * reads the peer connection either keeps private (reached through the client's `peerConnectionFactory`,
 * and the player's `peer` field).
 */
const PAGE_SCRIPT = `
import { WHIPClient } from "@eyevinn/whip-web-client";
import { WebRTCPlayer } from "@eyevinn/webrtc-player";
let pc;
globalThis.publish = async (endpoint, trickle) => {
  const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true });
  const client = new WHIPClient({
    endpoint,
    opts: { iceServers: [], noTrickleIce: !trickle, timeout: 1000 },
    peerConnectionFactory: (config) => (pc = new RTCPeerConnection(config)),
  });
  await client.ingest(media);
  return client.getResourceUrl();
};
globalThis.watch = async (endpoint) => {
  // Chromium offers loopback candidates only to a page holding a media permission.
  for (const track of (await navigator.mediaDevices.getUserMedia({ audio: true })).getTracks()) track.stop();
  const player = new WebRTCPlayer({ video: document.getElementById("video"), type: "whep", iceServers: [] });
  await player.load(new URL(endpoint));
  while (!(player.peer instanceof RTCPeerConnection)) await new Promise((resolve) => setTimeout(resolve, 20));
  pc = player.peer;
};
globalThis.peerStats = async () => {
  const all = new Map();
  (await pc.getStats()).forEach((stat) => all.set(stat.id, stat));
  const values = [...all.values()];
  const transport = values.find((s) => s.type === "transport");
  const pair = all.get(transport?.selectedCandidatePairId);
  const remote = all.get(pair?.remoteCandidateId);
  const video = (type) => values.find((s) => s.type === type && s.kind === "video");
  return {
    connectionState: pc.connectionState,
    remote: remote ? remote.address + ":" + remote.port : undefined,
    framesDecoded: video("inbound-rtp")?.framesDecoded,
    framesEncoded: video("outbound-rtp")?.framesEncoded,
  };
};
`;

/** The standard clients, bundled for the browser, on a page of their own origin. */
async function serveClients(): Promise<{ server: http.Server; url: string }> {
  const bundle = await build({
    stdin: { contents: PAGE_SCRIPT, resolveDir: fileURLToPath(ROOT), loader: "js" },
    bundle: true,
    format: "iife",
    platform: "browser",
    write: false,
    logLevel: "error",
  });
  const js = bundle.outputFiles[0]!.text;
  const html =
    '<!doctype html><meta charset="utf-8"><video id="video" autoplay muted playsinline></video>' +
    '<script src="/clients.js"></script>';
  const server = http.createServer((req, res) => {
    if (req.url === "/clients.js") res.writeHead(200, { "content-type": "text/javascript" }).end(js);
    else res.writeHead(200, { "content-type": "text/html" }).end(html);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

/** GET /stats of the example (the origin of `endpoint`). */
async function stats(endpoint: string) {
  const res = await fetch(new URL("/stats", endpoint));
  return (await res.json()) as {
    udpPort: number;
    peerConnections: number;
    publishing: boolean;
    viewers: number;
    whip: {
      sessions: number;
      created: number;
      deleted: number;
      offerCandidates: number;
      trickledCandidates: number;
    };
    whep: { sessions: number; created: number };
  };
}

/** `curl -X DELETE url` (fetch where curl is not installed); resolves with the HTTP status. */
async function httpDelete(url: string): Promise<number> {
  if (["/usr/bin/curl", "/bin/curl"].some((path) => existsSync(path))) {
    const { stdout } = await promisify(execFile)("curl", [
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "-X",
      "DELETE",
      url,
    ]);
    return Number(stdout);
  }
  return (await fetch(url, { method: "DELETE" })).status;
}

/** Polls `check` every 50 ms until it returns a value; rejects after `ms` naming `what`. */
async function until<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`${what}: not after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface PeerStats {
  connectionState: string;
  remote?: string;
  framesDecoded?: number;
  framesEncoded?: number;
}

/** What the page's script exposes (PAGE_SCRIPT). */
interface ClientPage {
  publish(endpoint: string, trickle: boolean): Promise<string>;
  watch(endpoint: string): Promise<void>;
  peerStats(): Promise<PeerStats>;
}
const peerStats = (tab: Page) => tab.evaluate(() => (globalThis as unknown as ClientPage).peerStats());

describe("examples/media over WHIP and WHEP: @eyevinn/whip-web-client publishes, a WHEP player watches", () => {
  let example: Example | undefined;
  let pages: { server: http.Server; url: string } | undefined;
  let browser: Browser | undefined;
  let browserConsole: string[] = [];

  beforeAll(() => {
    assertLoopbackOnlyNamespace();
    if (!existsSync(fileURLToPath(new URL("dist/werift.js", ROOT)))) {
      throw new Error(
        "examples/media runs in its own process and imports udpmux from dist: run `npm run build`",
      );
    }
  });

  afterEach(async () => {
    await browser?.close();
    browser = undefined;
    browserConsole = [];
    if (pages !== undefined) {
      pages.server.closeAllConnections();
      pages.server.close();
      pages = undefined;
    }
    if (example !== undefined) {
      if (example.child.exitCode === null) {
        example.child.kill("SIGTERM");
        await within(15_000, "example exit", example.exited);
      }
      example = undefined;
    }
  });

  it.each([
    { trickle: true, name: "trickled candidates" },
    { trickle: false, name: "every candidate in the offer" },
  ])("publishes with $name, a WHEP viewer decodes, DELETE ends the session", async ({ trickle }) => {
    const started = performance.now();
    const ex = await startExample();
    example = ex;
    pages = await serveClients();
    browser = await launchChromium();
    const publisher = await newLoggedPage(browser, browserConsole, { name: "publisher" });
    const viewer = await newLoggedPage(browser, browserConsole, { name: "viewer" });
    await publisher.goto(pages.url);
    await viewer.goto(pages.url);

    await explainFailure(
      async () => {
        // The Link header names the mux as a STUN server (SERVE_STUN=1), on the preflight as on a 201.
        const { udpPort } = await stats(ex.whip);
        const preflight = await fetch(ex.whip, { method: "OPTIONS" });
        expect(preflight.headers.get("link")).toBe(`<stun:127.0.0.1:${udpPort}>; rel="ice-server"`);
        expect(preflight.headers.get("access-control-allow-methods")).toContain("PATCH");

        // Publish with the vendor's WHIP client (PAGE_SCRIPT).
        const publishStart = performance.now();
        const location = await publisher.evaluate(
          ([endpoint, trickle]) => (globalThis as unknown as ClientPage).publish(endpoint, trickle),
          [ex.whip, trickle] as const,
        );
        expect(location).toMatch(new RegExp(`^${ex.whip}/[\\w-]+$`));
        const published = await until("the publisher connected and encoding", 20_000, async () => {
          const s = await peerStats(publisher);
          return s.connectionState === "connected" && (s.framesEncoded ?? 0) > 0 ? s : undefined;
        });
        const publishMs = performance.now() - publishStart;
        expect(published.remote).toBe(`127.0.0.1:${udpPort}`);

        // Watch with the vendor's WHEP player.
        const viewStart = performance.now();
        await viewer.evaluate((endpoint) => (globalThis as unknown as ClientPage).watch(endpoint), ex.whep);
        const watched = await until(`the viewer decoding ${MIN_FRAMES} frames`, 30_000, async () => {
          const s = await peerStats(viewer);
          return (s.framesDecoded ?? 0) >= MIN_FRAMES ? s : undefined;
        });
        const viewMs = performance.now() - viewStart;
        expect(watched.connectionState).toBe("connected");
        expect(watched.remote).toBe(`127.0.0.1:${udpPort}`);

        const during = await stats(ex.whip);
        expect(during).toMatchObject({ publishing: true, viewers: 1, peerConnections: 2 });
        expect(during.whip.sessions).toBe(1);
        expect(during.whep.sessions).toBe(1);
        if (trickle) {
          // The offer goes out as soon as it is set (with what Chromium gathered by then); every candidate
          // also comes in a PATCH.
          expect(during.whip.trickledCandidates).toBeGreaterThan(0);
        } else {
          expect(during.whip.offerCandidates).toBeGreaterThan(0);
          expect(during.whip.trickledCandidates).toBe(0);
        }

        // DELETE on the Location ends the session: the publisher's peer connection closes on the server,
        // and with it the viewer's (nothing left to watch).
        const deleteStart = performance.now();
        expect(await httpDelete(location)).toBe(200);
        const after = await until("the server's peer connections closed", 10_000, async () => {
          const s = await stats(ex.whip);
          return s.peerConnections === 0 ? s : undefined;
        });
        const deleteMs = performance.now() - deleteStart;
        expect(after).toMatchObject({ publishing: false, viewers: 0 });
        expect(after.whip).toMatchObject({ sessions: 0, deleted: 1 });
        expect(await httpDelete(location)).toBe(404);
        console.log(
          `WHIP/WHEP (${trickle ? "trickle" : "no trickle"}): example up in ${(publishStart - started).toFixed(0)} ms, ` +
            `publisher connected in ${publishMs.toFixed(0)} ms (${during.whip.offerCandidates} candidates in the ` +
            `offer, ${during.whip.trickledCandidates} trickled), viewer decoded ${watched.framesDecoded} frames ` +
            `${viewMs.toFixed(0)} ms after loading, DELETE closed the server's peer connections in ${deleteMs.toFixed(0)} ms`,
        );
      },
      async () => [
        `publisher: ${JSON.stringify(await peerStats(publisher).catch(String))}`,
        `viewer: ${JSON.stringify(await peerStats(viewer).catch(String))}`,
        `server stats: ${JSON.stringify(await stats(ex.whip).catch(String))}`,
        `server output:\n  ${ex.output.join("\n  ")}`,
        `browser console:\n  ${browserConsole.join("\n  ")}`,
      ],
    );
  });
});

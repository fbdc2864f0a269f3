/**
 * examples/media, driven by Chromium: one page publishes its (fake) camera and microphone, 3 pages watch
 * it, every peer connection through the server's one UDPMux. Each viewer must decode at least 30 frames and
 * receive audio. Then, viewer by viewer, every datagram the server sends to that viewer is dropped for 1 s
 * (at the server's socket, as a lossy link would): the viewer's decoder loses its reference frames, and it
 * must decode again within 3 s of the link coming back, through the keyframe-request path — the viewer's
 * PLI reaching the server's RTCRtpSender (werift misroutes it; examples/media/pli.mjs rescues it), the
 * server's PLI reaching the publisher, a new keyframe. A screenshot of a viewer goes to
 * docs/media-example.png with UDPMUX_UPDATE_SCREENSHOT=1.
 */
import dgram from "node:dgram";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import type { RTCPeerConnection } from "werift";
import { type MediaExample, startMediaExample } from "../../examples/media/server.mjs";
import { launchChromium, newLoggedPage } from "./harness/chromium.js";
import { explainFailure } from "./harness/failure.js";
import { countUdpHandles } from "./harness/network-guard.js";
import { useInteropSuite } from "./harness/suite.js";

/** A receive-only viewer, and two that also send their own camera (where werift misroutes their PLIs). */
const VIEWER_PATHS = ["/?gum=1", "/?send=1", "/?send=1"];
const VIEWERS = VIEWER_PATHS.length;
const MIN_FRAMES = 30;
const LOSS_MS = 1_000;
/** The bound: decoding again within 3 s of the link coming back. */
const RECOVERY_MS = 3_000;
const SCREENSHOT = fileURLToPath(new URL("../../docs/media-example.png", import.meta.url));

/** What examples/media/public/app.js measures (`window.mediaStats()`). */
interface MediaStats {
  role: "publish" | "view";
  connectionState?: string;
  selected?: { local: string; remote: string };
  video: {
    framesDecoded?: number;
    keyFramesDecoded?: number;
    framesEncoded?: number;
    keyFramesEncoded?: number;
    packetsReceived?: number;
    packetsLost?: number;
    nackCount?: number;
    pliCount?: number;
    freezeCount?: number;
  };
  audio: { packetsReceived?: number; packetsLost?: number; totalSamplesReceived?: number };
}

const mediaStats = (tab: Page) =>
  tab.evaluate(() => (globalThis as unknown as { mediaStats(): Promise<MediaStats> }).mediaStats());

/** Polls `tab`'s stats every 20 ms until `done` holds; rejects after `ms`, naming `what` and the last stats. */
async function until(tab: Page, what: string, ms: number, done: (s: MediaStats) => boolean) {
  const deadline = performance.now() + ms;
  for (;;) {
    const stats = await mediaStats(tab);
    if (done(stats)) return stats;
    if (performance.now() > deadline) {
      throw new Error(`${what}: not after ${ms} ms; last stats ${JSON.stringify(stats)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Drops every datagram this process sends to 127.0.0.1:`port` until the returned function is called
 * (which reports how many it dropped). Send callbacks still run: a lossy link, not a failing socket.
 */
function dropSendsTo(port: number): () => number {
  const proto = dgram.Socket.prototype;
  const previous = proto.send;
  let dropped = 0;
  proto.send = function (this: dgram.Socket, ...args: unknown[]) {
    // send(msg, [offset, length,] port, [address,] [callback]): the port is the number before the address.
    const at = args.findIndex((arg) => typeof arg === "string");
    if (at > 0 && args[at - 1] === port && args[at] === "127.0.0.1") {
      dropped++;
      const callback = args.at(-1);
      if (typeof callback === "function") queueMicrotask(() => callback(null, 0));
      return;
    }
    return (previous as (...a: unknown[]) => void).apply(this, args);
  } as typeof proto.send;
  return () => {
    proto.send = previous;
    return dropped;
  };
}

/**
 * Makes the server skip every RTP packet it would forward to `pc` until the returned function is called
 * (which reports how many it skipped). werift's sender numbers packets as they come, so the viewer sees
 * a sequence gap its NACKs can't fill: only a new keyframe lets it decode again.
 */
function skipForwarding(pc: RTCPeerConnection): () => number {
  let skipped = 0;
  const senders = pc.getSenders();
  for (const sender of senders) {
    sender.sendRtp = async () => {
      skipped++;
    };
  }
  return () => {
    for (const sender of senders) delete (sender as { sendRtp?: unknown }).sendRtp; // the prototype's again
    return skipped;
  };
}

interface Loss {
  keyFramesBefore: number;
  keyFramesAfter: number;
  viewerPli: number;
  serverPliFromViewer: number;
  rescued: number;
  serverPliToPublisher: number;
  publisherPli: number;
  line: string;
}

/**
 * Applies `start()` for LOSS_MS, then waits (at most RECOVERY_MS) until the viewer decodes frames again
 * and reports what it took: the recovery time, and the deltas of the NACK and PLI counters on the way.
 */
async function lose(
  viewer: Page,
  publisher: Page,
  name: string,
  start: () => () => number,
  server = current.example!,
): Promise<Loss> {
  const before = await mediaStats(viewer);
  const publisherBefore = await mediaStats(publisher);
  const serverBefore = server.stats();
  const stop = start();
  current.stop = stop;
  const lossStarted = performance.now();
  await new Promise((resolve) => setTimeout(resolve, LOSS_MS));
  const dropped = stop();
  current.stop = undefined;
  const lossEnded = performance.now();
  const atEnd = await mediaStats(viewer);
  const after = await until(
    viewer,
    `${name} decoding again after the loss (${dropped} packets dropped; stats before ${JSON.stringify(before.video)}, ` +
      `when the loss ended ${JSON.stringify(atEnd.video)})`,
    RECOVERY_MS,
    (s) => (s.video?.framesDecoded ?? 0) > (atEnd.video?.framesDecoded ?? 0),
  );
  const recoveredMs = performance.now() - lossEnded;
  const publisherAfter = await mediaStats(publisher);
  const serverAfter = server.stats();
  expect(dropped).toBeGreaterThan(0);
  const delta = (a?: number, b?: number) => (b ?? 0) - (a ?? 0);
  const loss: Loss = {
    keyFramesBefore: before.video.keyFramesDecoded ?? 0,
    keyFramesAfter: after.video.keyFramesDecoded ?? 0,
    viewerPli: delta(before.video.pliCount, after.video.pliCount),
    serverPliFromViewer: serverAfter.pliFromViewers - serverBefore.pliFromViewers,
    rescued: serverAfter.pliMisrouted - serverBefore.pliMisrouted,
    serverPliToPublisher: serverAfter.pliToPublisher - serverBefore.pliToPublisher,
    publisherPli: delta(publisherBefore.video.pliCount, publisherAfter.video.pliCount),
    line: "",
  };
  loss.line =
    `${dropped} packets dropped in ${(lossEnded - lossStarted).toFixed(0)} ms; frames decoded ` +
    `${before.video.framesDecoded} before, ${atEnd.video.framesDecoded} when it ended, decoding again ` +
    `${recoveredMs.toFixed(0)} ms later; viewer: +${delta(before.video.packetsLost, after.video.packetsLost)} lost, ` +
    `+${delta(before.video.nackCount, after.video.nackCount)} NACKs, +${loss.viewerPli} PLIs, ` +
    `+${loss.keyFramesAfter - loss.keyFramesBefore} keyframes; server: +${loss.serverPliFromViewer} PLIs at the ` +
    `viewer's sender (${loss.rescued} rescued from werift's routing), +${loss.serverPliToPublisher} to the ` +
    `publisher; publisher: +${loss.publisherPli} PLIs`;
  return loss;
}

/** The running test's example and loss, for `lose()` and the teardown. */
const current: { example?: MediaExample; stop?: () => number } = {};

describe("examples/media in Chromium: one publisher, 3 viewers, one UDP port", () => {
  let example: MediaExample | undefined;
  let browser: Browser | undefined;
  let browserConsole: string[] = [];

  const suite = useInteropSuite(async () => {
    current.stop?.();
    current.stop = undefined;
    await browser?.close();
    browser = undefined;
    browserConsole = [];
    await example?.close();
    example = undefined;
    current.example = undefined;
  });

  it("viewers decode video and receive audio, and recover from 1 s of loss through PLI", async () => {
    example = await startMediaExample({ host: "127.0.0.1" });
    current.example = example;
    const server = example;
    browser = await launchChromium();
    const open = async (path: string, name: string) => {
      const tab = await newLoggedPage(browser!, browserConsole, {
        name,
        viewport: { width: 900, height: 560 },
      });
      await tab.goto(`${server.url}${path}`);
      return tab;
    };
    const tabs: Page[] = [];

    await explainFailure(
      async () => {
        const publisher = await open("/?role=publish", "publisher");
        tabs.push(publisher);
        await publisher.waitForSelector("body[data-state=live]", { timeout: 30_000 });
        const viewers: Page[] = [];
        for (const [i, path] of VIEWER_PATHS.entries()) viewers.push(await open(path, `viewer${i + 1}`));
        tabs.push(...viewers);

        // Every viewer decodes video and plays audio it received through the server.
        const started = await Promise.all(
          viewers.map((tab, i) =>
            until(
              tab,
              `viewer ${i + 1} decoding ${MIN_FRAMES} frames and receiving audio`,
              30_000,
              (s) =>
                // a page's stats have no inbound-rtp entry until its first packet arrives
                (s.video?.framesDecoded ?? 0) >= MIN_FRAMES &&
                (s.audio?.packetsReceived ?? 0) > 0 &&
                (s.audio?.totalSamplesReceived ?? 0) > 0,
            ),
          ),
        );
        const handlesWhileConnected = countUdpHandles();
        for (const s of started) {
          expect(s.connectionState).toBe("connected");
          expect(s.selected?.remote).toBe(`127.0.0.1:${server.udpPort}`);
        }
        expect((await mediaStats(publisher)).selected?.remote).toBe(`127.0.0.1:${server.udpPort}`);
        // One UDP socket for the publisher and every viewer.
        expect(suite.guard.binds).toEqual(["127.0.0.1"]);
        expect(handlesWhileConnected).toBe(suite.baseline + 1);
        expect(server.stats().peerConnections).toBe(1 + VIEWERS);

        const report: string[] = [];
        for (const [i, viewer] of viewers.entries()) {
          const name = `viewer ${i + 1} (${VIEWER_PATHS[i]})`;
          const port = Number(started[i]!.selected!.local.split(":").at(-1));
          const pc = [...server.peers].find(
            (peer) => peer.iceTransports[0]?.connection.nominated?.remoteCandidate.port === port,
          );
          if (pc === undefined) throw new Error(`no server peer connection reaches ${name}'s port ${port}`);

          // 1. The link to the viewer drops everything for 1 s: RTP, RTCP, retransmissions.
          const link = await lose(viewer, publisher, name, () => dropSendsTo(port));
          // 2. The server forwards nothing to the viewer for 1 s: a gap no retransmission can fill.
          const gap = await lose(viewer, publisher, name, () => skipForwarding(pc));
          expect(gap.keyFramesAfter).toBeGreaterThan(gap.keyFramesBefore);
          expect(gap.viewerPli).toBeGreaterThan(0);
          expect(gap.serverPliFromViewer).toBeGreaterThan(0);
          expect(gap.serverPliToPublisher).toBeGreaterThan(0);
          expect(gap.publisherPli).toBeGreaterThan(0);
          // A viewer that sends too signs its PLIs with its own SSRC: werift misroutes every one of them.
          if (VIEWER_PATHS[i]!.includes("send=1")) {
            expect(
              gap.rescued,
              "werift routed this viewer's PLI itself: if werift fixed its RTCP routing, drop examples/media/pli.mjs",
            ).toBe(gap.serverPliFromViewer);
          } else expect(gap.rescued).toBe(0);
          report.push(`${name}, link down: ${link.line}`, `${name}, forwarding gap: ${gap.line}`);
        }

        // After the losses, every viewer still decodes and plays.
        const final = await Promise.all(viewers.map((tab) => mediaStats(tab)));
        for (const s of final) {
          report.push(
            `final viewer: ${s.video.framesDecoded} frames decoded (${s.video.keyFramesDecoded} key), video ` +
              `${s.video.packetsReceived} packets received, ${s.video.packetsLost} lost, ${s.video.freezeCount} freezes; ` +
              `audio ${s.audio.packetsReceived} packets, ${s.audio.packetsLost} lost, ${s.audio.totalSamplesReceived} samples`,
          );
        }
        console.log(`media through one UDPMux:\n  ${report.join("\n  ")}`);
        expect(server.stats().forwardErrors).toBe(0);
        expect(suite.guard.violations).toEqual([]);

        const file = process.env.UDPMUX_UPDATE_SCREENSHOT === "1" ? SCREENSHOT : undefined;
        if (file !== undefined) await viewers[0]!.screenshot({ path: file });
      },
      async () => [
        ...(await Promise.all(
          tabs.map(async (tab, i) => `tab ${i}: ${JSON.stringify(await mediaStats(tab).catch(String))}`),
        )),
        `server stats: ${JSON.stringify(example?.stats())}`,
        `browser console:\n  ${browserConsole.join("\n  ")}`,
      ],
    );
  });
});

/**
 * Headless Firefox ESR (Debian's `firefox-esr`), launched as a plain process on a fresh profile: the page
 * it opens reports back over HTTP, so no WebDriver is involved. Firefox's ICE stack (nICEr) gathers no
 * loopback candidate unless `media.peerconnection.ice.loopback` is set, and without a media permission it
 * gathers only the default route's address — of which a loopback-only namespace has none ("failed to find
 * default addresses"): `permissions.default.microphone=1` grants it, fake devices answer getUserMedia.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

/** Debian's package; `.ci/run` installs it (`apt-get install -y firefox-esr`). */
export const FIREFOX_PATH = process.env.UDPMUX_FIREFOX ?? "/usr/bin/firefox-esr";

/** Profile preferences (user.js): WebRTC on loopback, fake media, and no first-run or background traffic. */
export const FIREFOX_PREFS: Record<string, boolean | number | string> = {
  "media.peerconnection.ice.loopback": true,
  "permissions.default.microphone": 1,
  "permissions.default.camera": 1,
  "media.navigator.permission.disabled": true,
  "media.navigator.streams.fake": true,
  "media.peerconnection.ice.obfuscate_host_addresses": false,
  "browser.shell.checkDefaultBrowser": false,
  "browser.startup.homepage_override.mstone": "ignore",
  "browser.aboutwelcome.enabled": false,
  "datareporting.policy.dataSubmissionEnabled": false,
  "toolkit.telemetry.reportingpolicy.firstRun": false,
  "app.update.disabledForTesting": true,
  "app.normandy.enabled": false,
  "extensions.update.enabled": false,
  "browser.safebrowsing.malware.enabled": false,
  "browser.safebrowsing.phishing.enabled": false,
  "network.captive-portal-service.enabled": false,
  "network.connectivity-service.enabled": false,
  "browser.newtabpage.enabled": false,
};

export interface FirefoxProcess {
  readonly process: ChildProcess;
  /** What Firefox printed (stdout and stderr), for failure reports. */
  readonly output: string[];
  close(): Promise<void>;
}

/** Opens `url` in headless Firefox on a new profile, or throws (never skips) when it is not installed. */
export async function launchFirefox(url: string): Promise<FirefoxProcess> {
  if (!existsSync(FIREFOX_PATH)) {
    throw new Error(
      `Firefox not found at ${FIREFOX_PATH}: install it (apt-get update && apt-get install -y firefox-esr) ` +
        "or point UDPMUX_FIREFOX at a Firefox binary. The Firefox interop suite is never skipped.",
    );
  }
  const profile = await mkdtemp(path.join(os.tmpdir(), "udpmux-firefox-"));
  const prefs = Object.entries(FIREFOX_PREFS).map(
    ([name, value]) => `user_pref(${JSON.stringify(name)}, ${JSON.stringify(value)});`,
  );
  await writeFile(path.join(profile, "user.js"), `${prefs.join("\n")}\n`);
  const child = spawn(FIREFOX_PATH, ["--headless", "--no-remote", "--profile", profile, url], {
    env: { ...process.env, MOZ_HEADLESS: "1", HOME: profile },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  child.stdout?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  // A failed spawn emits 'error' and no 'exit': either ends the process's life here.
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.once("error", (error) => {
      output.push(`spawn error: ${error.stack}`);
      resolve();
    });
  });
  return {
    process: child,
    output,
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(profile, { recursive: true, force: true });
    },
  };
}

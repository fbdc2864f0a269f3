/**
 * Headless Chromium through playwright-core. Chromium is stingy with host candidates: inside a
 * loopback-only namespace it gathers none at all unless it may use loopback, does not hide addresses
 * behind mDNS names, and the page holds a media permission (which unlocks enumerating every interface).
 * These flags, a fresh profile (playwright's `launch()` makes one per browser) and a page served from
 * http://127.0.0.1 (a secure context) calling getUserMedia once are what makes it offer 127.0.0.1.
 */
import { existsSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";

/** Debian's package; `.ci/run` installs it (`apt-get install -y chromium`). */
export const CHROMIUM_PATH = process.env.UDPMUX_CHROMIUM ?? "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--allow-loopback-in-peer-connection",
  "--disable-features=WebRtcHideLocalIpsWithMdns",
  "--use-fake-ui-for-media-stream",
  "--use-fake-device-for-media-stream",
];

/** Launches Chromium (with `extraArgs` after the usual ones), or throws (never skips) when it is not installed. */
export async function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: install it (apt-get update && apt-get install -y chromium) ` +
        "or point UDPMUX_CHROMIUM at a Chromium binary. The Chromium interop suite is never skipped.",
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_ARGS, ...extraArgs],
    headless: true,
    timeout: 30_000,
  });
}

/**
 * A new tab of `browser` whose console messages and page errors are appended to `log` (each prefixed with
 * `name`, when given), for the failure report.
 */
export async function newLoggedPage(
  browser: Browser,
  log: string[],
  { name, viewport }: { name?: string; viewport?: { width: number; height: number } } = {},
): Promise<Page> {
  const prefix = name === undefined ? "" : `${name} `;
  const tab = await browser.newPage(viewport === undefined ? undefined : { viewport });
  tab.on("console", (message) => log.push(`${prefix}${message.type()} ${message.text()}`));
  tab.on("pageerror", (error) => log.push(`${prefix}pageerror ${error.stack ?? error.message}`));
  return tab;
}

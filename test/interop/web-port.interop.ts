/**
 * One TCP port for the page, the signaling and ICE-TCP: headless Chromium loads its page over HTTPS (a
 * self-signed certificate made at test time, its key pinned with `--ignore-certificate-errors-spki-list`)
 * from port P, posts its offers to the same origin, and — every UDP datagram dropped by an nftables rule in
 * this suite's private network namespace — connects over ICE-TCP to the same port P. The server: one
 * `https.Server` that doesn't listen, handed its connections by a `TCPMux` (`web` option) that holds the
 * process's only listening TCP socket, and werift peer connections on a `UDPMux` with that `TCPMux`.
 */
import { readFileSync } from "node:fs";
import https from "node:https";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TCPMux, UDPMux } from "../../src/index.js";
import { attachUDPMux } from "../../src/werift/index.js";
import { selfSignedCertificate } from "../tcp/certificate.js";
import { launchChromium, newLoggedPage } from "./harness/chromium.js";
import { type EchoServer, startEchoServer } from "./harness/echo-server.js";
import { explainFailure, within } from "./harness/failure.js";
import { fixturePage } from "./harness/fixtures.js";
import { describeServer } from "./harness/servers.js";
import { useInteropSuite } from "./harness/suite.js";
import { type PeerResult, passiveTcpPorts, type TcpEchoPage } from "./harness/tcp-echo.js";
import { dropAllUdp, type UdpDrop } from "./harness/udp-drop.js";

const PEERS = 5;
const MESSAGES = 20;
const PEER_TIMEOUT_MS = 20_000;
const NFT_TABLE = "udpmux_web_port_test";

const page = fixturePage("tcp-echo-page.html");

interface WebPortServer extends EchoServer {
  readonly tcp: TCPMux;
  readonly udp: UDPMux;
  readonly port: number;
}

/** The echo server with its page, its signaling and its ICE-TCP on one TCP port. */
async function startWebPortServer(key: string, cert: string): Promise<WebPortServer> {
  const udp = await UDPMux.bind({ address: "127.0.0.1", port: 0 });
  let tcp: TCPMux | undefined;
  const server = await startEchoServer({
    files: { "/": page },
    async serve(listener) {
      const web = https.createServer({ key, cert }, listener);
      tcp = await TCPMux.listen({ address: "127.0.0.1", web });
      return {
        url: `https://127.0.0.1:${tcp.getListenAddresses()[0]!.port}`,
        async close() {
          web.closeAllConnections(); // the mux leaves the web server's connections to it
          web.close();
          await tcp!.close();
        },
      };
    },
    preparePeer(pc) {
      attachUDPMux(pc, udp, { announcedAddresses: ["127.0.0.1"], tcpMux: tcp });
    },
  });
  return {
    ...server,
    tcp: tcp!,
    udp,
    port: Number(new URL(server.url).port),
    async close() {
      await server.close();
      await udp.close();
    },
  };
}

/** Local ports of the TCP sockets listening in this network namespace (/proc/net/tcp and tcp6, state 0A). */
function listeningTcpPorts(): number[] {
  return ["/proc/net/tcp", "/proc/net/tcp6"].flatMap((file) =>
    readFileSync(file, "utf8")
      .split("\n")
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => fields[3] === "0A")
      .map((fields) => Number.parseInt(fields[1]!.split(":").at(-1)!, 16)),
  );
}

describe("Chromium: page, signaling and ICE-TCP on one TCP port, every UDP datagram dropped", () => {
  let browser: Browser | undefined;
  let tab: Page | undefined;
  let server: WebPortServer | undefined;
  let udpDrop: UdpDrop | undefined;
  const browserConsole: string[] = [];
  const certificate = selfSignedCertificate();

  const suite = useInteropSuite(async () => {
    await browser?.close();
    browser = undefined;
    tab = undefined;
    await server?.close();
    server = undefined;
  });

  beforeAll(async () => {
    udpDrop = await dropAllUdp("web-port.interop.ts", NFT_TABLE);
  });

  afterAll(() => {
    udpDrop?.remove();
  });

  const explain = async () => [
    ...((await tab?.evaluate(() => (globalThis as unknown as TcpEchoPage).interopReport())) ?? []),
    `browser console:\n  ${browserConsole.join("\n  ")}`,
    ...describeServer(server),
    `tcp mux stats: ${JSON.stringify(server?.tcp.stats())}`,
  ];

  it(`${PEERS} peer connections echo; the one listening TCP socket serves the page, the offers and ICE-TCP`, async () => {
    server = await startWebPortServer(certificate.key, certificate.cert);
    const { port, tcp } = server;
    await explainFailure(async () => {
      // One listening TCP socket in this process (and in the namespace: Chromium listens on none).
      expect(process.getActiveResourcesInfo().filter((r) => r === "TCPServerWrap")).toHaveLength(1);
      expect(listeningTcpPorts()).toEqual([port]);

      const udpDropsBefore = udpDrop!.dropped();
      const started = performance.now();
      browser = await launchChromium([`--ignore-certificate-errors-spki-list=${certificate.spki}`]);
      tab = await newLoggedPage(browser, browserConsole);
      const response = await tab.goto(`${server!.url}/`);
      expect(response?.status()).toBe(200);
      expect(new URL(tab.url()).protocol).toBe("https:");
      expect(
        await tab.evaluate(() => (globalThis as unknown as { isSecureContext: boolean }).isSecureContext),
      ).toBe(true);
      const options = { peers: PEERS, messages: MESSAGES, size: 1200, timeoutMs: PEER_TIMEOUT_MS };
      const results: PeerResult[] = await within(
        3 * PEER_TIMEOUT_MS,
        "Chromium's echo over ICE-TCP",
        tab.evaluate((o) => (globalThis as unknown as TcpEchoPage).runTcpEcho(o), options),
      );
      console.log(
        `[web-port interop] ${results.filter((r) => r.verified === MESSAGES).length}/${PEERS} peer connections ` +
          `echoed ${MESSAGES} messages over ICE-TCP on the page's port in ${(performance.now() - started).toFixed(0)} ms; ` +
          `tcp mux: ${JSON.stringify(tcp.stats())}`,
      );

      expect(results.map((r) => r.error)).toEqual(Array(PEERS).fill(undefined));
      expect(results.map((r) => r.verified)).toEqual(Array(PEERS).fill(MESSAGES));
      // Every selected pair is TCP to port P: the port the page came from.
      expect(results.map((r) => [r.selected?.protocol, r.selected?.remote])).toEqual(
        Array(PEERS).fill(["tcp", `127.0.0.1:${port}`]),
      );
      expect(new Set(results.map((r) => r.id)).size).toBe(PEERS);
      expect(server!.answers).toHaveLength(PEERS);
      for (const answer of server!.answers) expect(passiveTcpPorts(answer)).toEqual([port]);
      // UDP was tried (and dropped): only TCP could have carried the echoes.
      expect(udpDrop!.dropped()).toBeGreaterThan(udpDropsBefore);
      const stats = tcp.stats();
      expect(stats.webConnections).toBeGreaterThanOrEqual(1); // the page and the offers
      expect(stats.tcpConnections).toBeGreaterThanOrEqual(PEERS);
      expect(stats.rejected).toBe(0);
      // Still the one listening socket, and nothing sent off loopback.
      expect(listeningTcpPorts()).toEqual([port]);
      expect(suite.guard.violations).toEqual([]);
    }, explain);
  });
});

/** What test/interop/fixtures/tcp-echo-page.html offers the suites that drive it over ICE-TCP. */

/** One peer connection's outcome, as the page reports it. */
export interface PeerResult {
  index: number;
  id?: string;
  opened: boolean;
  verified: number;
  error?: string;
  selected?: { protocol: string; local: string; remote: string };
}

/** The page's globals. */
export interface TcpEchoPage {
  runTcpEcho(options: {
    peers: number;
    messages: number;
    size: number;
    timeoutMs: number;
  }): Promise<PeerResult[]>;
  interopReport(): string[];
  closeAll(): void;
}

/** `port`s of the `tcptype passive` candidates of `sdp`. */
export function passiveTcpPorts(sdp: string): number[] {
  return sdp
    .split(/\r?\n/)
    .filter(
      (line) => line.startsWith("a=candidate:") && / tcp /i.test(line) && line.includes("tcptype passive"),
    )
    .map((line) => Number(line.split(" ")[5]));
}

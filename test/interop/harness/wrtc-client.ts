/**
 * A libwebrtc client (the `@roamhq/wrtc` native addon) that offers two data channels to the echo server,
 * echoes verified payloads through them and can restart ICE. Everything it sees is appended to `log`, so a
 * failed run prints the client's own view of ICE and DTLS.
 */
import { createRequire } from "node:module";
import { setTimeout as sleep } from "node:timers/promises";
import { type AnswerResponse, type OfferRequest, udpCandidatePorts } from "./echo-server.js";
import { checkEcho, makePayload } from "./payload.js";

// The package's types re-export DOM globals this project does not load (lib is ES2023), so the slice of
// the W3C API used here is typed structurally.
interface SessionDescription {
  type: "offer" | "answer";
  sdp: string;
}

interface StatsReport {
  forEach(callback: (stat: Record<string, unknown>) => void): void;
}

export interface ClientDataChannel {
  readonly label: string;
  readonly readyState: string;
  readonly ordered: boolean;
  binaryType: string;
  send(data: Uint8Array): void;
  close(): void;
  onopen: (() => void) | null;
  onclose: (() => void) | null;
  onerror: ((event: { error?: unknown }) => void) | null;
  onmessage: ((event: { data: ArrayBuffer | string }) => void) | null;
}

export interface ClientPeerConnection {
  readonly localDescription: SessionDescription | null;
  readonly iceGatheringState: string;
  readonly iceConnectionState: string;
  readonly connectionState: string;
  readonly signalingState: string;
  onicegatheringstatechange: (() => void) | null;
  oniceconnectionstatechange: (() => void) | null;
  onconnectionstatechange: (() => void) | null;
  onsignalingstatechange: (() => void) | null;
  createDataChannel(label: string, init?: { ordered?: boolean }): ClientDataChannel;
  createOffer(options?: { iceRestart?: boolean }): Promise<SessionDescription>;
  setLocalDescription(description: SessionDescription): Promise<void>;
  setRemoteDescription(description: SessionDescription): Promise<void>;
  getStats(): Promise<StatsReport>;
  close(): void;
}

interface WrtcModule {
  RTCPeerConnection: new (configuration: { iceServers: [] }) => ClientPeerConnection;
}

const wrtc = createRequire(import.meta.url)("@roamhq/wrtc") as WrtcModule;

/** Messages a channel keeps in flight at once. */
const ECHO_WINDOW = 8;

export class WrtcEchoClient {
  readonly log: string[] = [];
  readonly pc: ClientPeerConnection;
  readonly ordered: ClientDataChannel;
  readonly unordered: ClientDataChannel;
  /** Server-side id, known after `connect()`. */
  id: string | undefined;
  /** Every offer this client sent and every answer it applied, in order (restarts included). */
  readonly offers: string[] = [];
  readonly answers: string[] = [];
  /** Per channel label: payloads sent and echoes verified so far. */
  readonly progress = new Map<string, { sent: number; verified: number }>();
  private readonly started = performance.now();

  /**
   * @param options.rewriteOffer changes each offer before it is sent (the client's own description stays
   *   as libwebrtc made it), e.g. to hide its candidates as a browser does.
   */
  constructor(
    readonly name: string,
    private readonly options: { rewriteOffer?: (sdp: string) => string } = {},
  ) {
    // No ICE servers: libwebrtc then gathers host candidates only and contacts no STUN server.
    this.pc = new wrtc.RTCPeerConnection({ iceServers: [] });
    this.pc.onicegatheringstatechange = () => this.note(`gathering ${this.pc.iceGatheringState}`);
    this.pc.oniceconnectionstatechange = () => this.note(`ice ${this.pc.iceConnectionState}`);
    this.pc.onconnectionstatechange = () => this.note(`connection ${this.pc.connectionState}`);
    this.pc.onsignalingstatechange = () => this.note(`signaling ${this.pc.signalingState}`);
    this.ordered = this.channel("ordered", true);
    this.unordered = this.channel("unordered", false);
  }

  note(what: string): void {
    this.log.push(`${(performance.now() - this.started).toFixed(0)}ms ${this.name} ${what}`);
  }

  private channel(label: string, ordered: boolean): ClientDataChannel {
    const channel = this.pc.createDataChannel(label, { ordered });
    channel.binaryType = "arraybuffer";
    channel.onclose = () => this.note(`channel ${label} closed`);
    channel.onerror = (event) => this.note(`channel ${label} error ${String(event.error)}`);
    return channel;
  }

  /** Offers, sends the offer to the server, applies its answer and waits for both channels to open. */
  async connect(serverUrl: string): Promise<void> {
    const opened = [this.ordered, this.unordered].map(
      (channel) =>
        new Promise<void>((resolve) => {
          channel.onopen = () => {
            this.note(`channel ${channel.label} open`);
            resolve();
          };
        }),
    );
    await this.negotiate(serverUrl, false);
    await Promise.all(opened);
  }

  /**
   * Client-initiated ICE restart: a new offer with fresh credentials and candidates, answered by the
   * server. Resolves once the selected candidate pair uses one of the new local candidates (libwebrtc
   * gathers new ports on a restart, and its stats carry no ufrag), or rejects after `timeoutMs`.
   */
  async restartIce(serverUrl: string, timeoutMs = 15_000): Promise<void> {
    this.note("ICE restart");
    await this.negotiate(serverUrl, true);
    const newPorts = new Set(udpCandidatePorts(this.pc.localDescription!.sdp));
    const deadline = performance.now() + timeoutMs;
    // The selected-pair event lives on pc.sctp.transport.iceTransport, and merely reading pc.sctp.transport
    // makes @roamhq/wrtc 0.10.0 crash (SIGSEGV) when the process exits: poll the stats instead.
    for (;;) {
      const pair = await this.selectedPair();
      if (pair !== undefined && newPorts.has(pair.localPort)) {
        this.note(`ICE restart done: selected pair uses the new local port ${pair.localPort}`);
        return;
      }
      if (this.pc.connectionState === "failed" || this.pc.connectionState === "closed") {
        throw new Error(`${this.name}: ICE restart ended in connection state ${this.pc.connectionState}`);
      }
      if (performance.now() > deadline) {
        throw new Error(
          `${this.name}: no pair of the restarted ICE generation selected after ${timeoutMs} ms`,
        );
      }
      await sleep(50);
    }
  }

  /** The selected candidate pair's local and remote UDP ports, from the client's stats. */
  async selectedPair(): Promise<{ localPort: number; remotePort: number } | undefined> {
    const stats = new Map<string, Record<string, unknown>>();
    (await this.pc.getStats()).forEach((stat) => {
      stats.set(String(stat.id), stat);
    });
    const transport = [...stats.values()].find((stat) => stat.type === "transport");
    const pair = stats.get(String(transport?.selectedCandidatePairId));
    const local = stats.get(String(pair?.localCandidateId));
    const remote = stats.get(String(pair?.remoteCandidateId));
    if (local === undefined || remote === undefined) return undefined;
    return { localPort: Number(local.port), remotePort: Number(remote.port) };
  }

  private async negotiate(serverUrl: string, iceRestart: boolean): Promise<void> {
    const offer = await this.pc.createOffer(iceRestart ? { iceRestart } : undefined);
    const gathered = new Promise<void>((resolve) => {
      const previous = this.pc.onicegatheringstatechange;
      this.pc.onicegatheringstatechange = () => {
        previous?.();
        if (this.pc.iceGatheringState !== "complete") return;
        this.pc.onicegatheringstatechange = previous;
        resolve();
      };
    });
    await this.pc.setLocalDescription(offer);
    await gathered;
    const offerSdp = this.pc.localDescription!.sdp;
    const request: OfferRequest = { sdp: this.options.rewriteOffer?.(offerSdp) ?? offerSdp };
    this.offers.push(request.sdp);
    if (this.id !== undefined) request.id = this.id;
    const response = await fetch(`${serverUrl}/offer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request),
    });
    if (!response.ok) throw new Error(`signaling failed: HTTP ${response.status} ${await response.text()}`);
    const answer = (await response.json()) as AnswerResponse;
    this.id = answer.id;
    this.answers.push(answer.sdp);
    await this.pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    this.note(`${iceRestart ? "restart" : "initial"} answer applied`);
  }

  /**
   * Sends `count` payloads of stream `stream` through `channel` (at most ECHO_WINDOW in flight) and resolves
   * once every one came back byte for byte (and, on an ordered channel, in the order sent). `onEchoed(n)` runs after the n-th verified echo; with `hold`,
   * payload `hold.seq` and later ones wait for `hold.until` (a rejection fails the echo).
   */
  echo(
    channel: ClientDataChannel,
    stream: number,
    count: number,
    options: { onEchoed?: (n: number) => void; hold?: { seq: number; until: Promise<unknown> } } = {},
  ): Promise<number> {
    const { onEchoed, hold } = options;
    return new Promise<number>((resolve, reject) => {
      const seen = new Set<number>();
      let sent = 0;
      const progress = { sent: 0, verified: 0 };
      this.progress.set(channel.label, progress);
      let held = hold !== undefined;
      let waiting = false;
      const fail = (reason: string) => {
        channel.onmessage = null;
        const error = new Error(
          `${this.name}/${channel.label}: ${reason} (sent ${sent}, verified ${seen.size})`,
        );
        this.note(error.message);
        reject(error);
      };
      const pump = () => {
        while (sent < count && sent - seen.size < ECHO_WINDOW) {
          if (held && sent === hold!.seq) {
            if (waiting) return;
            waiting = true;
            this.note(`channel ${channel.label} holds at message ${sent}`);
            hold!.until.then(
              () => {
                held = false;
                this.note(`channel ${channel.label} resumes at message ${sent}`);
                pump();
              },
              (error: unknown) => fail(`held messages never released: ${String(error)}`),
            );
            return;
          }
          if (channel.readyState !== "open") return fail(`channel is ${channel.readyState}`);
          channel.send(makePayload(stream, sent++));
          progress.sent = sent;
        }
      };
      channel.onmessage = ({ data }) => {
        if (typeof data === "string") return fail("echo came back as text");
        const seq = checkEcho(stream, new Uint8Array(data));
        if (seq === undefined || seq >= sent)
          return fail(`echo of ${data.byteLength} bytes matches nothing sent`);
        if (seen.has(seq)) return fail(`message ${seq} echoed twice`);
        if (channel.ordered && seq !== seen.size) return fail(`echo ${seq} overtook echo ${seen.size}`);
        seen.add(seq);
        progress.verified = seen.size;
        onEchoed?.(seen.size);
        if (seen.size === count) {
          channel.onmessage = null;
          this.note(`channel ${channel.label} verified ${count} echoes`);
          resolve(count);
          return;
        }
        pump();
      };
      pump();
    });
  }

  /** The client's own view of its transports and candidate pairs, for a failure report. */
  async describe(): Promise<string> {
    const lines = [...this.log];
    lines.push(
      `${this.name} (server ${this.id ?? "?"}) now: ice=${this.pc.iceConnectionState} connection=${this.pc.connectionState} ` +
        `signaling=${this.pc.signalingState} gathering=${this.pc.iceGatheringState}`,
    );
    for (const [label, { sent, verified }] of this.progress) {
      lines.push(`  channel ${label}: sent ${sent}, verified ${verified}`);
    }
    try {
      const report = await this.pc.getStats();
      report.forEach((stat) => {
        if (stat.type === "transport") {
          lines.push(
            `  transport dtls=${String(stat.dtlsState)} ice=${String(stat.iceState)} ` +
              `selectedPair=${String(stat.selectedCandidatePairId)}`,
          );
        } else if (stat.type === "candidate-pair") {
          lines.push(
            `  pair ${String(stat.id)} ${String(stat.state)} nominated=${String(stat.nominated)} ` +
              `requests=${String(stat.requestsSent)}/${String(stat.requestsReceived)} ` +
              `responses=${String(stat.responsesReceived)}/${String(stat.responsesSent)}`,
          );
        } else if (stat.type === "local-candidate" || stat.type === "remote-candidate") {
          lines.push(
            `  ${String(stat.type)} ${String(stat.id)} ${String(stat.candidateType)} ` +
              `${String(stat.address ?? stat.ip)}:${String(stat.port)}/${String(stat.protocol)}`,
          );
        }
      });
    } catch (error) {
      lines.push(`  getStats failed: ${String(error)}`);
    }
    return lines.join("\n");
  }

  close(): void {
    this.ordered.onmessage = null;
    this.unordered.onmessage = null;
    this.pc.close();
  }
}

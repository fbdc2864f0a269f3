/**
 * ICE-TCP through a TCPMux (`attachUDPMux(agent, mux, { tcpMux })`): werift-ice 0.2.3, werift 0.24.4 and
 * 0.25.2 agents as the passive side, a plain werift agent with `useTcp` as the active side; the candidate,
 * no TCP listener of the agent's own, data both ways, frames handed over one per macrotask and bounded in
 * bytes per TCP connection (flow control, nothing dropped), ICE restart, close both ways; which TCP muxes
 * `options.tcpMux` takes.
 */
import { connect } from "node:net";
import { beforeEach, describe, expect, it } from "vitest";
import { classes, Message, methods } from "werift-ice";
import { MuxedConnection, TCPMux, UDPMux } from "../../src/index.js";
import { attachUDPMux } from "../../src/werift/index.js";
import { FRAME_ENTRY_BYTES } from "../../src/werift/tcp.js";
import {
  ICE_FLAVORS,
  type IceAgent,
  LOOPBACK_ICE_OPTIONS,
  PC_FLAVORS,
  roundTrip,
  stateReached,
  useWeriftSuite,
} from "./helpers.js";
import { type Channel, nextMessage, offerAnswer, opened, type PC, plainPc } from "./pc.js";

const suite = useWeriftSuite();
const { closer } = suite;

interface TcpCandidate {
  transport: string;
  tcptype?: string;
  host: string;
  port: number;
  type: string;
}

const tcpServers = () => process.getActiveResourcesInfo().filter((r) => r === "TCPServerWrap").length;

/** `b` (active, controlling) checks `a`'s TCP candidates; `a` gets no candidate and learns `b` by its checks. */
async function connectOverTcp(a: IceAgent, b: IceAgent): Promise<void> {
  await Promise.all([a.gatherCandidates(), b.gatherCandidates()]);
  a.setRemoteParams({ iceLite: false, usernameFragment: b.localUsername, password: b.localPassword });
  b.setRemoteParams({ iceLite: false, usernameFragment: a.localUsername, password: a.localPassword });
  for (const c of a.localCandidates as unknown as TcpCandidate[]) {
    if (c.transport === "tcp") await b.addRemoteCandidate(c);
  }
  await a.addRemoteCandidate(undefined);
  await b.addRemoteCandidate(undefined);
  await Promise.all([a.connect(), b.connect()]);
}

/** A Binding Request as an active peer sends it first: USERNAME `ufrag:peer`, signed with `password`. */
function check(ufrag: string, password: string): Buffer {
  const msg = new Message(methods.BINDING, classes.REQUEST);
  msg.setAttribute("USERNAME", `${ufrag}:peer`);
  msg.setAttribute("PRIORITY", 1853824767);
  msg.setAttribute("ICE-CONTROLLING", 42n);
  msg.addMessageIntegrity(Buffer.from(password, "utf8"));
  msg.addFingerprint();
  return msg.bytes;
}

function frame(data: Buffer): Buffer {
  const header = Buffer.alloc(2);
  header.writeUInt16BE(data.length);
  return Buffer.concat([header, data]);
}

/** The agent's passive TCP protocol, once it gathered. */
function passiveOf(agent: IceAgent): { handleFrame(data: Buffer, addr: unknown): void } {
  const passive = agent.protocols.find((p) => (p as { type?: string }).type === "tcp");
  expect(passive).toBeDefined();
  return passive as { handleFrame(data: Buffer, addr: unknown): void };
}

/** Data frames of the flow-control tests: `DATA_BYTES` bytes, not STUN (RTP's first byte), numbered. */
const DATA_FRAMES = 64;
const DATA_BYTES = 1000;
/** The TCP mux's `maxQueuedBytes` in those tests: a handful of data frames. */
const QUEUE_BOUND = 8 * 1024;

function dataFrames(): Buffer {
  return Buffer.concat(
    Array.from({ length: DATA_FRAMES }, (_, seq) => {
      const data = Buffer.alloc(DATA_BYTES, 0x80);
      data.writeUInt16BE(seq, 1);
      return frame(data);
    }),
  );
}

describe.each(ICE_FLAVORS)("$name agent on a TCPMux", ({ create }) => {
  let mux: UDPMux;
  let tcp: TCPMux;
  let tcpPort: number;
  beforeEach(async () => {
    mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    tcp = closer.add(await TCPMux.listen({ address: "127.0.0.1" }));
    tcpPort = tcp.getListenAddresses()[0]!.port;
  });

  const muxed = (controlling: boolean, options: Record<string, unknown> = {}) =>
    closer.add(
      attachUDPMux(create(controlling, { ...LOOPBACK_ICE_OPTIONS, ...options }), mux, { tcpMux: tcp }),
    );
  /** A plain werift agent doing ICE-TCP itself (active and passive, its own sockets). */
  const activePeer = (controlling: boolean) => {
    const agent = create(controlling, { ...LOOPBACK_ICE_OPTIONS, useTcp: true });
    agent.stunServer = undefined;
    return closer.add(agent);
  };

  it("advertises one tcptype passive candidate on the TCP mux's port and listens on nothing of its own", async () => {
    const servers = tcpServers();
    const a = muxed(false);
    await a.gatherCandidates();
    const candidates = a.localCandidates as unknown as TcpCandidate[];
    expect(candidates.filter((c) => c.transport === "tcp")).toEqual([
      expect.objectContaining({ host: "127.0.0.1", port: tcpPort, tcptype: "passive", type: "host" }),
    ]);
    expect(candidates.filter((c) => c.transport === "tcp" && c.tcptype === "active")).toEqual([]);
    expect(tcpServers()).toBe(servers);
  });

  it("with the caller's useTcp, werift's active candidate stays, still no listener of its own", async () => {
    const servers = tcpServers();
    const a = muxed(false, { useTcp: true });
    await a.gatherCandidates();
    const tcpTypes = (a.localCandidates as unknown as TcpCandidate[])
      .filter((c) => c.transport === "tcp")
      .map((c) => [c.tcptype, c.port]);
    expect(tcpTypes).toEqual([
      ["passive", tcpPort],
      ["active", 9],
    ]);
    expect(tcpServers()).toBe(servers);
  });

  it("a plain active peer connects through the TCP mux; data both ways over TCP", async () => {
    const a = muxed(false);
    const b = activePeer(true);
    await connectOverTcp(a, b);
    expect(a.nominated?.localCandidate).toMatchObject({ port: tcpPort, transport: "tcp" });
    expect(b.nominated?.remoteAddr).toEqual(["127.0.0.1", tcpPort]);
    expect(await roundTrip(a, b, "a→b")).toBe("a→b");
    expect(await roundTrip(b, a, "b→a")).toBe("b→a");
    expect(tcp.stats().tcpConnections).toBe(1);
  });

  it("hands werift one frame per macrotask: frames of one TCP read don't share a task", async () => {
    const a = muxed(false);
    await a.gatherCandidates();
    const passive = a.protocols.find((p) => (p as { type?: string }).type === "tcp") as {
      handleFrame(data: Buffer, addr: unknown): void;
    };
    const order: string[] = [];
    const handleFrame = passive.handleFrame;
    let n = 0;
    const both = new Promise<void>((resolve) => {
      passive.handleFrame = function (data, addr) {
        const i = ++n;
        order.push(`frame ${i}`);
        queueMicrotask(() => order.push(`microtask of ${i}`));
        handleFrame.call(this, data, addr);
        if (i === 2) setImmediate(resolve);
      };
    });
    const socket = connect(tcpPort, "127.0.0.1");
    closer.add({ close: () => socket.destroy() });
    socket.on("error", () => {});
    // the check and a data frame in one write, so in one TCP read
    socket.write(Buffer.concat([frame(check(a.localUsername, a.localPassword)), frame(Buffer.from("data"))]));
    await both;
    expect(order).toEqual(["frame 1", "microtask of 1", "frame 2", "microtask of 2"]);
  });

  it("bounds frames waiting for werift in bytes per TCP connection: pauses it, drops nothing, keeps the order", async () => {
    const small = closer.add(await TCPMux.listen({ address: "127.0.0.1", maxQueuedBytes: QUEUE_BOUND }));
    const a = closer.add(attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS }), mux, { tcpMux: small }));
    await a.gatherCandidates();
    // What the mux delivered and werift has not had yet, counted as the adapter counts it.
    let waiting = 0;
    let maxWaiting = 0;
    small.getConn(a.localUsername).on("message", (data: Buffer) => {
      waiting += data.length + FRAME_ENTRY_BYTES;
      maxWaiting = Math.max(maxWaiting, waiting);
    });
    const passive = passiveOf(a);
    const handleFrame = passive.handleFrame;
    const seqs: number[] = [];
    let sawPaused = false;
    passive.handleFrame = function (data, addr) {
      waiting -= data.length + FRAME_ENTRY_BYTES;
      if (data.length === DATA_BYTES) seqs.push(data.readUInt16BE(1));
      if (small.stats().pausedConnections > 0) sawPaused = true;
      handleFrame.call(this, data, addr);
    };
    const socket = connect(small.getListenAddresses()[0]!.port, "127.0.0.1");
    closer.add({ close: () => socket.destroy() });
    socket.on("error", () => {});
    socket.write(Buffer.concat([frame(check(a.localUsername, a.localPassword)), dataFrames()]));
    await expect.poll(() => seqs.length).toBe(DATA_FRAMES);
    expect(seqs).toEqual([...Array(DATA_FRAMES).keys()]); // every frame, in order
    expect(sawPaused).toBe(true);
    expect(maxWaiting).toBeGreaterThanOrEqual(QUEUE_BOUND); // the bound was reached…
    expect(maxWaiting).toBeLessThanOrEqual(QUEUE_BOUND + DATA_BYTES + FRAME_ENTRY_BYTES); // …by one frame at most
    await expect.poll(() => small.stats().pausedConnections).toBe(0); // resumed
    expect(small.stats().tcpConnections).toBe(1);
  });

  it("closing the agent while a connection is paused drops its waiting frames and resumes no closed conn", async () => {
    const small = closer.add(await TCPMux.listen({ address: "127.0.0.1", maxQueuedBytes: QUEUE_BOUND }));
    const a = closer.add(attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS }), mux, { tcpMux: small }));
    await a.gatherCandidates();
    const passive = passiveOf(a);
    const handleFrame = passive.handleFrame;
    let closed: Promise<void> | undefined;
    let pausedAtClose = -1;
    let afterClose = 0;
    passive.handleFrame = function (data, addr) {
      if (closed !== undefined) afterClose++;
      else if (data.length === DATA_BYTES) {
        pausedAtClose = small.stats().pausedConnections;
        closed = a.close();
      }
      handleFrame.call(this, data, addr);
    };
    const resumeFrom = MuxedConnection.prototype.resumeFrom;
    const resumedClosed: string[] = [];
    MuxedConnection.prototype.resumeFrom = function (this: MuxedConnection, address: string, port: number) {
      if (this.closed) resumedClosed.push(`${this.localUfrag} ${address}:${port}`);
      resumeFrom.call(this, address, port);
    };
    try {
      const socket = connect(small.getListenAddresses()[0]!.port, "127.0.0.1");
      closer.add({ close: () => socket.destroy() });
      socket.on("error", () => {});
      socket.write(Buffer.concat([frame(check(a.localUsername, a.localPassword)), dataFrames()]));
      await expect.poll(() => pausedAtClose).not.toBe(-1); // (not `closed`: poll would await the promise)
      await closed;
      expect(pausedAtClose).toBe(1);
      await expect.poll(() => small.stats().tcpConnections).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 20)); // a few turns: any drain still scheduled runs
      expect(afterClose).toBe(0);
      expect(resumedClosed).toEqual([]);
      expect(small.stats().pausedConnections).toBe(0);
    } finally {
      MuxedConnection.prototype.resumeFrom = resumeFrom;
    }
  });

  it("ICE restart keeps routing over TCP: the new ufrag's checks reach the agent", async () => {
    const a = muxed(false);
    const b = activePeer(true);
    await connectOverTcp(a, b);
    const before = a.localUsername;
    await a.restart();
    await b.restart();
    expect(a.localUsername).not.toBe(before);
    await connectOverTcp(a, b);
    expect(a.nominated?.localCandidate).toMatchObject({ port: tcpPort, transport: "tcp" });
    expect(await roundTrip(b, a, "after restart")).toBe("after restart");
    expect(await roundTrip(a, b, "and back")).toBe("and back");
  });

  it("closing the agent closes its TCP conns and connections", async () => {
    const a = muxed(false);
    const b = activePeer(true);
    await connectOverTcp(a, b);
    expect(tcp.stats().connections).toBeGreaterThan(0);
    await a.close();
    expect(tcp.stats().connections).toBe(0);
    await expect.poll(() => tcp.stats().tcpConnections).toBe(0);
  });

  it("closing the TCP mux closes the agents on it", async () => {
    const a = muxed(false);
    await a.gatherCandidates();
    const closed = stateReached(a, "closed");
    await tcp.close();
    await closed;
    expect(a.state).toBe("closed");
  });
});

describe("attachUDPMux with a tcpMux", () => {
  it("refuses a closed TCP mux and a TCP mux of another UDP mux", async () => {
    const mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    const other = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    const tcp = closer.add(await TCPMux.listen({ address: "127.0.0.1" }));
    const create = ICE_FLAVORS[2]!.create;
    closer.add(attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS }), mux, { tcpMux: tcp }));
    const agent = closer.add(create(false, { ...LOOPBACK_ICE_OPTIONS }));
    expect(() => attachUDPMux(agent, other, { tcpMux: tcp })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }),
    );
    const closedTcp = await TCPMux.listen({ address: "127.0.0.1" });
    await closedTcp.close();
    expect(() => attachUDPMux(agent, mux, { tcpMux: closedTcp })).toThrow(
      expect.objectContaining({ code: "ERR_MUX_CLOSED" }),
    );
  });

  it.each([
    ["a UDPMux", async () => closer.add(await UDPMux.bind({ address: "127.0.0.1" }))],
    [
      "a plain object with a TCPMux's methods",
      async () => ({ getConn() {}, getListenAddresses: () => [], closed: false }),
    ],
  ])("refuses %s as tcpMux with ERR_INVALID_ARG_TYPE, agent untouched", async (_name, make) => {
    const mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    const notTcp = (await make()) as unknown as TCPMux;
    const agent = closer.add(ICE_FLAVORS[2]!.create(false, { ...LOOPBACK_ICE_OPTIONS }));
    expect(() => attachUDPMux(agent, mux, { tcpMux: notTcp })).toThrow(
      expect.objectContaining({
        name: "TypeError",
        code: "ERR_INVALID_ARG_TYPE",
        message: expect.stringMatching(/`options\.tcpMux`.*a TCPMux/),
      }),
    );
    expect(attachUDPMux(agent, mux)).toBe(agent); // nothing was hooked
  });

  it("a TCP mux serves another UDP mux once the one it was used with has closed", async () => {
    const a = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    const b = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    const tcp = closer.add(await TCPMux.listen({ address: "127.0.0.1" }));
    const create = ICE_FLAVORS[2]!.create;
    const onA = closer.add(attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS }), a, { tcpMux: tcp }));
    const agent = closer.add(create(false, { ...LOOPBACK_ICE_OPTIONS }));
    expect(() => attachUDPMux(agent, b, { tcpMux: tcp })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }),
    );
    const onAClosed = stateReached(onA, "closed");
    await a.close();
    await onAClosed;
    expect(attachUDPMux(agent, b, { tcpMux: tcp })).toBe(agent);
    await agent.gatherCandidates();
    const candidates = agent.localCandidates as unknown as TcpCandidate[];
    expect(candidates.filter((c) => c.transport === "tcp")).toEqual([
      expect.objectContaining({ port: tcp.getListenAddresses()[0]!.port, tcptype: "passive" }),
    ]);
    // and now it is b's: a third UDP mux is refused while b is open
    const c = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    const third = closer.add(create(false, { ...LOOPBACK_ICE_OPTIONS }));
    expect(() => attachUDPMux(third, c, { tcpMux: tcp })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }),
    );
  });

  it("a TCP mux can be paired again while its UDP mux is still closing", async () => {
    const a = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    const b = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    const tcp = closer.add(await TCPMux.listen({ address: "127.0.0.1" }));
    const create = ICE_FLAVORS[2]!.create;
    closer.add(attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS }), a, { tcpMux: tcp }));
    const closing = a.close(); // closed is set at once, 'close' comes later
    const agent = closer.add(create(false, { ...LOOPBACK_ICE_OPTIONS }));
    expect(attachUDPMux(agent, b, { tcpMux: tcp })).toBe(agent);
    await closing; // a's 'close' must not unpair b
    const third = closer.add(create(false, { ...LOOPBACK_ICE_OPTIONS }));
    const c = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    expect(() => attachUDPMux(third, c, { tcpMux: tcp })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }),
    );
  });

  it("refuses an agent without werift's options (where useTcp lives) with ERR_UNSUPPORTED_WERIFT, untouched", async () => {
    const mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    const tcp = closer.add(await TCPMux.listen({ address: "127.0.0.1" }));
    const agent = closer.add(ICE_FLAVORS[1]!.create(false, { ...LOOPBACK_ICE_OPTIONS }));
    const options = (agent as unknown as { options: unknown }).options;
    (agent as unknown as { options: unknown }).options = undefined;
    expect(() => attachUDPMux(agent, mux, { tcpMux: tcp })).toThrow(
      expect.objectContaining({ code: "ERR_UNSUPPORTED_WERIFT" }),
    );
    (agent as unknown as { options: unknown }).options = options;
    expect(attachUDPMux(agent, mux, { tcpMux: tcp })).toBe(agent); // nothing was hooked the first time
  });

  it("refuses a TCP mux that serves no announced family", async () => {
    const mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    const tcp = closer.add(await TCPMux.listen({ address: "::1" }));
    const agent = closer.add(ICE_FLAVORS[0]!.create(false, { ...LOOPBACK_ICE_OPTIONS }));
    expect(() => attachUDPMux(agent, mux, { tcpMux: tcp })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }),
    );
  });
});

/** `sdp` with only the candidate lines `keep` accepts. */
function filterCandidates(sdp: string, keep: (line: string) => boolean): string {
  return sdp
    .split("\r\n")
    .filter((line) => !line.startsWith("a=candidate:") || keep(line))
    .join("\r\n");
}

describe.each(PC_FLAVORS)("$name RTCPeerConnection on a TCPMux", ({ RTCPeerConnection }) => {
  it("a plain iceUseTcp client reaches the server over TCP only; the data channel echoes", async () => {
    const mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    const tcp = closer.add(await TCPMux.listen({ address: "127.0.0.1" }));
    const tcpPort = tcp.getListenAddresses()[0]!.port;
    const server = closer.add(
      attachUDPMux(new RTCPeerConnection({ bundlePolicy: "max-bundle" }), mux, { tcpMux: tcp }),
    ) as unknown as PC;
    const plainClient = closer.add(plainPc(RTCPeerConnection, { iceUseTcp: true }));

    const clientChannel = plainClient.createDataChannel("echo");
    const serverChannel = new Promise<Channel>((resolve) => server.onDataChannel.subscribe(resolve));
    // The server learns the client from its TCP checks only (no candidate); the client gets the server's
    // TCP candidates only: UDP can't be chosen.
    const answer = await offerAnswer(plainClient, server, {
      rewriteOffer: (sdp) => filterCandidates(sdp, () => false),
    });
    const tcpLines = answer.sdp
      .split("\r\n")
      .filter((l) => l.startsWith("a=candidate:") && l.includes(" tcp "));
    expect(tcpLines).toHaveLength(1);
    expect(tcpLines[0]).toContain(` 127.0.0.1 ${tcpPort} typ host tcptype passive`);
    await plainClient.setRemoteDescription({
      type: answer.type,
      sdp: filterCandidates(answer.sdp, (l) => l.includes(" tcp ")),
    });

    const [a, b] = await Promise.all([opened(clientChannel), opened(await serverChannel)]);
    b.onMessage.subscribe((data) => b.send(data));
    const back = nextMessage(a);
    a.send("over TCP");
    expect(await back).toBe("over TCP");
    expect(tcp.stats().tcpConnections).toBeGreaterThanOrEqual(1);
    expect(tcp.stats().delivered).toBeGreaterThan(2);
  });
});

/**
 * Issue 17 item 4, "errors and defaults that lead to the fix", through the public entry points: unknown
 * option names in every options bag, `getListenAddresses()` after close, an address of the other family
 * than `type`, and the werift adapter's announced-address errors. Each error with its code and message.
 * (The planning of announced addresses on synthetic hosts: test/adapter/address-plan.test.ts.)
 */
import { once } from "node:events";
import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Connection } from "werift-ice";
import { DEFAULTS, TCP_DEFAULTS, TCPMux, UDPMux } from "../src/index.js";
import { attachUDPMux } from "../src/werift/index.js";
import { closeAll, socket, track } from "./helpers.js";
import { LOOPBACK_ICE_OPTIONS } from "./werift/helpers.js";

const agents: Connection[] = [];
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close()));
  await closeAll();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** Sockets and servers of the process: a refused call must leave none behind. */
function handles(): number {
  return process.getActiveResourcesInfo().filter((h) => h === "UDPWrap" || h === "TCPServerWrap").length;
}

async function listeningServer(): Promise<Server> {
  const server = createServer();
  servers.push(server);
  server.listen({ port: 0, host: "127.0.0.1" });
  await once(server, "listening");
  return server;
}

const unknown = (message: string) =>
  expect.objectContaining({ name: "TypeError", code: "ERR_INVALID_ARG_VALUE", message });

describe("unknown option names", () => {
  it("UDPMux.bind: a misspelled mux option, before any socket is bound", async () => {
    const before = handles();
    await expect(UDPMux.bind({ address: "127.0.0.1", maxConection: 5 } as never)).rejects.toThrow(
      unknown("Unknown option `maxConection`: did you mean `maxConnections`?"),
    );
    expect(handles()).toBe(before);
  });

  it("UDPMux.bind: a misspelled bind option", async () => {
    await expect(UDPMux.bind({ adress: "127.0.0.1" } as never)).rejects.toThrow(
      unknown("Unknown option `adress`: did you mean `address`?"),
    );
  });

  it("new UDPMux: a bind-only option is unknown here, and the valid names are listed", async () => {
    const s = await socket();
    expect(() => new UDPMux(s, { port: 0 } as never)).toThrow(
      unknown(
        `Unknown option \`port\`; the options are ${[...Object.keys(DEFAULTS), "onUnrouted"].map((n) => `\`${n}\``).join(", ")}`,
      ),
    );
  });

  it("TCPMux.listen: a misspelled option, before any server listens", async () => {
    const before = handles();
    await expect(TCPMux.listen({ address: "127.0.0.1", ipv6only: true } as never)).rejects.toThrow(
      unknown("Unknown option `ipv6only`: did you mean `ipv6Only`?"),
    );
    await expect(TCPMux.listen({ maxConection: 5 } as never)).rejects.toThrow(
      unknown("Unknown option `maxConection`: did you mean `maxConnections`?"),
    );
    expect(handles()).toBe(before);
  });

  it("new TCPMux: UDPMux's closeSocket is TCPMux's closeServer", async () => {
    const server = await listeningServer();
    expect(() => new TCPMux(server, { closeSocket: false } as never)).toThrow(
      unknown("Unknown option `closeSocket`: did you mean `closeServer`?"),
    );
  });

  it("attachUDPMux: a misspelled option, and the agent is untouched", async () => {
    const mux = track(await UDPMux.bind({ address: "127.0.0.1" }));
    const agent = new Connection(true, { ...LOOPBACK_ICE_OPTIONS });
    agents.push(agent);
    expect(() => attachUDPMux(agent, mux, { announceAddresses: ["127.0.0.1"] } as never)).toThrow(
      unknown("Unknown option `announceAddresses`: did you mean `announcedAddresses`?"),
    );
    // werift's own option name, given to the adapter
    expect(() => attachUDPMux(agent, mux, { iceServers: [] } as never)).toThrow(
      unknown("Unknown option `iceServers`: did you mean `stunServers`?"),
    );
    expect(mux.stats().connections).toBe(0);
    expect(attachUDPMux(agent, mux, { announcedAddresses: ["127.0.0.1"] })).toBe(agent);
  });

  it("every valid name is taken: each mux option, the bind/listen-only ones, onUnrouted", async () => {
    const udp = track(
      await UDPMux.bind({
        ...DEFAULTS,
        onUnrouted: () => false,
        port: 0,
        address: "127.0.0.1",
        type: "udp4",
        ipv6Only: false,
        recvBufferSize: 1 << 20,
        sendBufferSize: 1 << 16,
      }),
    );
    const s = await socket();
    expect(() => new UDPMux(s, { ...DEFAULTS, closeSocket: false, onUnrouted: undefined })).not.toThrow();
    const tcp = track(
      await TCPMux.listen({ ...TCP_DEFAULTS, port: 0, address: "127.0.0.1", ipv6Only: false }),
    );
    expect(udp.closed || tcp.closed).toBe(false);
  });
});

describe("getListenAddresses() after close", () => {
  const closedError = expect.objectContaining({
    name: "MuxClosedError",
    code: "ERR_MUX_CLOSED",
    message: "the mux is closed",
  });

  it("UDPMux: ERR_MUX_CLOSED, not Node's ERR_SOCKET_DGRAM_NOT_RUNNING", async () => {
    const mux = await UDPMux.bind({ address: "127.0.0.1" });
    await mux.close();
    expect(() => mux.getListenAddresses()).toThrow(closedError);
  });

  it("UDPMux on a caller's socket left open (closeSocket: false): closed all the same", async () => {
    const mux = new UDPMux(await socket(), { closeSocket: false });
    await mux.close();
    expect(() => mux.getListenAddresses()).toThrow(closedError);
  });

  it("UDPMux whose socket was closed under it, before its 'close' event", async () => {
    const s = await socket();
    const mux = track(new UDPMux(s));
    s.close();
    expect(() => mux.getListenAddresses()).toThrow(closedError);
    await once(mux, "close");
    expect(() => mux.getListenAddresses()).toThrow(closedError);
  });

  it("TCPMux: the same", async () => {
    const tcp = await TCPMux.listen({ address: "127.0.0.1" });
    expect(tcp.getListenAddresses()[0]).toMatchObject({ address: "127.0.0.1", family: "IPv4" });
    await tcp.close();
    expect(() => tcp.getListenAddresses()).toThrow(closedError);
  });
});

describe("UDPMux.bind: an address of the other family than type", () => {
  it.each([
    [
      "0.0.0.0",
      "udp6",
      '`address` "0.0.0.0" is IPv4 but `type` is "udp6", which binds IPv6 addresses only: leave `type` out ' +
        '(or pass "udp4") to bind "0.0.0.0", or bind `address: "::"` for a dual-stack socket (IPv6 and IPv4)',
    ],
    [
      "127.0.0.1",
      "udp6",
      '`address` "127.0.0.1" is IPv4 but `type` is "udp6", which binds IPv6 addresses only: leave `type` out ' +
        '(or pass "udp4") to bind "127.0.0.1", or bind `address: "::"` for a dual-stack socket (IPv6 and IPv4)',
    ],
    [
      "::",
      "udp4",
      '`address` "::" is IPv6 but `type` is "udp4", which binds IPv4 addresses only: leave `type` out ' +
        '(or pass "udp6") to bind "::", or bind `address: "0.0.0.0"` for IPv4 only',
    ],
    [
      "::1",
      "udp4",
      '`address` "::1" is IPv6 but `type` is "udp4", which binds IPv4 addresses only: leave `type` out ' +
        '(or pass "udp6") to bind "::1", or bind `address: "0.0.0.0"` for IPv4 only',
    ],
  ] as const)("%s with %s: ERR_INVALID_ARG_VALUE before binding", async (address, type, message) => {
    const before = handles();
    await expect(UDPMux.bind({ address, type })).rejects.toThrow(
      expect.objectContaining({ name: "TypeError", code: "ERR_INVALID_ARG_VALUE", message }),
    );
    expect(handles()).toBe(before);
  });

  it("a matching type still binds", async () => {
    const mux = track(await UDPMux.bind({ address: "::1", type: "udp6" }));
    expect(mux.getListenAddresses()[0]).toMatchObject({ address: "::1", family: "IPv6" });
  });
});

describe("attachUDPMux: announced addresses", () => {
  it("announcedAddresses: [] on a mux bound to 127.0.0.1 says it is empty", async () => {
    const mux = track(await UDPMux.bind({ address: "127.0.0.1" }));
    const agent = new Connection(true, { ...LOOPBACK_ICE_OPTIONS });
    agents.push(agent);
    expect(() => attachUDPMux(agent, mux, { announcedAddresses: [] })).toThrow(
      unknown(
        "`options.announcedAddresses` is empty: pass at least one address, or leave it out to announce the " +
          "host's addresses",
      ),
    );
  });

  it("an IPv6 address on a udp4 mux names the family and the fix", async () => {
    const mux = track(await UDPMux.bind({ address: "127.0.0.1" }));
    const agent = new Connection(true, { ...LOOPBACK_ICE_OPTIONS });
    agents.push(agent);
    expect(() => attachUDPMux(agent, mux, { announcedAddresses: ["::1"] })).toThrow(
      unknown(
        '`options.announcedAddresses[0]` "::1" is IPv6, but the mux listens on 127.0.0.1 (IPv4 only) and ' +
          "can't reach IPv6 peers: use an address of the mux's family, or bind the mux with " +
          '`type: "udp6"` on "::" (dual stack) to reach both families',
      ),
    );
  });
});

/**
 * Every `*Ms` option holds in a Node timer: an integer from 1 to 2³¹−1. Beyond it Node warns
 * (`TimeoutOverflowWarning`) and fires after 1 ms — a `firstFrameTimeoutMs` of 2³¹ closed every TCP
 * connection at once — so both muxes refuse it up front with a `RangeError` (`ERR_OUT_OF_RANGE`), before
 * any socket or server exists.
 */
import { once } from "node:events";
import { connect, createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULTS, TCP_DEFAULTS, TCPMux, UDPMux } from "../../src/index.js";
import { MAX_TIMEOUT_MS } from "../../src/validate.js";
import { closeAll, mux, socket, track, until } from "../helpers.js";

afterEach(closeAll);

const handles = (kind: string) => process.getActiveResourcesInfo().filter((r) => r === kind).length;

/** Every `*Ms` option, from the defaults themselves: a new one is covered the day it is added. */
const UDP_MS = Object.keys(DEFAULTS).filter((name) => name.endsWith("Ms"));
const TCP_MS = Object.keys(TCP_DEFAULTS).filter((name) => name.endsWith("Ms"));
const ALL: [string, string][] = [
  ...UDP_MS.map((name): [string, string] => ["UDPMux.bind", name]),
  ...TCP_MS.map((name): [string, string] => ["TCPMux.listen", name]),
];

function open(mux: string, options: Record<string, unknown>): Promise<UDPMux | TCPMux> {
  return mux === "UDPMux.bind"
    ? UDPMux.bind({ address: "127.0.0.1", ...options })
    : TCPMux.listen({ address: "127.0.0.1", ...options });
}

it("finds the options it checks", () => {
  expect(MAX_TIMEOUT_MS).toBe(2 ** 31 - 1);
  expect(UDP_MS).toEqual(
    expect.arrayContaining([
      "acceptTimeoutMs",
      "addressIdleMs",
      "transactionTimeoutMs",
      "xorMappedAddressTtlMs",
    ]),
  );
  expect(TCP_MS).toEqual(expect.arrayContaining(["acceptTimeoutMs", "firstFrameTimeoutMs"]));
});

describe.each(ALL)("%s({ %s })", (muxName, name) => {
  it("refuses 2 ** 31 with a RangeError (ERR_OUT_OF_RANGE) naming the option, the range and the value", async () => {
    const err = await open(muxName, { [name]: 2 ** 31 }).then(track, (e: unknown) => e);
    expect(err).toBeInstanceOf(RangeError);
    expect(err).toMatchObject({ code: "ERR_OUT_OF_RANGE" });
    const { message } = err as RangeError;
    expect(message).toContain(`\`${name}\``);
    expect(message).toContain("from 1 to 2147483647");
    expect(message).toContain("got 2147483648");
  });

  it("takes 2 ** 31 - 1", async () => {
    const m = track(await open(muxName, { [name]: 2 ** 31 - 1 }));
    expect(m.closed).toBe(false);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])(
    "refuses %s with ERR_OUT_OF_RANGE",
    async (value) => {
      await expect(open(muxName, { [name]: value }).then(track)).rejects.toMatchObject({
        name: "RangeError",
        code: "ERR_OUT_OF_RANGE",
      });
    },
  );

  it("refuses a string with ERR_INVALID_ARG_TYPE", async () => {
    await expect(open(muxName, { [name]: "1000" }).then(track)).rejects.toMatchObject({
      name: "TypeError",
      code: "ERR_INVALID_ARG_TYPE",
    });
  });
});

describe("before anything is opened", () => {
  it("TCPMux.listen({ firstFrameTimeoutMs: 2 ** 31 }) throws and creates no server", async () => {
    const servers = handles("TCPServerWrap");
    await expect(TCPMux.listen({ address: "127.0.0.1", firstFrameTimeoutMs: 2 ** 31 })).rejects.toMatchObject(
      {
        code: "ERR_OUT_OF_RANGE",
      },
    );
    expect(handles("TCPServerWrap")).toBe(servers);
  });

  it("UDPMux.bind({ acceptTimeoutMs: 2 ** 31 }) throws and creates no socket", async () => {
    const sockets = handles("UDPWrap");
    await expect(UDPMux.bind({ address: "127.0.0.1", acceptTimeoutMs: 2 ** 31 })).rejects.toMatchObject({
      code: "ERR_OUT_OF_RANGE",
    });
    expect(handles("UDPWrap")).toBe(sockets);
  });

  it("the constructors on a caller's server or socket throw too", async () => {
    const server = createServer();
    server.listen(0, "127.0.0.1");
    track({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
    await once(server, "listening");
    expect(() => new TCPMux(server, { firstFrameTimeoutMs: 2 ** 31 })).toThrow(
      expect.objectContaining({ code: "ERR_OUT_OF_RANGE" }),
    );
    const s = await socket();
    expect(() => new UDPMux(s, { transactionTimeoutMs: 2 ** 31 })).toThrow(
      expect.objectContaining({ code: "ERR_OUT_OF_RANGE" }),
    );
  });
});

it("a TCP connection under firstFrameTimeoutMs: 2 ** 31 - 1 stays open (no TimeoutOverflowWarning)", async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on("warning", onWarning);
  try {
    const m = track(await TCPMux.listen({ address: "127.0.0.1", firstFrameTimeoutMs: 2 ** 31 - 1 }));
    const client = connect({ port: m.getListenAddresses()[0]!.port, host: "127.0.0.1" });
    track({ close: () => client.destroy() });
    await once(client, "connect");
    await until(() => m.stats().pendingConnections === 1);
    await new Promise((resolve) => setTimeout(resolve, 50)); // a 2³¹ delay would have fired after 1 ms
    expect(m.stats()).toMatchObject({ pendingConnections: 1, rejected: 0 });
    expect(client.destroyed).toBe(false);
    expect(warnings.filter((w) => w.name === "TimeoutOverflowWarning")).toEqual([]);
  } finally {
    process.off("warning", onWarning);
  }
});

describe("getXorMappedAddress({ timeoutMs })", () => {
  it.each([
    [2 ** 31, "ERR_OUT_OF_RANGE"],
    [0, "ERR_OUT_OF_RANGE"],
    ["5000", "ERR_INVALID_ARG_TYPE"],
  ])("%s: %s", async (timeoutMs, code) => {
    const m = await mux();
    const server = await socket();
    await expect(
      m.getXorMappedAddress(
        { address: "127.0.0.1", port: server.address().port },
        { timeoutMs: timeoutMs as number },
      ),
    ).rejects.toMatchObject({ code });
    expect(m.stats().transactions).toBe(0); // refused before anything was sent
  });
});

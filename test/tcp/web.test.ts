/**
 * TCPMux sharing its port with a web server (`web`), over real loopback connections: HTTP, HTTPS (a
 * certificate made at test time) and an Upgrade reach the web server with every byte, however the client
 * cuts its first bytes; ICE-TCP still routes; a connection that says nothing is closed at the first-frame
 * deadline and counted; the pending bounds hold until a connection is classified, and not after.
 */
import { once } from "node:events";
import http from "node:http";
import https from "node:https";
import { connect, createServer, type Server, type Socket } from "node:net";
import { Duplex } from "node:stream";
import tls from "node:tls";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type MuxedConnection, type Packet, TCPMux } from "../../src/index.js";
import { frame } from "../../src/tcp/framing.js";
import { bindingRequest, until } from "../helpers.js";
import { selfSignedCertificate, type TestCertificate } from "./certificate.js";

const clients: Socket[] = [];
const muxes: TCPMux[] = [];
const webs: (http.Server | https.Server)[] = [];
/** Sockets an `'upgrade'` handler took over: the web server no longer tracks them. */
const upgraded: Socket[] = [];
let certificate: TestCertificate;

const tcpHandles = () =>
  process.getActiveResourcesInfo().filter((r) => r === "TCPServerWrap" || r === "TCPSocketWrap").length;
let baseline = 0;

beforeAll(() => {
  certificate = selfSignedCertificate();
});

beforeEach(() => {
  baseline = tcpHandles();
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of upgraded.splice(0)) s.destroy();
  await Promise.all(muxes.splice(0).map((m) => m.close()));
  for (const web of webs.splice(0)) {
    web.closeAllConnections(); // the mux never closes the web server's connections
    web.close();
  }
  await until(() => tcpHandles() <= baseline, 2000);
  expect(tcpHandles()).toBe(baseline);
});

interface Seen {
  method: string | undefined;
  url: string | undefined;
  host: string | undefined;
  body: string;
  remote: string | undefined;
}

/** Answers every request with what it saw, as JSON. */
function echoRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const seen: Seen = {
      method: req.method,
      url: req.url,
      host: req.headers.host,
      body: Buffer.concat(chunks).toString("latin1"),
      remote: req.socket.remoteAddress,
    };
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(seen));
  });
}

function track<T extends http.Server | https.Server>(web: T): T {
  webs.push(web);
  web.on("upgrade", (_req, socket: Socket, head: Buffer) => {
    upgraded.push(socket);
    socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n");
    socket.write(head); // what came after the request's headers, in the same read
    socket.on("data", (data) => socket.write(data));
  });
  return web;
}

async function shared(
  web: http.Server | https.Server,
  options: Parameters<typeof TCPMux.listen>[0] = {},
): Promise<{ mux: TCPMux; port: number }> {
  const mux = await TCPMux.listen({ address: "127.0.0.1", web: track(web), ...options });
  muxes.push(mux);
  return { mux, port: mux.getListenAddresses()[0]!.port };
}

async function dial(port: number): Promise<Socket> {
  const socket = connect({ port, host: "127.0.0.1", noDelay: true });
  clients.push(socket);
  socket.on("error", () => {}); // a reset by the mux is what some tests expect; they assert on 'close'
  await once(socket, "connect");
  return socket;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes `data` cut at `cuts` (each its own TCP segment: no Nagle, a pause between writes). */
async function writeCut(socket: Socket | Duplex, data: Buffer, cuts: number[]): Promise<void> {
  let offset = 0;
  for (const cut of cuts) {
    if (offset >= data.length) break;
    socket.write(data.subarray(offset, offset + cut));
    offset += cut;
    await delay(2);
  }
  if (offset < data.length) socket.write(data.subarray(offset));
}

/** Everything the peer sends until it closes. */
async function readAll(socket: Socket | Duplex): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  await once(socket, "close");
  return Buffer.concat(chunks).toString("utf8");
}

/** The body of a `Connection: close` HTTP/1.1 response. */
const bodyOf = (response: string) => response.slice(response.indexOf("\r\n\r\n") + 4);

const ONE_BYTE_AT_A_TIME = Array(200).fill(1);
const CUTS: [string, number[]][] = [
  ["in one write", []],
  ["cut after 1, 2 and 7 bytes", [1, 2, 7]],
  ["one byte per write", ONE_BYTE_AT_A_TIME],
];

describe("a web server on the mux's port", () => {
  it.each(CUTS)("gets an HTTP request written %s, every byte", async (_, cuts) => {
    const { mux, port } = await shared(http.createServer(echoRequest));
    const socket = await dial(port);
    const response = readAll(socket);
    const request = Buffer.from(
      "POST /path?q=1 HTTP/1.1\r\nHost: example.test\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello\x00\xff web",
      "latin1",
    );
    await writeCut(socket, request, cuts);
    const seen = JSON.parse(bodyOf(await response)) as Seen;
    expect(seen).toEqual({
      method: "POST",
      url: "/path?q=1",
      host: "example.test",
      body: "hello\x00\xff web",
      remote: "127.0.0.1",
    });
    expect(mux.stats()).toMatchObject({ webConnections: 1, pendingConnections: 0, rejected: 0, accepted: 1 });
  });

  it("lets a web server with allowHalfOpen answer after the client's FIN, as its own listen would", async () => {
    // A plain net.Server: reads the whole request (to the client's FIN), then answers on the open half.
    const web = createServer({ allowHalfOpen: true }, (socket) => {
      const chunks: Buffer[] = [];
      socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      socket.on("end", () => setTimeout(() => socket.end(`got ${Buffer.concat(chunks).length} bytes`), 20));
    });
    const mux = await TCPMux.listen({ address: "127.0.0.1", web });
    muxes.push(mux);
    const socket = await dial(mux.getListenAddresses()[0]!.port);
    const response = readAll(socket);
    socket.end("HELLO half-closed"); // then FIN
    expect(await response).toBe("got 17 bytes");
    expect(mux.stats()).toMatchObject({ webConnections: 1 });
  });

  it("gets HTTPS requests (TLS), the certificate verified", async () => {
    const web = https.createServer({ key: certificate.key, cert: certificate.cert }, echoRequest);
    const { mux, port } = await shared(web);
    const get = (path: string) =>
      new Promise<Seen>((resolve, reject) => {
        https
          .get({ host: "127.0.0.1", port, path, ca: certificate.cert, agent: false }, (res) => {
            let body = "";
            res.setEncoding("latin1");
            res.on("data", (chunk: string) => {
              body += chunk;
            });
            res.on("end", () => resolve(JSON.parse(body) as Seen));
          })
          .on("error", reject);
      });
    expect(await get("/one")).toMatchObject({ method: "GET", url: "/one", remote: "127.0.0.1" });
    expect(await get("/two")).toMatchObject({ method: "GET", url: "/two", remote: "127.0.0.1" });
    expect(mux.stats()).toMatchObject({ webConnections: 2, pendingConnections: 0, rejected: 0 });
  });

  it("gets a TLS ClientHello written one byte per write", async () => {
    const web = https.createServer({ key: certificate.key, cert: certificate.cert }, echoRequest);
    const { mux, port } = await shared(web);
    const raw = await dial(port);
    const secure = tls.connect({ socket: dripping(raw, 24), ca: certificate.cert, servername: "localhost" });
    await once(secure, "secureConnect");
    let response = "";
    secure.on("data", (chunk: Buffer) => {
      response += chunk.toString("utf8");
    });
    secure.write("GET /dripped HTTP/1.1\r\nHost: localhost\r\n\r\n");
    await until(() => response.endsWith("}"));
    expect(JSON.parse(bodyOf(response))).toMatchObject({ method: "GET", url: "/dripped" });
    secure.destroy();
    expect(mux.stats()).toMatchObject({ webConnections: 1, rejected: 0 });
  });

  it.each(CUTS)("gets an Upgrade written %s, and the bytes after it", async (_, cuts) => {
    const { mux, port } = await shared(http.createServer(echoRequest));
    const socket = await dial(port);
    let received = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      received += chunk;
    });
    const request = "GET /socket HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly";
    await writeCut(socket, Buffer.from(request), cuts);
    await until(() => received.endsWith("early"), 2000);
    expect(received).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n[\s\S]*\r\n\r\nearly$/);
    socket.write("and more");
    await until(() => received.endsWith("earlyand more"), 2000);
    expect(mux.stats()).toMatchObject({ webConnections: 1, rejected: 0 });
  });

  it("closes and counts a connection that sends nothing by the first-frame deadline", async () => {
    const web = http.createServer(echoRequest);
    let connections = 0;
    web.on("connection", () => connections++);
    const { mux, port } = await shared(web, { firstFrameTimeoutMs: 200 });
    const silent = await dial(port);
    const undecided = await dial(port);
    undecided.write(frame(bindingRequest("a:b"))!.subarray(0, 7)); // could still be ICE-TCP: undecided
    const started = performance.now();
    await Promise.all([once(silent, "close"), once(undecided, "close")]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    expect(mux.stats()).toMatchObject({
      webConnections: 0,
      pendingConnections: 0,
      rejected: 2,
      rejectedByReason: { "first-frame-timeout": 2 },
    });
    expect(connections).toBe(0);
  });

  it("routes ICE-TCP as before: a check cut into 1-byte writes, then frames", async () => {
    const { mux, port } = await shared(http.createServer(echoRequest));
    const conn = mux.getConn("ufragA");
    const socket = await dial(port);
    const check = frame(bindingRequest("ufragA:peer"))!;
    await writeCut(socket, Buffer.concat([check, frame(Buffer.from("GET / HTTP/1.1"))!]), ONE_BYTE_AT_A_TIME);
    const next = (c: MuxedConnection): Promise<Packet> => c.readFrom({ signal: AbortSignal.timeout(2000) });
    expect((await next(conn)).data).toEqual(check.subarray(2));
    expect((await next(conn)).data.toString()).toBe("GET / HTTP/1.1");
    expect(mux.stats()).toMatchObject({ webConnections: 0, tcpConnections: 1, pendingConnections: 0 });
  });

  it("still closes a first frame that looks like STUN for 10 bytes and isn't a check", async () => {
    const { mux, port } = await shared(http.createServer(echoRequest));
    const socket = await dial(port);
    const notACheck = Buffer.from(bindingRequest("a:b"));
    notACheck[1] = 0x11; // a message type that is no Binding Request; the header is STUN's
    socket.write(frame(notACheck)!);
    await once(socket, "close");
    expect(mux.stats()).toMatchObject({ webConnections: 0, rejectedByReason: { "not-a-check": 1 } });
  });

  it("holds the pending bounds until a connection is classified, and not after", async () => {
    const { mux, port } = await shared(http.createServer(echoRequest), { maxPendingPerAddress: 2 });
    const first = await dial(port);
    await dial(port);
    await until(() => mux.stats().pendingConnections === 2);
    const refused = await dial(port);
    await once(refused, "close");
    expect(mux.stats().rejectedByReason).toEqual({ "pending-limit-per-address": 1 });
    // Handed to the web server, the first no longer counts: room for another, and the web connection
    // (kept alive) stays open.
    const response = readAll(first);
    first.write("GET /kept HTTP/1.1\r\nHost: x\r\n\r\n");
    await until(() => mux.stats().webConnections === 1);
    expect(mux.stats().pendingConnections).toBe(1);
    await dial(port);
    await until(() => mux.stats().pendingConnections === 2);
    expect(mux.stats()).toMatchObject({ rejected: 1, webConnections: 1 });
    expect(first.destroyed).toBe(false);
    first.end();
    expect(await response).toContain('"url":"/kept"');
  });

  it("evicts the oldest unclassified connection when all pending room is taken", async () => {
    const { mux, port } = await shared(http.createServer(echoRequest), { maxPendingConnections: 1 });
    const oldest = await dial(port);
    await until(() => mux.stats().pendingConnections === 1);
    await dial(port);
    await once(oldest, "close");
    expect(mux.stats().rejectedByReason).toEqual({ "pending-evicted": 1 });
  });

  it("leaves the web connections open when the mux closes", async () => {
    const { mux, port } = await shared(http.createServer(echoRequest));
    const socket = await dial(port);
    let received = "";
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
    });
    socket.write("GET /before HTTP/1.1\r\nHost: x\r\n\r\n");
    await until(() => received.includes("/before"));
    await mux.close(); // at once: it doesn't wait for the web server's kept-alive connections
    const late = connect({ port, host: "127.0.0.1" });
    const [error] = (await once(late, "error")) as [NodeJS.ErrnoException];
    expect(error.code).toBe("ECONNREFUSED"); // the port is closed
    socket.write("GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    await until(() => received.includes("/after"));
  });

  it("starts the web server's own timeouts: a request that stalls in its headers gets 408", async () => {
    const web = http.createServer(
      { headersTimeout: 200, requestTimeout: 400, connectionsCheckingInterval: 50 },
      echoRequest,
    );
    let listening = 0;
    web.on("listening", () => listening++);
    await shared(web);
    const { port } = await shared(web); // a second mux on the same web server: 'listening' once
    expect(listening).toBe(1);
    const socket = await dial(port);
    const response = readAll(socket);
    socket.write("GET /slow HTTP/1.1\r\nHost: x\r\n");
    expect(await response).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("makes one listening socket for both (TCPMux.listen({ web }))", async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === "TCPServerWrap").length;
    await shared(http.createServer(echoRequest));
    expect(process.getActiveResourcesInfo().filter((r) => r === "TCPServerWrap").length).toBe(before + 1);
  });
});

describe("the web option", () => {
  it.each([
    ["not a server", { listen() {} }, "ERR_INVALID_ARG_TYPE"],
    ["null", null, "ERR_INVALID_ARG_TYPE"],
  ])("refuses %s", async (_, web, code) => {
    await expect(TCPMux.listen({ web: web as unknown as Server })).rejects.toMatchObject({ code });
  });

  it("refuses a web server that listens itself", async () => {
    const web = track(http.createServer());
    web.listen(0, "127.0.0.1");
    await once(web, "listening");
    await expect(TCPMux.listen({ web })).rejects.toMatchObject({ code: "ERR_INVALID_ARG_VALUE" });
  });

  it("refuses the mux's own server as its web server", async () => {
    const server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      expect(() => new TCPMux(server, { web: server })).toThrow(
        expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }),
      );
    } finally {
      server.close();
    }
  });
});

/**
 * A stream over `raw` that writes its first `count` bytes one per write (each its own segment), then the
 * rest as it comes: a TLS client on it sends its ClientHello dripping.
 */
function dripping(raw: Socket, count: number): Duplex {
  let dripped = 0;
  const stream = new Duplex({
    read() {
      raw.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      void (async () => {
        let offset = 0;
        while (dripped < count && offset < chunk.length) {
          raw.write(chunk.subarray(offset, offset + 1));
          offset++;
          dripped++;
          await delay(2);
        }
        if (offset < chunk.length) raw.write(chunk.subarray(offset));
        callback();
      })();
    },
    final(callback) {
      raw.end(callback);
    },
    destroy(error, callback) {
      raw.destroy();
      callback(error);
    },
  });
  raw.on("data", (chunk: Buffer) => {
    if (!stream.push(chunk)) raw.pause();
  });
  raw.on("end", () => stream.push(null));
  return stream;
}

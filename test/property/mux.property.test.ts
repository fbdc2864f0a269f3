/**
 * Model-based property test of the mux: random sequences of inbound datagrams from a few real loopback
 * sockets, getConn, listen (push mode), readFrom (pull mode), accept, writeTo (data and STUN queries),
 * STUN responses, removeConnByUfrag and close, checked after every step against a small model of the
 * routing rules (RFC 8445 checks by ufrag, first association wins, per-ufrag cap, transaction-ID routing).
 *
 * After every step: the mux's counters and map sizes equal the model's; every datagram reached exactly the
 * conn the model says (or was dropped); so every associated address maps to a live conn, the per-ufrag cap
 * holds, no address or transaction survives its conn, and `received = delivered + dropped + queued`.
 * After close: every map is empty and `received = delivered + dropped`.
 */
import dgram from "node:dgram";
import { once } from "node:events";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type MuxedConnection, UDPMux } from "../../src/index.js";
import { bindingRequest, bindingSuccess, MUX_RECV_BUFFER, until } from "../helpers.js";

const UFRAGS = ["ufragA", "ufragB", "ufragC", "ufragD", "ufragE"] as const;
const SOCKETS = 4;
const LIMITS = {
  maxAddressesPerUfrag: 2,
  acceptQueueSize: 2,
  maxQueuedPackets: 2,
  maxConnections: 4, // under UFRAGS, so first contacts hit the cap; over acceptQueueSize, so the accept queue fills first
  maxTransactionsPerConn: 2,
  acceptTimeoutMs: 3_600_000, // expiry is bounds.test.ts's business; here nothing may expire mid-run
};

const ufrag = fc.constantFrom(...UFRAGS);
const sock = fc.integer({ min: 0, max: SOCKETS - 1 });
const op = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant("check" as const), s: sock, u: ufrag }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant("data" as const), s: sock }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("getConn" as const), u: ufrag }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("listen" as const), u: ufrag }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("read" as const), u: ufrag }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("accept" as const) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("write" as const), u: ufrag, s: sock }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("query" as const), u: ufrag, s: sock }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("respond" as const), t: fc.nat(), s: sock }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("remove" as const), u: ufrag }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("close" as const) }) },
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

/** The model of one conn incarnation. */
interface ModelConn {
  listening: boolean;
  queue: string[];
  /** Ids the model says its 'message' listener got. */
  got: string[];
  /** Ids the real listener got. */
  actual: string[];
  addresses: Set<number>;
  transactions: ModelTransaction[];
  handle: MuxedConnection | undefined;
}

interface ModelTransaction {
  request: Buffer;
  owner: ModelConn;
  sock: number;
  live: boolean;
}

/** A datagram's identity: the transaction ID of STUN, the sequence number of data. */
function idOf(buf: Buffer): string {
  return buf[0]! < 4 ? `stun:${buf.subarray(8, 20).toString("hex")}` : `data:${buf.readUInt32BE(1)}`;
}

async function bindLoopback(): Promise<dgram.Socket> {
  const s = dgram.createSocket({ type: "udp4", recvBufferSize: MUX_RECV_BUFFER });
  s.bind(0, "127.0.0.1");
  await once(s, "listening");
  return s;
}

/** Drop reasons seen over all runs. */
const seenDrops: Record<string, true> = {};

async function runOps(ops: Op[]): Promise<void> {
  const muxSocket = await bindLoopback();
  const peers = await Promise.all(Array.from({ length: SOCKETS }, bindLoopback));
  const mux = new UDPMux(muxSocket, LIMITS);
  mux.start();
  const muxPort = muxSocket.address().port;
  const peerPort = (i: number) => peers[i]!.address().port;

  const conns = new Map<string, ModelConn>();
  const owner = new Map<number, ModelConn>(); // socket index → conn
  const acceptQueue: string[] = [];
  const transactions: ModelTransaction[] = [];
  let received = 0;
  let delivered = 0;
  let dropped = 0;
  let seq = 0;

  const inbound = async (from: number, data: Buffer) => {
    const routed = once(muxSocket, "message"); // registered after the mux's listener: runs after routing
    peers[from]!.send(data, muxPort, "127.0.0.1");
    await routed;
    received++;
  };
  const deliver = (c: ModelConn, id: string) => {
    if (c.listening) {
      c.got.push(id);
      delivered++;
    } else if (c.queue.length < LIMITS.maxQueuedPackets) c.queue.push(id);
    else dropped++;
  };
  const associate = (c: ModelConn, s: number) => {
    if (!owner.has(s) && c.addresses.size < LIMITS.maxAddressesPerUfrag) {
      owner.set(s, c);
      c.addresses.add(s);
    }
  };
  const newConn = (): ModelConn => ({
    listening: false,
    queue: [],
    got: [],
    actual: [],
    addresses: new Set(),
    transactions: [],
    handle: undefined,
  });
  /** The model conn for `u`; `undefined` when creating it would exceed maxConnections (getConn throws). */
  const getConn = (u: string): ModelConn | undefined => {
    let c = conns.get(u);
    if (c === undefined) {
      if (conns.size >= LIMITS.maxConnections) {
        expect(() => mux.getConn(u)).toThrow(expect.objectContaining({ code: "ERR_CONNECTION_LIMIT" }));
        return undefined;
      }
      c = newConn();
      conns.set(u, c);
    }
    c.handle = mux.getConn(u);
    // A claimed conn's candidate leaves the accept queue: accept() never yields a conn someone holds.
    const waiting = acceptQueue.indexOf(u);
    if (waiting !== -1) acceptQueue.splice(waiting, 1);
    return c;
  };
  const check = () => {
    const stats = mux.stats();
    expect({
      connections: stats.connections,
      addresses: stats.addresses,
      acceptQueue: stats.acceptQueue,
      transactions: stats.transactions,
      received: stats.received,
      delivered: stats.delivered,
      dropped: stats.dropped,
    }).toEqual({
      connections: conns.size,
      addresses: owner.size,
      acceptQueue: acceptQueue.length,
      transactions: transactions.filter((t) => t.live).length,
      received,
      delivered,
      dropped,
    });
    for (const c of conns.values()) {
      expect(c.addresses.size).toBeLessThanOrEqual(LIMITS.maxAddressesPerUfrag);
      expect(c.actual).toEqual(c.got);
    }
  };

  try {
    for (const o of ops) {
      if (o.k === "close") break;
      switch (o.k) {
        case "check": {
          const msg = bindingRequest(`${o.u}:peer${o.s}`);
          await inbound(o.s, msg);
          const c = conns.get(o.u);
          if (c !== undefined) {
            associate(c, o.s);
            deliver(c, idOf(msg));
          } else if (conns.size >= LIMITS.maxConnections || acceptQueue.length >= LIMITS.acceptQueueSize) {
            dropped++;
          } else {
            const created = newConn();
            conns.set(o.u, created);
            associate(created, o.s);
            deliver(created, idOf(msg));
            acceptQueue.push(o.u);
          }
          break;
        }
        case "data": {
          const msg = Buffer.alloc(5);
          msg[0] = 0x80; // RTP's first byte (RFC 7983): never STUN
          msg.writeUInt32BE(++seq, 1);
          await inbound(o.s, msg);
          const c = owner.get(o.s);
          if (c !== undefined) deliver(c, idOf(msg));
          else dropped++;
          break;
        }
        case "getConn":
          getConn(o.u);
          break;
        case "listen": {
          const c = getConn(o.u);
          if (c === undefined || c.listening) break;
          c.listening = true;
          c.handle!.on("message", (msg) => c.actual.push(idOf(msg)));
          delivered += c.queue.length;
          c.got.push(...c.queue.splice(0));
          await new Promise((resolve) => setImmediate(resolve)); // queued packets flush in a microtask
          break;
        }
        case "read": {
          const c = conns.get(o.u);
          if (c?.handle === undefined || c.listening || c.queue.length === 0) break;
          const packet = await c.handle.readFrom();
          expect(idOf(packet.data)).toBe(c.queue.shift());
          delivered++;
          break;
        }
        case "accept": {
          if (acceptQueue.length === 0) break;
          const candidate = await mux.accept();
          expect(candidate.localUfrag).toBe(acceptQueue.shift());
          break;
        }
        case "write": {
          const c = getConn(o.u);
          if (c === undefined) break;
          await c.handle!.writeTo(Buffer.from([0x80, 0]), { address: "127.0.0.1", port: peerPort(o.s) });
          associate(c, o.s);
          break;
        }
        case "query": {
          const c = getConn(o.u);
          if (c === undefined) break;
          const request = bindingRequest(); // no USERNAME: a STUN server query, associates nothing
          await c.handle!.writeTo(request, { address: "127.0.0.1", port: peerPort(o.s) });
          if (c.transactions.length >= LIMITS.maxTransactionsPerConn) c.transactions.shift()!.live = false;
          const tx: ModelTransaction = { request, owner: c, sock: o.s, live: true };
          c.transactions.push(tx);
          transactions.push(tx);
          break;
        }
        case "respond": {
          if (transactions.length === 0) break;
          const tx = transactions[o.t % transactions.length]!;
          const msg = bindingSuccess(tx.request, { address: "127.0.0.1", port: 9 });
          await inbound(o.s, msg);
          if (tx.live && tx.sock === o.s) {
            tx.live = false;
            tx.owner.transactions.splice(tx.owner.transactions.indexOf(tx), 1);
            deliver(tx.owner, idOf(msg));
          } else if (owner.has(o.s)) deliver(owner.get(o.s)!, idOf(msg));
          else dropped++;
          break;
        }
        case "remove": {
          mux.removeConnByUfrag(o.u);
          const c = conns.get(o.u);
          if (c === undefined) break;
          expect(c.handle?.closed ?? true).toBe(true);
          dropped += c.queue.length;
          for (const s of c.addresses) owner.delete(s);
          for (const tx of c.transactions) tx.live = false;
          conns.delete(o.u);
          const waiting = acceptQueue.indexOf(o.u);
          if (waiting !== -1) acceptQueue.splice(waiting, 1);
          break;
        }
      }
      check();
    }
    const handles = [...conns.values()].flatMap((c) => (c.handle === undefined ? [] : [c.handle]));
    await mux.close();
    expect(mux.stats()).toMatchObject({ connections: 0, addresses: 0, acceptQueue: 0, transactions: 0 });
    const stats = mux.stats();
    expect(stats.received).toBe(received);
    expect(stats.received).toBe(stats.delivered + stats.dropped);
    for (const h of handles) expect(h.closed).toBe(true);
    for (const reason of Object.keys(stats.droppedByReason)) seenDrops[reason] = true;
    await expect(mux.accept()).rejects.toMatchObject({ code: "ERR_MUX_CLOSED" });
  } finally {
    await mux.close();
    await Promise.all(peers.map((p) => new Promise<void>((resolve) => p.close(() => resolve()))));
  }
}

describe("UDPMux invariants (property)", () => {
  it("random sequences of datagrams and API calls keep the mux equal to its model", async () => {
    // Random runs, plus one hand-written run that reaches every kind of drop, so the coverage check below
    // can't fail on an unlucky seed.
    const everyDrop: Op[] = [
      { k: "check", s: 0, u: "ufragA" }, // first contact; s0 → A, the check waits in A's queue
      { k: "check", s: 1, u: "ufragB" }, // accept queue now full (2)
      { k: "check", s: 1, u: "ufragC" }, // accept-queue-full
      { k: "getConn", u: "ufragC" },
      { k: "getConn", u: "ufragD" }, // 4 conns: maxConnections
      { k: "check", s: 2, u: "ufragE" }, // cap-reached
      { k: "data", s: 0 }, // A's queue: 2 of 2
      { k: "data", s: 0 }, // queue-full
      { k: "data", s: 3 }, // not-stun
      { k: "query", u: "ufragC", s: 2 },
      { k: "respond", t: 0, s: 3 }, // the answer from the wrong address: unknown-address
      { k: "remove", u: "ufragA" }, // conn-closed: A still held 2 datagrams
    ];
    await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 60 }), runOps), {
      numRuns: 300,
      examples: [[everyDrop]],
    });
    // The runs reached every kind of drop the model covers, not only the easy paths.
    expect(Object.keys(seenDrops).sort()).toEqual([
      "accept-queue-full",
      "cap-reached",
      "conn-closed",
      "not-stun",
      "queue-full",
      "unknown-address",
    ]);
    // No handle or timer outlives its mux (closed handles leave on a later loop turn).
    await until(() => !process.getActiveResourcesInfo().some((r) => r === "UDPWrap" || r === "Timeout"));
  });
});

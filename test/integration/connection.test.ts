/** MuxedConnection: push and pull delivery, writeTo, abort, errors, sizes. */
import { afterEach, describe, expect, it } from "vitest";
import type { RemoteInfo } from "../../src/address.js";
import { bindingRequest, closeAll, mux, nextMessage, port, sendTo, socket } from "../helpers.js";

afterEach(closeAll);

async function associatedPair(ufrag: string) {
  const m = await mux();
  const conn = m.getConn(ufrag);
  const peer = await socket();
  await sendTo(m, peer, bindingRequest(`${ufrag}:peer`));
  return { m, conn, peer };
}

describe("push mode", () => {
  it("emits ('message', msg, rinfo) as dgram does, synchronously, with no queue", async () => {
    const { m, conn, peer } = await associatedPair("push1234");
    const seen: [Buffer, RemoteInfo][] = [];
    conn.on("message", (msg, rinfo) => seen.push([msg, rinfo]));
    await Promise.resolve(); // let the queued check flush
    expect(seen).toHaveLength(1);
    await sendTo(m, peer, Buffer.from("x1"));
    // sendTo returns once the mux counted the datagram: it was emitted in the same turn.
    expect(seen).toHaveLength(2);
    expect(seen[1]![0].toString()).toBe("x1");
    expect(seen[1]![1]).toEqual({ address: "127.0.0.1", family: "IPv4", port: port(peer), size: 2 });
  });

  it("flushes packets queued before the first listener, in order, before later packets", async () => {
    const { m, conn, peer } = await associatedPair("flush123");
    for (const d of ["a", "b", "c"]) await sendTo(m, peer, Buffer.from(d));
    const order: string[] = [];
    conn.on("message", (msg) => order.push(msg.length > 10 ? "check" : msg.toString()));
    expect(order).toEqual([]); // not synchronously inside on()
    await sendTo(m, peer, Buffer.from("d"));
    expect(order).toEqual(["check", "a", "b", "c", "d"]);
  });

  it("follows listeners as they come and go: several, one, a once-listener, none", async () => {
    const { m, conn, peer } = await associatedPair("listen12");
    const a: string[] = [];
    const b: string[] = [];
    const onA = (msg: Buffer) => a.push(msg.toString());
    conn.on("message", onA);
    await Promise.resolve(); // the queued check flushes to onA
    conn.on("message", (msg) => b.push(msg.toString()));
    await sendTo(m, peer, Buffer.from("both"));
    conn.off("message", onA);
    await sendTo(m, peer, Buffer.from("only b"));
    conn.removeAllListeners("message");
    const once: string[] = [];
    conn.once("message", (msg) => once.push(msg.toString()));
    await sendTo(m, peer, Buffer.from("once"));
    await sendTo(m, peer, Buffer.from("queued"));
    expect(a.slice(1)).toEqual(["both"]);
    expect(b).toEqual(["both", "only b"]);
    expect(once).toEqual(["once"]);
    expect((await conn.readFrom()).data.toString()).toBe("queued");
  });

  it("addListener, prependListener and removeListener are followed as on() and off() are", async () => {
    const { m, conn, peer } = await associatedPair("aliases1");
    await sendTo(m, peer, Buffer.from("early")); // queued: no listener yet
    const got: string[] = [];
    const first = (msg: Buffer) => got.push(`first:${msg.length > 10 ? "check" : msg}`);
    conn.prependListener("message", first); // flushes the queue, as on() would
    await Promise.resolve();
    expect(got).toEqual(["first:check", "first:early"]);
    const second = (msg: Buffer) => got.push(`second:${msg}`);
    conn.addListener("message", second);
    await sendTo(m, peer, Buffer.from("two"));
    conn.removeListener("message", first);
    await sendTo(m, peer, Buffer.from("one"));
    expect(got.slice(2)).toEqual(["first:two", "second:two", "second:one"]);
    conn.removeListener("message", second); // none left: pull mode again
    await sendTo(m, peer, Buffer.from("pulled"));
    expect((await conn.readFrom()).data.toString()).toBe("pulled");
  });

  it("a listener that throws does not stop routing to other conns", async () => {
    const { m, conn, peer } = await associatedPair("throws12");
    const other = m.getConn("calm1234");
    const peer2 = await socket();
    await sendTo(m, peer2, bindingRequest("calm1234:peer"));
    const errors: Error[] = [];
    conn.on("error", (err) => errors.push(err));
    conn.on("message", () => {
      throw new Error("user bug");
    });
    const calm: string[] = [];
    other.on("message", (msg) => calm.push(msg.toString()));
    await sendTo(m, peer, Buffer.from("boom"));
    await sendTo(m, peer2, Buffer.from("fine"));
    expect(calm).toContain("fine");
    expect(errors.map((e) => e.message)).toContain("user bug");
  });
});

describe("pull mode", () => {
  it("queues up to maxQueuedPackets, dropping the newest and counting it", async () => {
    const m = await mux({ maxQueuedPackets: 3 });
    const conn = m.getConn("pull1234");
    const peer = await socket();
    await sendTo(m, peer, bindingRequest("pull1234:peer"));
    for (const d of ["1", "2", "3", "4"]) await sendTo(m, peer, Buffer.from(d));
    expect(m.stats()).toMatchObject({ dropped: 2, droppedByReason: { "queue-full": 2 } });
    await conn.readFrom(); // the check
    expect((await conn.readFrom()).data.toString()).toBe("1");
    expect((await conn.readFrom()).data.toString()).toBe("2");
  });

  it("iterates until the conn closes", async () => {
    const { m, conn, peer } = await associatedPair("iter1234");
    await sendTo(m, peer, Buffer.from("one"));
    const got: string[] = [];
    const done = (async () => {
      for await (const p of conn) got.push(p.data.length > 10 ? "check" : p.data.toString());
    })();
    await sendTo(m, peer, Buffer.from("two"));
    conn.close();
    await done;
    expect(got).toEqual(["check", "one", "two"]);
  });

  it("breaking out of the iteration ends the pending read", async () => {
    const { m, conn, peer } = await associatedPair("break123");
    await conn.readFrom(); // the check: the queue is empty now
    const iterator = conn[Symbol.asyncIterator]();
    const pending = iterator.next(); // a read waiting for a datagram
    await iterator.return?.(); // what `break` does
    await expect(pending).resolves.toEqual({ value: undefined, done: true });
    // No dead reader swallows the next datagram: it waits in the queue for the next read.
    await sendTo(m, peer, Buffer.from("after break"));
    expect((await conn.readFrom()).data.toString()).toBe("after break");
  });

  it("an AbortSignal rejects a pending read with its reason and leaves no reader behind", async () => {
    const { m, conn, peer } = await associatedPair("abort123");
    await conn.readFrom();
    const controller = new AbortController();
    const read = conn.readFrom({ signal: controller.signal });
    controller.abort(new Error("stop"));
    await expect(read).rejects.toThrow("stop");
    await sendTo(m, peer, Buffer.from("kept"));
    expect((await conn.readFrom()).data.toString()).toBe("kept");
    await expect(conn.readFrom({ signal: AbortSignal.abort("already") })).rejects.toBe("already");
  });
});

describe("sizes", () => {
  it.each([1200, 8192, 65507])("delivers a %i-byte datagram whole", async (size) => {
    const { m, conn, peer } = await associatedPair(`size${size}`);
    await conn.readFrom();
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = (i * 7) & 0xff;
    data[0] = 0x80; // RTP-like, never STUN
    await sendTo(m, peer, data);
    expect((await conn.readFrom()).data.equals(data)).toBe(true);
  });
});

describe("writeTo", () => {
  it("sends from the mux's socket and resolves with the bytes sent", async () => {
    const m = await mux();
    const conn = m.getConn("write123");
    const peer = await socket();
    const got = nextMessage(peer);
    await expect(
      conn.writeTo(Buffer.from("hello"), { address: "127.0.0.1", port: port(peer) }),
    ).resolves.toBe(5);
    const { msg, rinfo } = await got;
    expect(msg.toString()).toBe("hello");
    expect(rinfo.port).toBe(m.getListenAddresses()[0]!.port);
    expect(conn.localAddress()).toEqual(m.getListenAddresses()[0]);
  });

  it("rejects only that write when the send fails (EMSGSIZE)", async () => {
    const { m, conn, peer } = await associatedPair("emsgsize");
    await expect(
      conn.writeTo(Buffer.alloc(70_000), { address: "127.0.0.1", port: port(peer) }),
    ).rejects.toMatchObject({ code: "EMSGSIZE" });
    await expect(conn.writeTo(Buffer.from("ok"), { address: "127.0.0.1", port: port(peer) })).resolves.toBe(
      2,
    );
    expect(m.closed).toBe(false);
  });
});

describe("bad arguments", () => {
  it.each([
    ["a number as data", 42, { address: "127.0.0.1", port: 1 }, "ERR_INVALID_ARG_TYPE"],
    ["a string as data", "x", { address: "127.0.0.1", port: 1 }, "ERR_INVALID_ARG_TYPE"],
    ["no destination", Buffer.from("x"), undefined, "ERR_INVALID_ARG_TYPE"],
    ["a host name", Buffer.from("x"), { address: "localhost", port: 1 }, "ERR_INVALID_ARG_VALUE"],
    ["port 0", Buffer.from("x"), { address: "127.0.0.1", port: 0 }, "ERR_INVALID_ARG_VALUE"],
    ["port 65536", Buffer.from("x"), { address: "127.0.0.1", port: 65536 }, "ERR_INVALID_ARG_VALUE"],
    ["a string port", Buffer.from("x"), { address: "127.0.0.1", port: "1" }, "ERR_INVALID_ARG_TYPE"],
  ])("writeTo with %s rejects with %s", async (_, data, to, code) => {
    const m = await mux();
    const conn = m.getConn("badargs1");
    // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong types
    const result = conn.writeTo(data as any, to as any);
    await expect(result).rejects.toBeInstanceOf(TypeError);
    await expect(result).rejects.toMatchObject({ code });
  });

  it("names the argument and the value in the message", async () => {
    const m = await mux();
    expect(() => m.getConn("ab")).toThrow(
      'Expected `localUfrag` to be an ICE ufrag (4 to 256 of [A-Za-z0-9+/]), got "ab"',
    );
    // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong types
    expect(() => m.getConn(5 as any)).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG_TYPE" }));
    expect(() => m.getConn("abcd", { address: "nope" })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }),
    );
    // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong types
    await expect(m.accept({ signal: "x" as any })).rejects.toMatchObject({ code: "ERR_INVALID_ARG_TYPE" });
    // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong types
    await expect(m.getConn("abcd").readFrom(7 as any)).rejects.toMatchObject({
      code: "ERR_INVALID_ARG_TYPE",
    });
    await expect(mux({ maxQueuedPackets: 0 })).rejects.toMatchObject({ code: "ERR_INVALID_ARG_VALUE" });
    // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong types
    await expect(mux({ acceptQueueSize: "32" as any })).rejects.toMatchObject({
      code: "ERR_INVALID_ARG_TYPE",
    });
  });
});

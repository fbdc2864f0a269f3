/**
 * The internal ingress (`src/udp/ingress.ts`): datagrams that did not come from the mux's socket (what a
 * relay or a TLS stream would feed in) are routed as the socket's are, and what a conn writes to an address
 * learned through an ingress goes back through that ingress's writer, not the socket.
 */
import type dgram from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import type { UDPMux } from "../../src/index.js";
import { kIngress } from "../../src/udp/ingress.js";
import { bindingRequest, bindingSuccess, closeAll, mux, nextMessage, port, socket } from "../helpers.js";

afterEach(closeAll);

interface Written {
  data: Buffer;
  address: string;
  port: number;
}

/** An ingress on `m` whose writer records what it is given. */
function ingress(m: UDPMux) {
  const written: Written[] = [];
  const path = m[kIngress](async (data, address, port) => {
    written.push({ data: Buffer.from(data), address, port });
    return data.length;
  });
  return { path, written };
}

/**
 * Everything `peer` received from the mux's socket up to a marker the mux's socket sends it last (a STUN
 * server query, which goes straight out of the socket): loopback keeps order, so what came before the
 * marker is all the socket sent it.
 */
async function socketTraffic(m: UDPMux, peer: dgram.Socket): Promise<Buffer[]> {
  const seen: Buffer[] = [];
  const onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    if (msg.readUInt16BE(0) === 0x0001 && msg.length === 20) {
      peer.send(bindingSuccess(msg, rinfo), rinfo.port, rinfo.address); // the marker: answer it
    } else seen.push(msg);
  };
  peer.on("message", onMessage);
  try {
    await m.getXorMappedAddress({ address: "127.0.0.1", port: port(peer) }, { timeoutMs: 2000 });
  } finally {
    peer.off("message", onMessage);
  }
  return seen;
}

describe("ingress", () => {
  it("routes a check fed through it to a new conn, and the conn's replies go back through it, not the socket", async () => {
    const m = await mux();
    const peer = await socket();
    const from = { address: "127.0.0.1", port: port(peer) };
    const { path, written } = ingress(m);

    path.receive(bindingRequest("ingressL:remote12"), from);
    const candidate = await m.accept();
    expect(candidate).toMatchObject({ localUfrag: "ingressL", remoteUfrag: "remote12", ...from });
    const conn = m.getConn("ingressL");
    const check = await conn.readFrom();
    expect(check).toMatchObject(from);
    expect(m.stats()).toMatchObject({ received: 1, addresses: 1 });

    const reply = Buffer.from("a reply written with writeTo");
    await expect(conn.writeTo(reply, from)).resolves.toBe(reply.length);
    const sent = Buffer.from("a reply written with sendTo");
    const done = new Promise<Error | null>((resolve) => conn.sendTo(sent, from.address, from.port, resolve));
    await expect(done).resolves.toBeNull();

    expect(written).toEqual([
      { data: reply, ...from },
      { data: sent, ...from },
    ]);
    expect(await socketTraffic(m, peer)).toEqual([]);
  });

  it("routes data from an address it associated to the conn", async () => {
    const m = await mux();
    const from = { address: "192.0.2.7", port: 4000 };
    const { path } = ingress(m);
    const conn = m.getConn("dataConn");
    path.receive(bindingRequest("dataConn:remote12"), from);
    await conn.readFrom();
    path.receive(Buffer.from("dtls, say"), from);
    const packet = await conn.readFrom();
    expect(packet.data.toString()).toBe("dtls, say");
    expect(packet).toMatchObject({ ...from, family: "IPv4" });
    expect(m.stats()).toMatchObject({ received: 2, delivered: 2, dropped: 0 });
  });

  it("routes the response to a STUN request a conn sent through it, by transaction ID", async () => {
    const m = await mux();
    const from = { address: "192.0.2.8", port: 4001 };
    const { path, written } = ingress(m);
    const conn = m.getConn("askingCn");
    path.receive(bindingRequest("askingCn:remote12"), from);
    await conn.readFrom();
    const request = bindingRequest("remote12:askingCn");
    await conn.writeTo(request, from);
    expect(written.map((w) => w.data)).toEqual([request]);
    expect(m.stats().transactions).toBe(1);
    path.receive(bindingSuccess(request, from), from);
    const response = await conn.readFrom();
    expect(response.data.subarray(8, 20)).toEqual(request.subarray(8, 20));
    expect(m.stats().transactions).toBe(0);
  });

  it("closing it drops its associations (not the socket's), ignores what it is fed, and the conn's writes go out the socket", async () => {
    const m = await mux();
    const peer = await socket();
    const viaSocket = await socket();
    const from = { address: "127.0.0.1", port: port(peer) };
    const { path, written } = ingress(m);
    const conn = m.getConn("closingI");
    path.receive(bindingRequest("closingI:remote12"), from);
    await conn.readFrom();
    viaSocket.send(bindingRequest("closingI:remote34"), m.getListenAddresses()[0]!.port, "127.0.0.1");
    await conn.readFrom();
    expect(m.stats().addresses).toBe(2);

    path.close();
    path.close(); // idempotent
    expect(m.stats().addresses).toBe(1);
    const received = m.stats().received;
    path.receive(Buffer.from("late"), from);
    expect(m.stats().received).toBe(received);

    const arrived = nextMessage(peer);
    await conn.writeTo(Buffer.from("now by the socket"), from);
    expect((await arrived).msg.toString()).toBe("now by the socket");
    expect(written).toEqual([]);
    expect(m.stats().addresses).toBe(2); // the write associated the address again, through the socket
  });

  it("a writer that fails rejects that write, and the mux's close makes the ingress inert", async () => {
    const m = await mux();
    const from = { address: "192.0.2.9", port: 4002 };
    const failure = new Error("the relay is gone");
    const path = m[kIngress](() => {
      throw failure;
    });
    const conn = m.getConn("failingW");
    path.receive(bindingRequest("failingW:remote12"), from);
    await conn.readFrom();
    await expect(conn.writeTo(Buffer.from("x"), from)).rejects.toBe(failure);
    await m.close();
    path.receive(bindingRequest("failingW:remote12"), from);
    expect(m.stats()).toMatchObject({ received: 1, addresses: 0 });
  });

  it("rejects a writer that is not a function and a source that is not an IP address", async () => {
    const m = await mux();
    expect(() => m[kIngress]("nope" as never)).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_ARG_TYPE" }),
    );
    const { path } = ingress(m);
    expect(() => path.receive(Buffer.from("x"), { address: "example.com", port: 1 })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }),
    );
  });
});

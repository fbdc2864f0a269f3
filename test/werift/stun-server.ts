/**
 * A minimal STUN server on loopback for the srflx tests, written out byte by byte (RFC 5389): it answers
 * Binding Requests with the source address in XOR-MAPPED-ADDRESS, and can be told to stay silent or to
 * answer with an error.
 */
import dgram from "node:dgram";
import { once } from "node:events";
import { isIPv4 } from "node:net";

const MAGIC_COOKIE = 0x2112a442;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const BINDING_ERROR = 0x0111;
const XOR_MAPPED_ADDRESS = 0x0020;
const ERROR_CODE = 0x0009;

export type StunServerMode = "answer" | "silent" | "error";

export interface LoopbackStunServer {
  readonly address: string;
  readonly port: number;
  /** Binding Requests received, in order, with their source. */
  readonly requests: { address: string; port: number }[];
  mode: StunServerMode;
  /**
   * The address to report instead of the request's source (as a NAT would). Only written into the
   * response, never sent to.
   */
  mapped?: { address: string; port: number };
  /** Answer this many ms late (a slow server, or a long path). */
  delayMs?: number;
  close(): Promise<void>;
}

export async function startStunServer(address = "127.0.0.1"): Promise<LoopbackStunServer> {
  const socket = dgram.createSocket(isIPv4(address) ? "udp4" : "udp6");
  const requests: { address: string; port: number }[] = [];
  const late = new Set<NodeJS.Timeout>();
  const server: LoopbackStunServer = {
    address,
    port: 0,
    requests,
    mode: "answer",
    close: () => {
      for (const timer of late) clearTimeout(timer);
      return new Promise((resolve) => socket.close(() => resolve()));
    },
  };
  socket.on("message", (msg, rinfo) => {
    if (msg.length < 20 || msg.readUInt16BE(0) !== BINDING_REQUEST || msg.readUInt32BE(4) !== MAGIC_COOKIE)
      return;
    requests.push({ address: rinfo.address, port: rinfo.port });
    if (server.mode === "silent") return;
    const transactionId = msg.subarray(8, 20);
    const reported = server.mapped === undefined ? rinfo : { ...rinfo, ...server.mapped };
    const reply = server.mode === "error" ? errorResponse(transactionId) : success(transactionId, reported);
    if (server.delayMs === undefined) return socket.send(reply, rinfo.port, rinfo.address);
    const timer = setTimeout(() => {
      late.delete(timer);
      socket.send(reply, rinfo.port, rinfo.address);
    }, server.delayMs);
    late.add(timer);
  });
  socket.bind(0, address);
  await once(socket, "listening");
  (server as { port: number }).port = socket.address().port;
  return server;
}

function header(type: number, length: number, transactionId: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(length, 2); // attribute bytes after the header
  h.writeUInt32BE(MAGIC_COOKIE, 4);
  transactionId.copy(h, 8); // 96-bit transaction ID, echoed
  return h;
}

/** Binding success with XOR-MAPPED-ADDRESS = the request's source (RFC 5389 §15.2). */
function success(transactionId: Buffer, rinfo: dgram.RemoteInfo): Buffer {
  const v4 = rinfo.family === "IPv4";
  const value = Buffer.alloc(v4 ? 8 : 20);
  value.writeUInt8(0, 0); // reserved
  value.writeUInt8(v4 ? 0x01 : 0x02, 1); // family
  value.writeUInt16BE(rinfo.port ^ (MAGIC_COOKIE >>> 16), 2); // X-Port: port XOR the cookie's top 16 bits
  if (v4) {
    const ip = rinfo.address.split(".").map(Number);
    value.writeUInt32BE((((ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!) ^ MAGIC_COOKIE) >>> 0, 4);
  } else {
    // X-Address: the address XOR (cookie ‖ transaction ID)
    const key = Buffer.concat([Buffer.from([0x21, 0x12, 0xa4, 0x42]), transactionId]);
    const ip = ipv6Bytes(rinfo.address);
    for (let i = 0; i < 16; i++) value[4 + i] = ip[i]! ^ key[i]!;
  }
  const attr = Buffer.alloc(4);
  attr.writeUInt16BE(XOR_MAPPED_ADDRESS, 0);
  attr.writeUInt16BE(value.length, 2);
  return Buffer.concat([header(BINDING_SUCCESS, 4 + value.length, transactionId), attr, value]);
}

/** Binding error response with ERROR-CODE 400 "Bad Request" (RFC 5389 §15.6). */
function errorResponse(transactionId: Buffer): Buffer {
  const reason = Buffer.from("Bad Request"); // 11 bytes, padded to 12
  const value = Buffer.alloc(4 + 12);
  value.writeUInt8(4, 2); // class: 4xx
  value.writeUInt8(0, 3); // number: 00
  reason.copy(value, 4);
  const attr = Buffer.alloc(4);
  attr.writeUInt16BE(ERROR_CODE, 0);
  attr.writeUInt16BE(4 + reason.length, 2);
  return Buffer.concat([header(BINDING_ERROR, 4 + value.length, transactionId), attr, value]);
}

function ipv6Bytes(address: string): Buffer {
  const [head = "", tail = ""] = address.split("::");
  const h = head === "" ? [] : head.split(":");
  const t = tail === "" ? [] : tail.split(":");
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  const out = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  return out;
}

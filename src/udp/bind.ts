/** `UDPMux.bind()`'s half that touches no mux: validate, bind a socket, size its buffers. */
import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";
import { familyOf } from "../address.js";
import { invalidArgValue, invalidArgValueMessage } from "../errors.js";
import type { ResolvedOptions, UDPMuxOptions } from "../options.js";
import { resolveOptions } from "../options.js";
import { DEFAULT_RECV_BUFFER_SIZE, reportedSize, requestRecvBufferSize } from "../recv-buffer.js";
import { validateIpAddress, validateObject, validatePort, validatePositiveInteger } from "../validate.js";

/** Options of {@link UDPMux.bind}. */
export interface BindOptions extends UDPMuxOptions {
  /** @default 0 (any free port) */
  port?: number;
  /** @default "0.0.0.0" for udp4, "::" for udp6 */
  address?: string;
  /** @default "udp6" when `address` is IPv6, else "udp4" */
  type?: "udp4" | "udp6";
  /** For udp6: refuse IPv4 (no dual stack). @default false */
  ipv6Only?: boolean;
  /**
   * The socket's receive buffer (SO_RCVBUF), in bytes. One socket takes every peer's bursts, and what
   * doesn't fit is dropped by the kernel (`stats().kernelDrops`), so the mux asks for at least 4 MiB: the OS
   * default is kept only when it is larger. When the kernel grants less (Linux caps it at
   * `net.core.rmem_max`), a `UDPMuxWarning` with code `UDPMUX_RECV_BUFFER_SMALL` names the sysctl to raise.
   * @default 4194304 (4 MiB), or the OS default when that is larger
   */
  recvBufferSize?: number;
  /** The socket's send buffer (SO_SNDBUF), in bytes. @default the OS default */
  sendBufferSize?: number;
}

/** What `UDPMux.bind` takes besides the mux's options (the compiler keeps it complete). */
const BIND_ONLY = {
  port: true,
  address: true,
  type: true,
  ipv6Only: true,
  recvBufferSize: true,
  sendBufferSize: true,
} satisfies Record<Exclude<keyof BindOptions, keyof UDPMuxOptions>, true>;
const BIND_ONLY_NAMES: readonly string[] = Object.keys(BIND_ONLY);

/**
 * Validate `options` (the mux's too, before anything is bound), bind a socket as they say and size its
 * receive buffer. Returns the socket and the mux's resolved options; a bind error rejects, the socket closed.
 */
export async function bindSocket(
  options: BindOptions,
): Promise<{ socket: Socket; options: ResolvedOptions }> {
  validateObject<BindOptions>(options, "options");
  const resolved = resolveOptions(options, BIND_ONLY_NAMES); // validate the mux options before binding anything
  const { port = 0, address, ipv6Only = false, recvBufferSize, sendBufferSize } = options;
  if (recvBufferSize !== undefined) validatePositiveInteger(recvBufferSize, "recvBufferSize");
  if (sendBufferSize !== undefined) validatePositiveInteger(sendBufferSize, "sendBufferSize");
  validatePort(port, "port", { allowZero: true });
  if (address !== undefined) validateIpAddress(address, "address");
  // The literal's own family, not its canonical one: a udp6 socket binds "::ffff:127.0.0.1", a udp4 can't.
  const family = address === undefined ? undefined : familyOf(address);
  const type = options.type ?? (family === "IPv6" ? "udp6" : "udp4");
  if (type !== "udp4" && type !== "udp6") throw invalidArgValue("type", '"udp4" or "udp6"', type);
  if (address !== undefined && family !== (type === "udp6" ? "IPv6" : "IPv4")) {
    throw familyMismatch(address, type); // the kernel would say only `bind EINVAL`
  }
  const socket = createSocket({ type, ipv6Only, sendBufferSize });
  try {
    const listening = once(socket, "listening");
    socket.bind({ port, address: address ?? (type === "udp6" ? "::" : "0.0.0.0"), exclusive: true });
    await listening;
    if (recvBufferSize !== undefined) requestRecvBufferSize(socket, recvBufferSize);
    else if (socket.getRecvBufferSize() < reportedSize(DEFAULT_RECV_BUFFER_SIZE)) {
      requestRecvBufferSize(socket, DEFAULT_RECV_BUFFER_SIZE);
    }
  } catch (err) {
    socket.close();
    throw err;
  }
  return { socket, options: { ...resolved, closeSocket: true } };
}

/** `address` is of the other family than a `type` socket binds: what is wrong, and the two ways out. */
function familyMismatch(address: string, type: "udp4" | "udp6"): TypeError {
  const v6 = type === "udp6";
  const [is, binds, other] = v6 ? ["IPv4", "IPv6", "udp4"] : ["IPv6", "IPv4", "udp6"];
  const instead = v6
    ? 'bind `address: "::"` for a dual-stack socket (IPv6 and IPv4)'
    : 'bind `address: "0.0.0.0"` for IPv4 only';
  return invalidArgValueMessage(
    `\`address\` "${address}" is ${is} but \`type\` is "${type}", which binds ${binds} addresses only: ` +
      `leave \`type\` out (or pass "${other}") to bind "${address}", or ${instead}`,
  );
}

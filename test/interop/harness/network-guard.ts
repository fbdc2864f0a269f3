/**
 * Keeps an interop run honest about where its datagrams go.
 *
 * The interop clients (libwebrtc, Chromium) gather every interface address, so the suite refuses to run
 * unless the process sits in a network namespace that has only loopback (`unshare -n`). Inside the test
 * process, every `dgram` send and bind and every DNS lookup is recorded: a destination outside 127.0.0.0/8
 * and ::1, or any host name looked up (werift would resolve its default public STUN server, never contacted here, with
 * `dns.promises.lookup` before sending), is a violation the suites assert to be absent.
 */
import dgram from "node:dgram";
import dns from "node:dns";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import os from "node:os";

export interface NetworkGuard {
  /** Destinations outside loopback that a `dgram` socket of this process tried to send to, and host names looked up. */
  readonly violations: string[];
  /** Local addresses that `dgram` sockets of this process were bound to, in order. */
  readonly binds: string[];
  restore(): void;
}

export function isLoopback(address: string): boolean {
  if (isIP(address) === 4) return address.startsWith("127.");
  const bare = address.toLowerCase().replace(/%.*$/, "");
  if (bare === "::1") return true;
  return bare.startsWith("::ffff:127.");
}

/**
 * Throws unless every network interface is loopback. Set `UDPMUX_INTEROP_ALLOW_HOST_NETWORK=1` to run
 * anyway (the clients will then probe the machine's other addresses).
 */
export function assertLoopbackOnlyNamespace(): void {
  if (process.env.UDPMUX_INTEROP_ALLOW_HOST_NETWORK === "1") return;
  const outside = Object.entries(os.networkInterfaces()).flatMap(([name, infos]) =>
    (infos ?? []).filter((info) => !isLoopback(info.address)).map((info) => `${name} ${info.address}`),
  );
  if (outside.length > 0) {
    throw new Error(
      `The interop suites must run in a network namespace with only loopback, found ${outside.join(", ")}. ` +
        "Run: unshare -rn sh -c 'ip link set lo up && npm run test:interop' " +
        "(or set UDPMUX_INTEROP_ALLOW_HOST_NETWORK=1 to accept traffic on those interfaces).",
    );
  }
}

type SendFn = typeof dgram.Socket.prototype.send;
type BindFn = typeof dgram.Socket.prototype.bind;

/** Wraps `dgram.Socket.prototype.send` and `bind` for every socket of this process until `restore()`. */
export function installNetworkGuard(): NetworkGuard {
  const violations: string[] = [];
  const binds: string[] = [];
  const proto = dgram.Socket.prototype;
  const originalSend = proto.send;
  const originalBind = proto.bind;
  const originalLookup = dns.lookup;
  const originalPromisesLookup = dns.promises.lookup;

  // send(msg, [offset, length,] port, [address,] [callback]): the address is the first string argument.
  proto.send = function (this: dgram.Socket, ...args: unknown[]) {
    const address = args.find((arg) => typeof arg === "string");
    const destination = typeof address === "string" ? address : "(connected or default address)";
    if (typeof address !== "string" || !isLoopback(address)) violations.push(destination);
    return (originalSend as (...a: unknown[]) => void).apply(this, args);
  } as SendFn;

  proto.bind = function (this: dgram.Socket, ...args: unknown[]) {
    const [first, second] = args;
    const address =
      typeof first === "object" && first !== null
        ? (first as { address?: string }).address
        : typeof second === "string"
          ? second
          : undefined;
    binds.push(address ?? "(any)");
    return (originalBind as (...a: unknown[]) => dgram.Socket).apply(this, args);
  } as BindFn;

  dns.lookup = function (this: unknown, hostname: string, ...args: unknown[]) {
    // dgram looks up every destination, IP literals included; only a name is a lookup on the wire.
    if (isIP(hostname) === 0) violations.push(`dns.lookup ${hostname}`);
    return (originalLookup as (...a: unknown[]) => void).call(this, hostname, ...args);
  } as typeof dns.lookup;
  dns.promises.lookup = function (this: unknown, hostname: string, ...args: unknown[]) {
    if (isIP(hostname) === 0) violations.push(`dns.promises.lookup ${hostname}`);
    return (originalPromisesLookup as (...a: unknown[]) => Promise<unknown>).call(this, hostname, ...args);
  } as typeof dns.promises.lookup;

  return {
    violations,
    binds,
    restore() {
      proto.send = originalSend;
      proto.bind = originalBind;
      dns.lookup = originalLookup;
      dns.promises.lookup = originalPromisesLookup;
    },
  };
}

/** Live UDP handles of this process (every bound `dgram` socket holds one). */
export function countUdpHandles(): number {
  return process.getActiveResourcesInfo().filter((name) => name === "UDPWrap" || name === "UDPWRAP").length;
}

/**
 * Resolves once this process holds at most `count` UDP handles (sockets finish closing a tick or more after
 * `close()`), or rejects after `timeoutMs` with the number still open: a leak.
 */
export async function udpHandlesSettle(count: number, timeoutMs = 3_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (countUdpHandles() > count) {
    if (performance.now() > deadline) {
      throw new Error(
        `${countUdpHandles()} UDP handles still open ${timeoutMs} ms after closing, expected ${count}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Datagrams the kernel dropped because a socket's receive buffer was full (Linux, this network namespace):
 * `total` from /proc/net/snmp (RcvbufErrors: clients and server alike), `byPort` from the `drops` column of
 * /proc/net/udp and /proc/net/udp6 for the sockets bound to those local ports. The mux never sees these
 * datagrams, so its own `stats()` can't count them. Undefined where /proc isn't there.
 */
export function kernelUdpDrops(
  ports: number[] = [],
): { total: number; byPort: Record<number, number> } | undefined {
  try {
    const snmp = readFileSync("/proc/net/snmp", "utf8")
      .split("\n")
      .filter((line) => line.startsWith("Udp:"));
    const [names, values] = snmp.map((line) => line.trim().split(/\s+/));
    const total = Number(values?.[names?.indexOf("RcvbufErrors") ?? -1]);
    const byPort: Record<number, number> = {};
    for (const file of ["/proc/net/udp", "/proc/net/udp6"]) {
      for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
        const fields = line.trim().split(/\s+/);
        const port = Number.parseInt(fields[1]?.split(":").at(-1) ?? "", 16);
        if (ports.includes(port)) byPort[port] = (byPort[port] ?? 0) + Number(fields.at(-1));
      }
    }
    return { total, byPort };
  } catch {
    return undefined;
  }
}

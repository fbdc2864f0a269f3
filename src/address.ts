/**
 * Remote addresses as the mux keys them.
 *
 * IPv4 and IPv6 are kept apart; a v4-mapped IPv6 source (`::ffff:a.b.c.d`, seen on dual-stack sockets)
 * counts as the IPv4 address `a.b.c.d`, and an IPv6 zone id (`fe80::1%eth0`) is dropped, so one peer has
 * one key however the kernel spells its address. The maps are nested (`address → port → entry`), so no
 * key string is built per datagram. Limits per source key an IPv6 address by its /64 ({@link sourceKey}).
 */
import { isIP, SocketAddress } from "node:net";

export type Family = "IPv4" | "IPv6";

/** The address fields the mux reads from `dgram`'s `rinfo` and hands to connections. */
export interface RemoteInfo {
  address: string;
  family: Family;
  port: number;
  size: number;
}

const V4_MAPPED_PREFIX = "::ffff:";

/**
 * The canonical spelling of an IP address a caller gave: v4-mapped IPv6 becomes IPv4, the zone id is
 * stripped, IPv6 is written as RFC 5952 says (lower case, `::` for the longest zero run), so
 * `0:0:0:0:0:0:0:1` and `::1` are one key. Anything that is not an IP address comes back unchanged.
 */
export function canonicalAddress(address: string): string {
  const out = kernelCanonical(address);
  if (out.indexOf(":") === -1 || isIP(out) !== 6) return out;
  // SocketAddress writes RFC 5952 text; a v4-mapped address comes out dotted, and then reads as IPv4.
  return kernelCanonical(new SocketAddress({ address: out, family: "ipv6" }).address);
}

/**
 * The light part of {@link canonicalAddress}, for addresses the kernel wrote (already RFC 5952): only the
 * zone id and the v4-mapped form change. Returns the input itself when nothing does (no allocation).
 */
function kernelCanonical(address: string): string {
  if (address.indexOf(":") === -1) return address; // IPv4: nothing to do
  let out = address;
  const zone = out.indexOf("%");
  if (zone !== -1) out = out.slice(0, zone);
  if (out.length > V4_MAPPED_PREFIX.length && out.charCodeAt(0) === 0x3a /* ':' */) {
    const lower = out.slice(0, V4_MAPPED_PREFIX.length).toLowerCase();
    const rest = out.slice(V4_MAPPED_PREFIX.length);
    if (lower === V4_MAPPED_PREFIX && isIP(rest) === 4) return rest;
  }
  return out;
}

/**
 * The source an address belongs to, for limits per source (`serveStun`'s, the TCP mux's pending
 * connections): an IPv4 address is its own key; an IPv6 address counts as its /64, since one host (a phone,
 * a VM, a home network) is routinely given a whole /64 and may send from any of its 2⁶⁴ addresses, so
 * counting them apart would let it multiply any per-source share. The key is the /64 in one spelling
 * whatever the address's (`::`, leading zeros, upper case, a zone id): the first four groups in lower-case
 * hex, `2001:db8:0:1::/64`. A v4-mapped address, however written, is its IPv4 address. Anything that is
 * not an IP address comes back unchanged. An IPv4 address, the common case, allocates nothing.
 */
export function sourceKey(address: string): string {
  const out = kernelCanonical(address);
  if (out.indexOf(":") === -1) return out; // IPv4, or not an address
  const g = ipv6Groups(out);
  if (g === undefined) return out;
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`; // v4-mapped, written in hex
  }
  return `${g[0]!.toString(16)}:${g[1]!.toString(16)}:${g[2]!.toString(16)}:${g[3]!.toString(16)}::/64`;
}

/**
 * The eight 16-bit groups of an IPv6 literal (`::` expanded, an embedded dotted IPv4 tail read as two
 * groups, a zone id ignored), or `undefined` when `address` is not one.
 */
export function ipv6Groups(address: string): number[] | undefined {
  if (isIP(address) !== 6) return undefined;
  const zone = address.indexOf("%");
  const bare = zone === -1 ? address : address.slice(0, zone);
  const gap = bare.indexOf("::");
  const head = groupsOf(gap === -1 ? bare : bare.slice(0, gap));
  const tail = gap === -1 ? [] : groupsOf(bare.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** The groups of one side of `::` (isIP already checked the syntax). */
function groupsOf(part: string): number[] {
  const out: number[] = [];
  if (part === "") return out;
  for (const group of part.split(":")) {
    if (group.indexOf(".") === -1) out.push(Number.parseInt(group, 16));
    else {
      const [a = 0, b = 0, c = 0, d = 0] = group.split(".").map(Number);
      out.push((a << 8) | b, (c << 8) | d);
    }
  }
  return out;
}

/** The family of a canonical address, or `undefined` when it is not an IP address. */
export function familyOf(address: string): Family | undefined {
  const v = isIP(address);
  return v === 4 ? "IPv4" : v === 6 ? "IPv6" : undefined;
}

/**
 * The `rinfo` to hand to connections for a datagram from the socket: the socket's own object when its
 * address is canonical (no allocation), otherwise a canonical copy.
 */
export function canonicalRemote(rinfo: RemoteInfo): RemoteInfo {
  if (rinfo.family === "IPv4") return rinfo;
  const address = kernelCanonical(rinfo.address);
  if (address === rinfo.address) return rinfo;
  return { address, family: familyOf(address) ?? rinfo.family, port: rinfo.port, size: rinfo.size };
}

/** Whether `address` is a wildcard (`0.0.0.0`, `::`). */
export function isWildcard(address: string): boolean {
  return address === "0.0.0.0" || address === "::";
}

/**
 * A two-level map `address → port → V`. Lookups take the address string and port as they come, so the
 * per-datagram path builds no key.
 */
export class AddressMap<V> {
  readonly #byAddress = new Map<string, Map<number, V>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(address: string, port: number): V | undefined {
    return this.#byAddress.get(address)?.get(port);
  }

  set(address: string, port: number, value: V): void {
    let ports = this.#byAddress.get(address);
    if (ports === undefined) {
      ports = new Map();
      this.#byAddress.set(address, ports);
    }
    if (!ports.has(port)) this.#size++;
    ports.set(port, value);
  }

  delete(address: string, port: number): boolean {
    const ports = this.#byAddress.get(address);
    if (ports === undefined || !ports.delete(port)) return false;
    if (ports.size === 0) this.#byAddress.delete(address);
    this.#size--;
    return true;
  }

  clear(): void {
    this.#byAddress.clear();
    this.#size = 0;
  }

  *values(): IterableIterator<V> {
    for (const ports of this.#byAddress.values()) yield* ports.values();
  }
}

/**
 * Every UDP datagram dropped, by an nftables rule inside this suite's private network namespace, so that
 * only ICE-TCP (RFC 6544) can work. Refuses to run anywhere but a namespace with nothing but `lo`: a UDP
 * drop rule on a real host would cut it off.
 */
import { execFileSync } from "node:child_process";
import dgram from "node:dgram";
import { once } from "node:events";
import { assertLoopbackOnlyNamespace } from "./network-guard.js";

export interface UdpDrop {
  /** Datagrams the rule has dropped so far. */
  dropped(): number;
  /** Delete the rule's table. Idempotent. */
  remove(): void;
}

function nft(...args: string[]): string {
  return execFileSync("nft", args, { encoding: "utf8" });
}

/** Throws unless this process sits in a network namespace whose only link is `lo` (no override). */
export function assertPrivateLoopbackNamespace(suite: string): void {
  assertLoopbackOnlyNamespace();
  const links = execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" })
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => line.split(":")[1]!.trim());
  if (links.length !== 1 || links[0] !== "lo") {
    throw new Error(
      `${suite} adds an nftables rule dropping all UDP: it runs only in a private network namespace with ` +
        `nothing but lo, found links ${links.join(", ")}. Run: unshare -n sh -c 'ip link set lo up && exec npx vitest ` +
        `run --config vitest.interop.config.ts test/interop/${suite}'`,
    );
  }
}

/**
 * Installs the rule (table `table`, one counting drop rule on input) and proves it works: a datagram sent
 * on loopback is counted, and so never delivered.
 */
export async function dropAllUdp(suite: string, table: string): Promise<UdpDrop> {
  assertPrivateLoopbackNamespace(suite);
  nft("add", "table", "inet", table);
  let removed = false;
  const drop: UdpDrop = {
    dropped() {
      const match = /counter packets (\d+)/.exec(nft("list", "table", "inet", table));
      if (match === null) throw new Error(`no counter in table ${table}`);
      return Number(match[1]);
    },
    remove() {
      if (removed) return;
      removed = true;
      nft("delete", "table", "inet", table);
    },
  };
  try {
    nft("add", "chain", "inet", table, "input", "{ type filter hook input priority 0; policy accept; }");
    nft("add", "rule", "inet", table, "input", "meta", "l4proto", "udp", "counter", "drop");
    const socket = dgram.createSocket("udp4");
    socket.bind(0, "127.0.0.1");
    await once(socket, "listening");
    const before = drop.dropped();
    await new Promise<void>((resolve, reject) =>
      socket.send("probe", socket.address().port, "127.0.0.1", (err) => (err ? reject(err) : resolve())),
    );
    socket.close();
    if (drop.dropped() !== before + 1) throw new Error(`the UDP drop rule of ${table} counted no probe`);
  } catch (error) {
    drop.remove();
    throw error;
  }
  return drop;
}

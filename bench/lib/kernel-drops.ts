/**
 * Datagrams the kernel dropped at the UDP sockets bound to `ports` (Linux: the `drops` column of
 * /proc/net/udp and /proc/net/udp6, this network namespace), summed; undefined where /proc isn't there.
 * Used for werift's own sockets, which the bench can't ask; the mux reports its own (`stats().kernelDrops`).
 */
import { readFileSync } from "node:fs";

export function kernelUdpDrops(ports: readonly number[]): number | undefined {
  return udpSockets(ports)?.drops;
}

/**
 * The sockets bound to `ports`: their drops, summed, and the fullest one's receive queue (bytes the
 * kernel holds for it: `rx_queue`, which counts each datagram's whole buffer, not only its payload).
 */
export function udpSockets(ports: readonly number[]): { drops: number; maxRxQueue: number } | undefined {
  const wanted = new Set(ports);
  let drops = 0;
  let maxRxQueue = 0;
  try {
    for (const file of ["/proc/net/udp", "/proc/net/udp6"]) {
      // "sl local_address rem_address st tx_queue:rx_queue … drops", addresses as HEXADDR:HEXPORT
      for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
        const fields = line.trim().split(/\s+/);
        const port = Number.parseInt(fields[1]?.split(":").at(-1) ?? "", 16);
        if (!wanted.has(port)) continue;
        drops += Number(fields.at(-1));
        maxRxQueue = Math.max(maxRxQueue, Number.parseInt(fields[4]?.split(":")[1] ?? "0", 16));
      }
    }
  } catch {
    return undefined;
  }
  return { drops, maxRxQueue };
}

/** The receive buffer a socket gets when it asks for none (Linux: net.core.rmem_default). */
export function osDefaultRecvBuffer(): number | undefined {
  try {
    return Number(readFileSync("/proc/sys/net/core/rmem_default", "utf8").trim());
  } catch {
    return undefined;
  }
}

// A UDPMux's and a TCPMux's stats() as Prometheus metrics, with prom-client (the Node.js Prometheus
// client: `npm install prom-client`; udpmux itself does not depend on it).
//
//   import http from "node:http";
//   import { muxMetrics } from "./prometheus.mjs";
//
//   const registry = muxMetrics({ udp: mux, tcp: tcpMux }); // a new prom-client Registry, or pass { registry }
//   http
//     .createServer(async (req, res) => {
//       res.setHeader("Content-Type", registry.contentType);
//       res.end(await registry.metrics());
//     })
//     .listen(9100, "127.0.0.1");
//
// Every value is read from the mux at scrape time (stats() is cheap and synchronous; kernelDrops is refreshed
// first, so it is as fresh as the rest). The mux keeps its own totals: a counter here reports that total, so a
// mux made anew (a restarted worker) shows up as a counter reset, which rate() and increase() handle.
// UDP and TCP share names where the field means the same (datagrams for UDP, RFC 4571 frames for TCP), told
// apart by the `transport` label; drops and TCP rejections carry a `reason` label, one series per reason that
// happened (stats().droppedByReason / rejectedByReason).
import { Counter, Gauge, Registry } from "prom-client";

/**
 * One record per metric: its name, type, the stats() field it reads (or the by-reason field it breaks
 * down), which muxes have it, and its HELP text (from the README's "Watching a mux" table and the TCPMux
 * stats()). Counters end in `_total`; gauges are sizes now.
 */
export const METRICS = [
  // Both transports.
  {
    name: "udpmux_received_total",
    type: "counter",
    field: "received",
    transports: ["udp", "tcp"],
    help: "Datagrams (UDP) or RFC 4571 frames (TCP) that reached the mux",
  },
  {
    name: "udpmux_delivered_total",
    type: "counter",
    field: "delivered",
    transports: ["udp", "tcp"],
    help: "Datagrams or frames handed to a conn's reader ('message' listener or readFrom)",
  },
  {
    name: "udpmux_dropped_total",
    type: "counter",
    byReason: "droppedByReason",
    transports: ["udp", "tcp"],
    help: "Datagrams or frames the mux dropped, by reason (stats().droppedByReason; not-stun is junk hitting the port)",
  },
  {
    name: "udpmux_connections",
    type: "gauge",
    field: "connections",
    transports: ["udp", "tcp"],
    help: "Live conns (one per local ICE ufrag and IP family), under maxConnections",
  },
  {
    name: "udpmux_accept_queue",
    type: "gauge",
    field: "acceptQueue",
    transports: ["udp", "tcp"],
    help: "Candidates waiting for accept(), under acceptQueueSize",
  },
  // UDPMux only.
  {
    name: "udpmux_addresses",
    type: "gauge",
    field: "addresses",
    transports: ["udp"],
    help: "Remote addresses associated with a conn, under their bound",
  },
  {
    name: "udpmux_transactions",
    type: "gauge",
    field: "transactions",
    transports: ["udp"],
    help: "Outstanding STUN transactions (conns' requests and getXorMappedAddress queries)",
  },
  {
    name: "udpmux_unrouted_total",
    type: "counter",
    field: "unrouted",
    transports: ["udp"],
    help: "Datagrams the onUnrouted handler took (not in dropped)",
  },
  {
    name: "udpmux_stun_served_total",
    type: "counter",
    field: "stunServed",
    transports: ["udp"],
    help: "STUN server queries answered (serveStun)",
  },
  {
    name: "udpmux_kernel_drops_total",
    type: "counter",
    field: "kernelDrops",
    transports: ["udp"],
    refresh: true,
    help: "Datagrams the kernel dropped at the socket because its receive buffer was full; they never reached the mux (Linux only)",
  },
  {
    name: "udpmux_recv_buffer_bytes",
    type: "gauge",
    field: "recvBufferSize",
    transports: ["udp"],
    help: "The socket's receive buffer as the kernel reports it now (Linux reports twice the size set)",
  },
  // TCPMux only.
  {
    name: "udpmux_tcp_connections",
    type: "gauge",
    field: "tcpConnections",
    transports: ["tcp"],
    help: "TCP connections routed to a conn",
  },
  {
    name: "udpmux_tcp_pending_connections",
    type: "gauge",
    field: "pendingConnections",
    transports: ["tcp"],
    help: "TCP connections waiting for their first frame",
  },
  {
    name: "udpmux_tcp_paused_connections",
    type: "gauge",
    field: "pausedConnections",
    transports: ["tcp"],
    help: "Routed TCP connections not read for now: their conn's reader is behind (flow control)",
  },
  {
    name: "udpmux_tcp_accepted_total",
    type: "counter",
    field: "accepted",
    transports: ["tcp"],
    help: "TCP connections accepted",
  },
  {
    name: "udpmux_tcp_web_connections_total",
    type: "counter",
    field: "webConnections",
    transports: ["tcp"],
    help: "TCP connections handed to the web server sharing the port (TCPMux option web)",
  },
  {
    name: "udpmux_tcp_rejected_total",
    type: "counter",
    byReason: "rejectedByReason",
    transports: ["tcp"],
    help: "TCP connections the mux closed before or at their first frame, by reason (stats().rejectedByReason)",
  },
  {
    name: "udpmux_tcp_write_drops_total",
    type: "counter",
    field: "writeDrops",
    transports: ["tcp"],
    help: "Frames dropped because their connection had maxWriteBufferBytes waiting to be written",
  },
];

/**
 * Register udpmux's metrics for these muxes in a prom-client registry (a new one unless given) and return it.
 * Call once per registry (prom-client refuses a name registered twice).
 *
 * @param {{ udp?: import("udpmux").UDPMux, tcp?: import("udpmux").TCPMux, registry?: Registry }} options (types: prometheus.d.mts)
 * @returns {Registry}
 */
export function muxMetrics({ udp, tcp, registry = new Registry() } = {}) {
  const muxes = Object.entries({ udp, tcp }).filter(([, mux]) => mux !== undefined);
  if (muxes.length === 0) throw new TypeError("Expected `udp` or `tcp` to be a mux, got neither");
  for (const spec of METRICS) {
    const sources = muxes.filter(([transport]) => spec.transports.includes(transport));
    if (sources.length === 0) continue;
    const labelNames = spec.byReason === undefined ? ["transport"] : ["transport", "reason"];
    if (spec.type === "gauge") {
      new Gauge({
        name: spec.name,
        help: spec.help,
        labelNames,
        registers: [registry],
        collect() {
          for (const [transport, mux] of sources) this.set({ transport }, mux.stats()[spec.field]);
        },
      });
    } else {
      new Counter({
        name: spec.name,
        help: spec.help,
        labelNames,
        registers: [registry],
        // The mux's totals only grow while it lives: report them as they are (a reset, then the total).
        async collect() {
          const samples = [];
          for (const [transport, mux] of sources) {
            if (spec.refresh) await mux.refreshKernelDrops();
            const stats = mux.stats();
            if (spec.byReason === undefined) {
              const value = stats[spec.field];
              if (typeof value === "number") samples.push([{ transport }, value]); // kernelDrops: undefined off Linux
            } else {
              for (const [reason, n] of Object.entries(stats[spec.byReason]))
                samples.push([{ transport, reason }, n]);
            }
          }
          this.reset();
          for (const [labels, value] of samples) this.inc(labels, value);
        },
      });
    }
  }
  return registry;
}

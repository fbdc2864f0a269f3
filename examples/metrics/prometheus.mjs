// mux.stats() as Prometheus text (exposition format 0.0.4), for a /metrics endpoint.
//
//   import { prometheusText } from "./prometheus.mjs";
//   http.createServer((req, res) => res.end(prometheusText({ udp: mux, tcp: tcpMux }))).listen(9100, "127.0.0.1");

/** Fields that only grow (counters); every other number is a gauge. */
const COUNTERS = new Set([
  "received",
  "delivered",
  "dropped",
  "kernelDrops",
  "accepted",
  "rejected",
  "writeDrops",
]);
/** Per-reason breakdowns, as one labelled counter each. */
const BY_REASON = {
  droppedByReason: "udpmux_dropped_by_reason_total",
  rejectedByReason: "udpmux_rejected_by_reason_total",
};

/** @param {Record<string, { stats(): Record<string, unknown> }>} muxes by transport label, e.g. `{ udp: mux }` */
export function prometheusText(muxes) {
  const families = new Map(); // name -> { type, samples }, so each family is written once, samples together
  const add = (name, type, labels, value) => {
    if (!families.has(name)) families.set(name, { type, samples: [] });
    const text = Object.entries(labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(",");
    families.get(name).samples.push(`${name}{${text}} ${value}`);
  };
  for (const [transport, mux] of Object.entries(muxes)) {
    for (const [field, value] of Object.entries(mux.stats())) {
      const snake = `udpmux_${field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`;
      if (typeof value === "number") {
        if (COUNTERS.has(field)) add(`${snake}_total`, "counter", { transport }, value);
        else add(snake, "gauge", { transport }, value);
      } else if (field in BY_REASON && value !== null && typeof value === "object") {
        for (const [reason, n] of Object.entries(value))
          add(BY_REASON[field], "counter", { transport, reason }, n);
      }
    }
  }
  const out = [];
  for (const [name, { type, samples }] of families) out.push(`# TYPE ${name} ${type}`, ...samples);
  return `${out.join("\n")}\n`;
}

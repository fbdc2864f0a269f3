/** `parse`: USERNAME extraction, the mux's parser against werift-ice's and the `stun` package's. */

import { section } from "../lib/section.js";
import { fmt, table } from "../lib/stats.js";
import { benchParse, type ParseResult } from "../parse.js";

/**
 * The mux parses the USERNAME of every Binding Request it routes by ufrag, including an attacker's; a full
 * STUN decode (werift-ice's) builds every attribute. 20× is what a parser that reads only the header and
 * walks the attributes to USERNAME, allocating one string, should keep over one that allocates them all.
 */
const MIN_SPEEDUP = 20;

export default section<ParseResult>({
  name: "parse",
  title: () => "STUN USERNAME extraction",
  run: ({ quick }) => benchParse(quick),
  targets: (r) => [
    {
      name: "USERNAME extraction vs werift-ice parseMessage",
      target: `≥ ${MIN_SPEEDUP}×`,
      measured: `${fmt(r.speedupVsWeriftIce, 1)}×`,
      met: r.speedupVsWeriftIce >= MIN_SPEEDUP,
      reason:
        "the mux parses every routed Binding Request (an attacker's too); reading only USERNAME must stay an order of magnitude cheaper than a full decode",
    },
  ],
  render: (r) => {
    const ns = r.nsPerMessage;
    return [
      "STUN USERNAME extraction (ns per Binding Request, median)",
      table(
        ["parser", "ns", "÷ udpmux"],
        [
          ["udpmux parseBindingRequest", fmt(ns.udpmux, 1), "1.0"],
          ["werift-ice parseMessage", fmt(ns.weriftIce, 1), fmt(r.speedupVsWeriftIce, 1)],
          ["stun decode", fmt(ns.stun, 1), fmt(r.speedupVsStun, 1)],
        ],
      ),
    ].join("\n");
  },
});

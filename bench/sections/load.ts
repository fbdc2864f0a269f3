/** `load`: connecting under a junk flood (bench/load.ts; its targets and their reasons live there). */
import { child, section } from "../lib/section.js";
import { fmt } from "../lib/stats.js";
import { benchLoad, LOAD_FULL, LOAD_QUICK, type LoadResult, loadTargets, renderLoad } from "../load.js";

const config = (quick: boolean) => (quick ? LOAD_QUICK : LOAD_FULL);

export default section<LoadResult>({
  name: "load",
  title: ({ quick }) => {
    const c = config(quick);
    return `connecting under load: ${c.clients} werift clients at once, ${fmt(c.rate)} junk datagrams/s, ${c.rounds} round(s) of mux / mux with the OS buffer / own sockets, junk elsewhere / own sockets, junk to them`;
  },
  run: ({ quick, script }) => benchLoad(config(quick), script("load-server.js"), child),
  targets: (r) => loadTargets(r),
  render: (r) => renderLoad(r),
});

/** `memory`: heap per conn, allocation per datagram and heap per attached werift pc (bench/memory.ts, a child process). */
import { child, section } from "../lib/section.js";
import { fmt } from "../lib/stats.js";
import type { MemoryResult } from "../memory.js";

const conns = (quick: boolean) => (quick ? 1_000 : 10_000);
const pcPairs = (quick: boolean) => (quick ? 10 : 50);

/** 10,000 idle conns in ≤ 10 MiB: a server holding many sessions must not pay more for the mux than for their sockets. */
const MAX_HEAP_PER_CONN = 1024;
/** What attaching may add to a connected werift pc's heap, over the same pc on its own socket (a pc is ~100 KiB+). */
const MAX_ATTACHED_PC_EXTRA = 1024;

export default section<MemoryResult>({
  name: "memory",
  title: () => "memory (child process, --expose-gc)",
  run: ({ quick, script }) =>
    child<MemoryResult>(
      [
        "--expose-gc",
        "--max-semi-space-size=64",
        script("memory.js"),
        String(conns(quick)),
        String(pcPairs(quick)),
      ],
      300_000,
    ),
  targets: (r) => {
    const extra = r.allocBytesPerDatagram.mux - r.allocBytesPerDatagram.bare;
    const pc = r.heapBytesPerPcPair;
    return [
      {
        name: "allocation per datagram, associated-address path",
        target: "mux − bare < 1 B",
        measured: `${fmt(extra, 2)} B`,
        met: extra < 1,
        reason:
          "the media path must allocate nothing per datagram: garbage per packet is GC pauses at media rates",
      },
      {
        name: `heap per idle conn (${fmt(r.conns)} conns)`,
        target: `≤ ${MAX_HEAP_PER_CONN} B`,
        measured: `${fmt(r.heapBytesPerConn)} B`,
        met: r.heapBytesPerConn <= MAX_HEAP_PER_CONN,
        reason: "10,000 sessions' mux state in ≤ 10 MiB, less than their own sockets would take",
      },
      {
        name: `heap of an attached werift pc over one on its own socket (${pc.pairs} connected pairs)`,
        target: `≤ ${MAX_ATTACHED_PC_EXTRA} B`,
        measured: `${fmt(pc.mux - pc.own)} B`,
        met: pc.mux - pc.own <= MAX_ATTACHED_PC_EXTRA,
        reason: "attaching replaces a socket per pc; it should not cost more than the 1 KiB a mux conn may",
      },
    ];
  },
  render: (r) => {
    const a = r.allocBytesPerDatagram;
    const pc = r.heapBytesPerPcPair;
    return [
      `Memory: ${fmt(r.heapBytesPerConn)} B heap per idle conn at ${fmt(r.conns)} conns. Allocated per datagram: mux ${fmt(a.mux, 2)} B, bare ${fmt(a.bare, 2)} B, control handler (one object) ${fmt(a.control, 2)} B`,
      `Heap per connected werift 0.25 pc pair (server pc + plain client pc, ${fmt(pc.pairs)} pairs, means of 4 balanced rounds): server on the mux ${fmt(pc.mux)} B, on its own socket ${fmt(pc.own)} B (attached − own: ${fmt(pc.mux - pc.own)} B)`,
    ].join("\n");
  },
});

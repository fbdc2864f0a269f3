/** Finding one socket's line in `/proc/net/udp{,6}` without parsing the others, and the 32-bit counter. */
import { describe, expect, it } from "vitest";
import { dropsSince, socketsOnPort } from "../src/kernel-drops.js";

/** Lines as Linux prints them (`/proc/net/udp` pads each to 127 characters; trailing spaces elided here). */
const UDP = Buffer.from(
  [
    "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
    // local 127.0.0.1:0x1234, connected to 127.0.0.1:0x5678; drops 7
    " 3732: 0100007F:1234 0100007F:5678 01 00000000:00000000 00:00000000 00000000     0        0 260400 2 00000000110939f0 7",
    // local 0.0.0.0:0x5678: its port is another socket's remote port above; drops 0
    "  118: 00000000:5678 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 260402 2 0000000022a1b2c3 0",
    // a second socket on 0x1234 (SO_REUSEPORT, another address); drops 4294967295 (the counter's top)
    " 3732: 0200007F:1234 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 260403 2 0000000033d4e5f6 4294967295",
    "",
  ].join("\n"),
  "latin1",
);

const UDP6 = Buffer.from(
  [
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
    // local [::1]:0x1234 (no trailing newline: the last line of the file)
    " 3732: 00000000000000000000000001000000:1234 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 260401 2 000000002658ccee 3",
  ].join("\n"),
  "latin1",
);

describe("socketsOnPort", () => {
  it("finds every socket whose local port matches, with its inode and drops", () => {
    expect(socketsOnPort(UDP, 0x1234)).toEqual([
      { inode: "260400", drops: 7 },
      { inode: "260403", drops: 4294967295 },
    ]);
    expect(socketsOnPort(UDP6, 0x1234)).toEqual([{ inode: "260401", drops: 3 }]);
  });

  it("ignores a port that is only a remote one", () => {
    expect(socketsOnPort(UDP, 0x5678)).toEqual([{ inode: "260402", drops: 0 }]); // not the 0x1234 socket
  });

  it.each([
    ["a port nobody has", UDP, 0x4321],
    ["a port whose hex is a suffix of another's", UDP, 0x234],
    ["the header only", Buffer.from(UDP.toString("latin1").split("\n")[0]!, "latin1"), 0x1234],
    ["an empty file", Buffer.alloc(0), 0x1234],
    ["a line cut short", Buffer.from(" 3732: 0100007F:1234 0100007F:5678 01", "latin1"), 0x1234],
  ])("finds nothing in %s", (_, text, port) => {
    expect(socketsOnPort(text, port)).toEqual([]);
  });
});

describe("dropsSince", () => {
  it.each([
    [0, 0, 0],
    [10, 25, 15],
    [4294967290, 4, 10], // the kernel's 32-bit counter wrapped
  ])("from %d to %d is %d", (baseline, now, drops) => {
    expect(dropsSince(baseline, now)).toBe(drops);
  });
});

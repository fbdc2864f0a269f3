import { describe, expect, it } from "vitest";
import { AddressMap, canonicalAddress, canonicalRemote, familyOf } from "../src/address.js";

describe("canonicalAddress", () => {
  it.each([
    ["127.0.0.1", "127.0.0.1"],
    ["::1", "::1"],
    ["::ffff:10.1.2.3", "10.1.2.3"],
    ["::FFFF:10.1.2.3", "10.1.2.3"],
    ["fe80::1%eth0", "fe80::1"],
    ["::ffff:1:2", "0.1.0.2"], // v4-mapped written in hex
    ["0:0:0:0:0:0:0:1", "::1"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["localhost", "localhost"],
  ])("%s → %s", (input, out) => {
    expect(canonicalAddress(input)).toBe(out);
  });

  it("returns the same string when nothing changes", () => {
    const rinfo = { address: "127.0.0.1", family: "IPv4" as const, port: 1, size: 0 };
    expect(canonicalRemote(rinfo)).toBe(rinfo);
    expect(canonicalRemote({ ...rinfo, address: "::ffff:127.0.0.1", family: "IPv6" })).toEqual(rinfo);
  });

  it("knows families", () => {
    expect(familyOf("1.2.3.4")).toBe("IPv4");
    expect(familyOf("::1")).toBe("IPv6");
    expect(familyOf("localhost")).toBeUndefined();
  });
});

describe("AddressMap", () => {
  it("keys by address and port, and counts", () => {
    const m = new AddressMap<string>();
    m.set("1.2.3.4", 1, "a");
    m.set("1.2.3.4", 2, "b");
    m.set("1.2.3.4", 2, "c");
    expect(m.size).toBe(2);
    expect(m.get("1.2.3.4", 2)).toBe("c");
    expect(m.delete("1.2.3.4", 1)).toBe(true);
    expect(m.delete("1.2.3.4", 1)).toBe(false);
    expect([...m.values()]).toEqual(["c"]);
    m.clear();
    expect(m.size).toBe(0);
  });
});

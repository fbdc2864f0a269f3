import { describe, expect, it } from "vitest";
import { AddressMap, canonicalAddress, canonicalRemote, familyOf, sourceKey } from "../src/address.js";

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

describe("sourceKey", () => {
  it.each([
    ["IPv4: the address itself", "192.0.2.1", "192.0.2.1"],
    ["another IPv4 address", "192.0.2.2", "192.0.2.2"],
    ["v4-mapped", "::ffff:192.0.2.1", "192.0.2.1"],
    ["v4-mapped, upper case", "::FFFF:192.0.2.1", "192.0.2.1"],
    ["v4-mapped, written in hex", "::ffff:c000:201", "192.0.2.1"],
    ["IPv6, compressed", "2001:db8::1", "2001:db8:0:0::/64"],
    [
      "IPv6, expanded with leading zeros, upper case",
      "2001:0DB8:0000:0000:0000:0000:0000:0001",
      "2001:db8:0:0::/64",
    ],
    ["the same /64, another host part", "2001:db8::ffff:1:2:3", "2001:db8:0:0::/64"],
    ["the same /64, `::` in the host part", "2001:db8:0:0:1::1", "2001:db8:0:0::/64"],
    ["another /64 (fourth group)", "2001:db8:0:1::1", "2001:db8:0:1::/64"],
    ["another /64 (third group)", "2001:db8:1::1", "2001:db8:1:0::/64"],
    ["a zone id (canonicalAddress drops it too)", "fe80::1%eth0", "fe80:0:0:0::/64"],
    ["another zone, another host: one /64", "fe80::2:3%lo", "fe80:0:0:0::/64"],
    ["loopback", "::1", "0:0:0:0::/64"],
    ["a dotted IPv4 tail", "64:ff9b::192.0.2.1", "64:ff9b:0:0::/64"],
    ["a tail reaching into the prefix", "::1:2:3:4:5.6.7.8", "0:0:1:2::/64"],
    ["not an address: unchanged", "localhost", "localhost"],
  ])("%s: %s → %s", (_name, address, key) => {
    expect(sourceKey(address)).toBe(key);
    expect(sourceKey(canonicalAddress(address))).toBe(key); // what the mux passes: the same key
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

/**
 * Which addresses an attached agent announces, per family, on synthetic hosts (never this machine's
 * interfaces), and the errors when there is nothing to announce or an address the mux can't reach. Pure
 * planning: no socket, no traffic.
 */
import type { AddressInfo } from "node:net";
import type { NetworkInterfaceInfo } from "node:os";
import { describe, expect, it } from "vitest";
import {
  addDefaultAddresses,
  type Interfaces,
  interfaceAddresses,
  listenPlans,
} from "../../src/adapter/address-plan.js";
import type { Family } from "../../src/address.js";
import { resolveAttachOptions } from "../../src/werift/options.js";

function iface(address: string, internal = false): NetworkInterfaceInfo {
  const v6 = address.includes(":");
  return {
    address,
    netmask: v6 ? "ffff:ffff:ffff:ffff::" : "255.255.255.0",
    family: v6 ? "IPv6" : "IPv4",
    mac: "02:00:00:00:00:01",
    internal,
    cidr: null,
    ...(v6 ? { scopeid: 0 } : {}),
  } as NetworkInterfaceInfo;
}

const lo = [iface("127.0.0.1", true), iface("::1", true)];
/** Synthetic hosts, as `os.networkInterfaces()` would list them. */
const HOSTS = {
  /** An IPv4 host whose only IPv6 address is link-local (most VMs and home hosts). */
  ipv4LinkLocalV6: { lo, eth0: [iface("192.0.2.10"), iface("fe80::1")] } as Interfaces,
  /** An IPv6-only host (its IPv4 only link-local). */
  ipv6Only: { lo, eth0: [iface("169.254.7.7"), iface("2001:db8::10"), iface("fe80::1")] } as Interfaces,
  dualStack: { lo, eth0: [iface("192.0.2.10"), iface("2001:db8::10"), iface("fe80::1")] } as Interfaces,
  loopbackOnly: { lo } as Interfaces,
};

const listenOn = (address: string): AddressInfo[] => [
  { address, family: address.includes(":") ? "IPv6" : "IPv4", port: 50000 },
];

/** The default plan of a mux listening on `address`: announced addresses per family. */
function defaults(address: string, host: Interfaces): Partial<Record<Family, string[]>> {
  const listen = listenOn(address);
  const plans = listenPlans(listen);
  addDefaultAddresses(plans, listen, host);
  return Object.fromEntries([...plans].map(([family, plan]) => [family, plan.addresses]));
}

describe("the default announced addresses", () => {
  it("interfaceAddresses: non-internal, non-link-local, of one family", () => {
    expect(interfaceAddresses("IPv4", HOSTS.dualStack)).toEqual(["192.0.2.10"]);
    expect(interfaceAddresses("IPv6", HOSTS.dualStack)).toEqual(["2001:db8::10"]);
    expect(interfaceAddresses("IPv4", HOSTS.ipv6Only)).toEqual([]); // 169.254/16 is link-local
    expect(interfaceAddresses("IPv6", HOSTS.ipv4LinkLocalV6)).toEqual([]); // fe80::/10 too
  });

  it("a dual-stack `::` bind announces an address of each family the host has", () => {
    expect(defaults("::", HOSTS.dualStack)).toEqual({ IPv6: ["2001:db8::10"], IPv4: ["192.0.2.10"] });
    // the friction of issue 17: an IPv4 host with a link-local IPv6 address got ERR_NO_ADDRESS_TO_ANNOUNCE
    expect(defaults("::", HOSTS.ipv4LinkLocalV6)).toEqual({ IPv6: [], IPv4: ["192.0.2.10"] });
    expect(defaults("::", HOSTS.ipv6Only)).toEqual({ IPv6: ["2001:db8::10"], IPv4: [] });
  });

  it("a udp4 wildcard announces IPv4 only; a unicast bind announces itself", () => {
    expect(defaults("0.0.0.0", HOSTS.dualStack)).toEqual({ IPv4: ["192.0.2.10"] });
    expect(defaults("127.0.0.1", HOSTS.dualStack)).toEqual({ IPv4: ["127.0.0.1"] });
    expect(defaults("::1", HOSTS.dualStack)).toEqual({ IPv6: ["::1"] });
  });

  it("resolveAttachOptions keeps the families with something to announce", () => {
    const plan = resolveAttachOptions(undefined, listenOn("::"), HOSTS.ipv4LinkLocalV6);
    expect(plan.families.map((f) => [f.family, f.addresses])).toEqual([["IPv4", ["192.0.2.10"]]]);
    const both = resolveAttachOptions(undefined, listenOn("::"), HOSTS.dualStack);
    expect(both.families.map((f) => f.family)).toEqual(["IPv6", "IPv4"]);
  });
});

describe("ERR_NO_ADDRESS_TO_ANNOUNCE", () => {
  it('a udp4 mux on an IPv6-only host: the fix is type: "udp6"', () => {
    expect(() => resolveAttachOptions(undefined, listenOn("0.0.0.0"), HOSTS.ipv6Only)).toThrow(
      expect.objectContaining({
        name: "NoAddressToAnnounceError",
        code: "ERR_NO_ADDRESS_TO_ANNOUNCE",
        listenAddresses: ["0.0.0.0"],
        ipv6Addresses: ["2001:db8::10"],
        message:
          "the mux listens on 0.0.0.0 (IPv4 only) and no network interface has a non-loopback, non-link-local " +
          "IPv4 address to announce, but this host has IPv6 ones (2001:db8::10): bind the mux with " +
          '`type: "udp6"` (on "::", dual stack) to announce them, or pass options.announcedAddresses (the ' +
          'address peers reach, e.g. the host\'s public IP, or ["127.0.0.1"] for a test on loopback)',
      }),
    );
  });

  it("a udp4 mux on a loopback-only host: pass announcedAddresses", () => {
    expect(() => resolveAttachOptions(undefined, listenOn("0.0.0.0"), HOSTS.loopbackOnly)).toThrow(
      expect.objectContaining({
        code: "ERR_NO_ADDRESS_TO_ANNOUNCE",
        message: expect.stringContaining(
          "the mux listens on 0.0.0.0 and no network interface has a non-loopback, non-link-local address of " +
            "that family to announce: pass options.announcedAddresses",
        ),
      }),
    );
  });

  it("a dual-stack mux on a loopback-only host: neither family has one", () => {
    expect(() => resolveAttachOptions(undefined, listenOn("::"), HOSTS.loopbackOnly)).toThrow(
      expect.objectContaining({
        code: "ERR_NO_ADDRESS_TO_ANNOUNCE",
        ipv6Addresses: [],
        message: expect.stringContaining(
          "the mux listens on :: (dual stack: IPv6 and IPv4) and no network interface has a non-loopback, " +
            "non-link-local address of either family to announce: pass options.announcedAddresses",
        ),
      }),
    );
  });
});

describe("announced addresses the mux can't use", () => {
  it("announcedAddresses: [] says it is empty, not that the mux is bound to a wildcard", () => {
    expect(() =>
      resolveAttachOptions({ announcedAddresses: [] }, listenOn("127.0.0.1"), HOSTS.dualStack),
    ).toThrow(
      expect.objectContaining({
        name: "TypeError",
        code: "ERR_INVALID_ARG_VALUE",
        message:
          "`options.announcedAddresses` is empty: pass at least one address, or leave it out to announce the " +
          "host's addresses",
      }),
    );
  });

  it("an IPv6 address on a udp4 mux says the mux can't reach IPv6, and how it could", () => {
    expect(() =>
      resolveAttachOptions({ announcedAddresses: ["2001:db8::10"] }, listenOn("127.0.0.1"), HOSTS.dualStack),
    ).toThrow(
      expect.objectContaining({
        code: "ERR_INVALID_ARG_VALUE",
        message:
          '`options.announcedAddresses[0]` "2001:db8::10" is IPv6, but the mux listens on 127.0.0.1 (IPv4 only) ' +
          "and can't reach IPv6 peers: use an address of the mux's family, or bind the mux with " +
          '`type: "udp6"` on "::" (dual stack) to reach both families',
      }),
    );
  });

  it("an IPv4 address on a mux bound to one IPv6 address says so", () => {
    expect(() =>
      resolveAttachOptions({ announcedAddresses: ["192.0.2.10"] }, listenOn("::1"), HOSTS.dualStack),
    ).toThrow(
      expect.objectContaining({
        code: "ERR_INVALID_ARG_VALUE",
        message:
          '`options.announcedAddresses[0]` "192.0.2.10" is IPv4, but the mux listens on ::1 (IPv6 only) and ' +
          "can't reach IPv4 peers: use an address of the mux's family, or bind the mux on \"::\" (dual stack) " +
          'or "0.0.0.0" to reach IPv4',
      }),
    );
  });

  it("a STUN server of a family the mux can't reach: the same message", () => {
    expect(() =>
      resolveAttachOptions(
        { stunServers: [{ address: "2001:db8::3478", port: 3478 }] },
        listenOn("127.0.0.1"),
        HOSTS.dualStack,
      ),
    ).toThrow(
      expect.objectContaining({
        code: "ERR_INVALID_ARG_VALUE",
        message: expect.stringContaining(
          '`options.stunServers[0].address` "2001:db8::3478" is IPv6, but the mux listens on 127.0.0.1 (IPv4 ' +
            "only) and can't reach IPv6 peers",
        ),
      }),
    );
  });

  it("a dual-stack mux takes announced addresses of both families", () => {
    const plan = resolveAttachOptions(
      { announcedAddresses: ["203.0.113.7", "2001:db8::7"] },
      listenOn("::"),
      HOSTS.loopbackOnly,
    );
    expect(plan.families.map((f) => [f.family, f.addresses])).toEqual([
      ["IPv6", ["2001:db8::7"]],
      ["IPv4", ["203.0.113.7"]],
    ]);
  });
});

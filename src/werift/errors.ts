/**
 * Error classes of `udpmux/werift`. Like the core's (`../errors.ts`), each carries a stable `code`: test
 * `err.code`, never the message.
 *
 * | code | class | when |
 * | --- | --- | --- |
 * | `ERR_ALREADY_GATHERING` | {@link AlreadyGatheringError} | `attachUDPMux()` after the target started gathering |
 * | `ERR_UNSUPPORTED_WERIFT` | {@link UnsupportedWeriftError} | the target lacks a werift internal the adapter needs |
 * | `ERR_NO_ADDRESS_TO_ANNOUNCE` | {@link NoAddressToAnnounceError} | a wildcard mux, no `announcedAddresses`, and no interface address to announce (a udp4 mux on an IPv6-only host: the message names `type: "udp6"`) |
 * | `ERR_BUNDLE_POLICY` | {@link BundlePolicyError} | an `RTCPeerConnection` whose `bundlePolicy` isn't `"max-bundle"` |
 */

import { UdpmuxError } from "../errors.js";

/**
 * The werift versions whose internals the adapter was written and tested against. An agent of another
 * version is refused with {@link UnsupportedWeriftError} when it lacks a hook, never half-attached.
 */
export const SUPPORTED_WERIFT_VERSIONS = "werift-ice >=0.2.3 <0.3, werift >=0.24.4 <0.26";

/** `attachUDPMux()` came too late: the agent already gathered candidates on sockets of its own. */
export class AlreadyGatheringError extends UdpmuxError {
  readonly code = "ERR_ALREADY_GATHERING";
  constructor(options?: ErrorOptions) {
    super(
      "attachUDPMux() must be called before the agent gathers candidates (before gatherCandidates() / setLocalDescription())",
      options,
    );
    this.name = "AlreadyGatheringError";
  }
}

/** The target is not a werift agent the adapter can hook: a member it relies on is missing or changed. */
export class UnsupportedWeriftError extends UdpmuxError {
  readonly code = "ERR_UNSUPPORTED_WERIFT";
  /** The werift versions the adapter supports. */
  readonly supported = SUPPORTED_WERIFT_VERSIONS;
  constructor(
    /** What was found wanting, e.g. `["connection.ensureProtocol"]`. */
    readonly missing: readonly string[],
    options?: ErrorOptions,
  ) {
    super(
      `not a werift agent this udpmux supports (missing or changed: ${missing.join(", ")}); supported: ${SUPPORTED_WERIFT_VERSIONS}`,
      options,
    );
    this.name = "UnsupportedWeriftError";
  }
}

/**
 * An `RTCPeerConnection` not configured with `bundlePolicy: "max-bundle"`. Under other policies werift
 * creates one ICE transport per m-line, all with the same ufrag, and keeps the ones BUNDLE discards:
 * through one mux their packets can't be told apart.
 */
export class BundlePolicyError extends UdpmuxError {
  readonly code = "ERR_BUNDLE_POLICY";
  constructor(
    /** The peer connection's policy. */
    readonly bundlePolicy: string,
    options?: ErrorOptions,
  ) {
    super(
      `attachUDPMux() needs an RTCPeerConnection created with { bundlePolicy: "max-bundle" }, got "${bundlePolicy}"`,
      options,
    );
    this.name = "BundlePolicyError";
  }
}

/**
 * `attachUDPMux()` on a mux bound to a wildcard address, without `announcedAddresses`, on a host whose
 * interfaces have no address to announce in the families the mux reaches (only loopback, say): the agent
 * would have no host candidate. When the mux is udp4 and the host has IPv6 addresses (an IPv6-only host),
 * the message names the fix: bind the mux with `type: "udp6"`.
 */
export class NoAddressToAnnounceError extends UdpmuxError {
  readonly code = "ERR_NO_ADDRESS_TO_ANNOUNCE";
  constructor(
    /** The mux's listen addresses (wildcards). */
    readonly listenAddresses: string[],
    /**
     * What the host has that a udp6 mux would announce, for a udp4 mux: its non-loopback, non-link-local
     * IPv6 addresses (empty when it has none, or the mux is already IPv6).
     */
    readonly ipv6Addresses: string[] = [],
  ) {
    const dualStack = listenAddresses.includes("::");
    const where = `the mux listens on ${listenAddresses.join(", ")}${dualStack ? " (dual stack: IPv6 and IPv4)" : ""}`;
    const announce =
      "pass options.announcedAddresses (the address peers reach, e.g. the host's public IP, " +
      'or ["127.0.0.1"] for a test on loopback)';
    super(
      ipv6Addresses.length > 0
        ? `${where} (IPv4 only) and no network interface has a non-loopback, non-link-local IPv4 address to ` +
            `announce, but this host has IPv6 ones (${ipv6Addresses.slice(0, 3).join(", ")}): bind the mux with ` +
            `\`type: "udp6"\` (on "::", dual stack) to announce them, or ${announce}`
        : `${where} and no network interface has a non-loopback, non-link-local address of ` +
            `${dualStack ? "either family" : "that family"} to announce: ${announce}`,
    );
    this.name = "NoAddressToAnnounceError";
  }
}

/**
 * `createPeerConnectionFactory(RTCPeerConnection, mux, options?)`: werift peer connections that are on the
 * mux from birth. A server that makes its peer connections through the factory can't forget to attach one
 * (an unattached one silently binds a socket, on an ephemeral port, of its own), and a peer connection whose
 * peer went away is closed — which is what frees its conn on the mux.
 */
import { invalidArgType, MuxClosedError } from "../errors.js";
import type { UDPMux } from "../mux.js";
import { validateOptionNames } from "../validate.js";
import { attachUDPMux } from "./attach.js";
import { BundlePolicyError } from "./errors.js";
import { weriftLog as log } from "./log.js";
import { ATTACH_OPTION_NAMES, type AttachUDPMuxOptions, resolveAttachOptions } from "./options.js";

/** The bundle policy the factory gives a peer connection unless the config names one (then it must be it). */
const BUNDLE_POLICY = "max-bundle";

/**
 * The part of werift's `RTCPeerConnection` (0.24 and 0.25) the factory uses; any werift `RTCPeerConnection`
 * class fits, and the factory's peer connections have that class's own type.
 */
export interface FactoryPeerConnection {
  readonly connectionStateChange: { subscribe(listener: (state: string) => void): unknown };
  close(): Promise<void>;
}

/** A werift `RTCPeerConnection` class: `import { RTCPeerConnection } from "werift"`. */
export type PeerConnectionClass = new (config?: never) => FactoryPeerConnection;

/** Options of {@link createPeerConnectionFactory}: {@link AttachUDPMuxOptions}, and what the factory adds. */
export interface PeerConnectionFactoryOptions extends AttachUDPMuxOptions {
  /**
   * Close a peer connection when its `connectionState` becomes `"failed"`, which frees its conn on the mux
   * (until `pc.close()` the conn stays, and the agent's ufrags keep routing to it). werift reports a peer
   * that went away as `"failed"`: RFC 7675 consent expires 30 s after the peer's last answer; ICE that never
   * connects fails too (`peerCheckTimeoutMs`). werift (0.24, 0.25) never reports `"disconnected"`, so
   * nothing is closed on it. The close comes a microtask after the `"failed"` event, so every listener sees
   * `"failed"` first, then `"closed"`.
   * @default true
   */
  closeOnFailure?: boolean;
}

/** The factory's option names that are not {@link attachUDPMux}'s: kept out of what it is given. */
type FactoryOnlyOption = "closeOnFailure";

/** Makes a peer connection of class `C` on the mux: {@link createPeerConnectionFactory}. */
export type PeerConnectionFactory<C extends PeerConnectionClass> = (
  config?: ConstructorParameters<C>[0],
) => InstanceType<C>;

/**
 * A function that makes werift peer connections attached to `mux`: `new RTCPeerConnection(config)` with
 * `bundlePolicy: "max-bundle"` unless `config` names one, then {@link attachUDPMux} with `options`, before
 * it is returned; with `closeOnFailure` (the default) it closes itself when it fails. `RTCPeerConnection` is
 * the class of the caller's werift (0.24.4 to 0.25.x; udpmux imports none) and gives the factory's types.
 *
 * ```ts
 * import { RTCPeerConnection } from "werift";
 * const newPeerConnection = createPeerConnectionFactory(RTCPeerConnection, mux);
 * const pc = newPeerConnection(); // on the mux, max-bundle, closed when it fails
 * ```
 *
 * `options` are checked now, as `attachUDPMux` checks them (against the mux's listen addresses), so a
 * mistake shows when the server starts; they are copied: later changes to the object are not seen.
 *
 * The factory itself throws, before it makes a peer connection: `BundlePolicyError` (`ERR_BUNDLE_POLICY`)
 * for a `config.bundlePolicy` other than `"max-bundle"`, `MuxClosedError` (`ERR_MUX_CLOSED`) once the mux
 * is closed, `TypeError` (`ERR_INVALID_ARG_TYPE`) for a `config` that isn't an object; and after, what
 * {@link attachUDPMux} throws (`ERR_UNSUPPORTED_WERIFT` for a class that isn't werift's, say), having closed
 * the peer connection it made.
 *
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE`: a bad argument or option.
 * @throws {MuxClosedError} `ERR_MUX_CLOSED`: the mux is closed.
 * @throws {NoAddressToAnnounceError} `ERR_NO_ADDRESS_TO_ANNOUNCE`, as {@link attachUDPMux}.
 */
export function createPeerConnectionFactory<C extends PeerConnectionClass>(
  RTCPeerConnection: C,
  mux: UDPMux,
  options?: PeerConnectionFactoryOptions,
): PeerConnectionFactory<C> {
  if (typeof RTCPeerConnection !== "function") {
    throw invalidArgType("RTCPeerConnection", "werift's RTCPeerConnection class", RTCPeerConnection);
  }
  if (mux === null || typeof mux !== "object" || typeof (mux as Partial<UDPMux>).getConn !== "function") {
    throw invalidArgType("mux", "a UDPMux", mux);
  }
  if (mux.closed) throw new MuxClosedError();
  if (options !== undefined && (options === null || typeof options !== "object")) {
    throw invalidArgType("options", "an object", options);
  }
  // Every name the factory takes, so a misspelling is told the closest of all of them.
  if (options !== undefined) validateOptionNames(options, [...ATTACH_OPTION_NAMES, "closeOnFailure"]);
  const { closeOnFailure = true, ...rest } = options ?? {};
  if (typeof closeOnFailure !== "boolean") {
    throw invalidArgType("options.closeOnFailure", "a boolean", closeOnFailure);
  }
  const attachOptions = copyAttachOptions(rest);
  resolveAttachOptions(attachOptions, mux.getListenAddresses()); // throws now rather than per peer

  return (config) => {
    if (config !== undefined && (config === null || typeof config !== "object")) {
      throw invalidArgType("config", "an RTCConfiguration object", config);
    }
    const given = config as { bundlePolicy?: unknown } | undefined;
    const bundlePolicy = given?.bundlePolicy ?? BUNDLE_POLICY;
    if (bundlePolicy !== BUNDLE_POLICY) throw new BundlePolicyError(String(bundlePolicy));
    if (mux.closed) throw new MuxClosedError();
    const pc = new RTCPeerConnection({ ...given, bundlePolicy } as never) as InstanceType<C>;
    try {
      attachUDPMux(pc, mux, attachOptions);
    } catch (err) {
      closeQuietly(pc, "closing a peer connection that could not be attached failed: %O");
      throw err;
    }
    if (closeOnFailure) closeWhenFailed(pc);
    return pc;
  };
}

/** `options` without the factory's own, its lists copied: the caller may reuse or change the object. */
function copyAttachOptions(
  options: Omit<PeerConnectionFactoryOptions, FactoryOnlyOption>,
): AttachUDPMuxOptions {
  const copy: AttachUDPMuxOptions = { ...options };
  if (Array.isArray(copy.announcedAddresses)) copy.announcedAddresses = [...copy.announcedAddresses];
  if (Array.isArray(copy.stunServers)) {
    copy.stunServers = copy.stunServers.map((s) => (s !== null && typeof s === "object" ? { ...s } : s));
  }
  return copy;
}

/**
 * Close `pc` once its connection state is `"failed"`. werift completes the event when the peer connection
 * closes, which drops this listener; so it lives as long as the peer connection, and holds nothing else.
 */
function closeWhenFailed(pc: FactoryPeerConnection): void {
  pc.connectionStateChange.subscribe((state) => {
    if (state !== "failed") return;
    log("closing a failed peer connection");
    // after every listener has seen "failed" (werift emits "closed" from inside close())
    queueMicrotask(() => closeQuietly(pc, "closing a failed peer connection failed: %O"));
  });
}

function closeQuietly(pc: FactoryPeerConnection, message: string): void {
  pc.close().catch((err: unknown) => log(message, err));
}

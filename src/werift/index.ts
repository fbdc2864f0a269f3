/**
 * `udpmux/werift`: every ICE agent of werift-ice and werift's `RTCPeerConnection` on one UDP port.
 * Imports nothing from werift at runtime; werift and werift-ice are optional peer dependencies.
 */
export { MAX_UFRAGS_PER_AGENT } from "./agent.js";
export { attachUDPMux } from "./attach.js";
export {
  AlreadyGatheringError,
  BundlePolicyError,
  NoAddressToAnnounceError,
  SUPPORTED_WERIFT_VERSIONS,
  UnsupportedWeriftError,
} from "./errors.js";
export type {
  FactoryPeerConnection,
  PeerConnectionClass,
  PeerConnectionFactory,
  PeerConnectionFactoryOptions,
} from "./factory.js";
export { createPeerConnectionFactory } from "./factory.js";
export type { AttachUDPMuxOptions, StunServer } from "./options.js";

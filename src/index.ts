export type { Family } from "./address.js";
export {
  ConnClosedError,
  ConnectionLimitError,
  MuxClosedError,
  NoTcpConnectionError,
  StunErrorResponseError,
  StunTimeoutError,
  UdpmuxError,
} from "./errors.js";
export type { IceMux } from "./ice-mux.js";
export type { BindOptions, Candidate, UDPMuxEvents, UDPMuxStats } from "./mux.js";
export { UDPMux } from "./mux.js";
export type { DropReason, MuxedConnectionEvents, Packet } from "./muxed-connection.js";
export { MuxedConnection } from "./muxed-connection.js";
export type { UDPMuxOptions } from "./options.js";
export { DEFAULTS } from "./options.js";
export { DEFAULT_RECV_BUFFER_SIZE, RECV_BUFFER_WARNING } from "./recv-buffer.js";
export type { MappedAddress } from "./stun.js";
export type { ListenOptions, TCPMuxEvents, TCPMuxStats, TcpRejectReason } from "./tcp/mux.js";
export { TCPMux } from "./tcp/mux.js";
export type { TCPMuxOptions } from "./tcp/options.js";
export { TCP_DEFAULTS } from "./tcp/options.js";

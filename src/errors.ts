/**
 * Error classes of udpmux. Every error carries a stable `code`: test `err.code`, never the message.
 *
 * | code | class | when |
 * | --- | --- | --- |
 * | `ERR_MUX_CLOSED` | {@link MuxClosedError} | getConn/accept/writeTo/getListenAddresses after the mux closed; pending accepts when it closes |
 * | `ERR_CONN_CLOSED` | {@link ConnClosedError} | readFrom/writeTo on a closed conn; pending reads when it closes |
 * | `ERR_CONNECTION_LIMIT` | {@link ConnectionLimitError} | getConn would create a conn beyond `maxConnections` |
 * | `ERR_NO_TCP_CONNECTION` | {@link NoTcpConnectionError} | a TCP conn's writeTo to an address it has no connection from |
 * | `ERR_STUN_TIMEOUT` | {@link StunTimeoutError} | no answer from a STUN server within `timeoutMs` |
 * | `ERR_STUN_ERROR_RESPONSE` | {@link StunErrorResponseError} | a STUN server answered with an error response |
 * | `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE` | `TypeError` | a bad argument (Node's own codes); an unknown option name (`ERR_INVALID_ARG_VALUE`) |
 * | `ERR_OUT_OF_RANGE` | `RangeError` | a number outside its range, e.g. a `*Ms` option a timer can't hold |
 *
 * Every class here (and in `udpmux/werift`) extends {@link UdpmuxError}, so a caller can catch the library's
 * errors as a family and still switch on `code`. Argument errors stay `TypeError`s / `RangeError`s with
 * Node's codes.
 */

/** The base of every error the library defines: `err instanceof UdpmuxError`, then switch on `err.code`. */
export abstract class UdpmuxError extends Error {
  /** Stable, documented, never changed once released. */
  abstract readonly code: string;
}

/** The mux is closed: nothing can be created, sent or accepted through it any more. */
export class MuxClosedError extends UdpmuxError {
  readonly code = "ERR_MUX_CLOSED";
  constructor(options?: ErrorOptions) {
    super("the mux is closed", options);
    this.name = "MuxClosedError";
  }
}

/** The connection is closed, by itself, by `removeConnByUfrag()` or by the mux closing. */
export class ConnClosedError extends UdpmuxError {
  readonly code = "ERR_CONN_CLOSED";
  constructor(options?: ErrorOptions) {
    super("the muxed connection is closed", options);
    this.name = "ConnClosedError";
  }
}

/** `getConn()` would create a conn beyond `maxConnections`. */
export class ConnectionLimitError extends UdpmuxError {
  readonly code = "ERR_CONNECTION_LIMIT";
  constructor(readonly limit: number) {
    super(`the UDP mux already has ${limit} connections (maxConnections)`);
    this.name = "ConnectionLimitError";
  }
}

/**
 * `writeTo` on a `TCPMux` conn to an address that has no TCP connection to this conn: a passive ICE-TCP
 * side never dials, it answers on the connection the peer opened.
 */
export class NoTcpConnectionError extends UdpmuxError {
  readonly code = "ERR_NO_TCP_CONNECTION";
  constructor(
    readonly address: string,
    readonly port: number,
  ) {
    super(`no TCP connection from ${address}:${port} to this conn (a passive ICE-TCP side never dials)`);
    this.name = "NoTcpConnectionError";
  }
}

/** A STUN server did not answer a Binding Request in time. */
export class StunTimeoutError extends UdpmuxError {
  readonly code = "ERR_STUN_TIMEOUT";
  constructor(
    readonly server: { address: string; port: number },
    readonly timeoutMs: number,
  ) {
    super(`no STUN response from ${server.address}:${server.port} within ${timeoutMs} ms`);
    this.name = "StunTimeoutError";
  }
}

/** A STUN server answered a Binding Request with an error response (RFC 5389 §15.6). */
export class StunErrorResponseError extends UdpmuxError {
  readonly code = "ERR_STUN_ERROR_RESPONSE";
  constructor(
    readonly server: { address: string; port: number },
    /** The ERROR-CODE number (e.g. 400), or 0 when the response carried none. */
    readonly errorCode: number,
  ) {
    super(`STUN server ${server.address}:${server.port} answered with error ${errorCode}`);
    this.name = "StunErrorResponseError";
  }
}

type ArgErrorCode = "ERR_INVALID_ARG_TYPE" | "ERR_INVALID_ARG_VALUE";

function describe(value: unknown): string {
  if (typeof value === "string") return `"${value.length > 64 ? `${value.slice(0, 64)}…` : value}"`;
  if (typeof value === "bigint") return `${value}n`;
  if (value === null || typeof value !== "object") return String(value);
  return Array.isArray(value) ? "an array" : `an instance of ${value.constructor?.name ?? "Object"}`;
}

function argError(code: ArgErrorCode, name: string, expected: string, value: unknown): TypeError {
  const err = new TypeError(`Expected \`${name}\` to be ${expected}, got ${describe(value)}`) as TypeError & {
    code: ArgErrorCode;
  };
  err.code = code;
  return err;
}

/** A `TypeError` with Node's `ERR_INVALID_ARG_TYPE` code: the argument has the wrong type. */
export function invalidArgType(name: string, expected: string, value: unknown): TypeError {
  return argError("ERR_INVALID_ARG_TYPE", name, expected, value);
}

/** A `TypeError` with Node's `ERR_INVALID_ARG_VALUE` code: the type is right, the value is not. */
export function invalidArgValue(name: string, expected: string, value: unknown): TypeError {
  return argError("ERR_INVALID_ARG_VALUE", name, expected, value);
}

/**
 * A `TypeError` with Node's `ERR_INVALID_ARG_VALUE` code and a message of its own, for what "expected …,
 * got …" can't say well: an unknown option name (and the one meant), an empty list, an address of a family
 * the socket can't reach. The message says what is wrong and how to fix it.
 */
export function invalidArgValueMessage(message: string): TypeError {
  const err = new TypeError(message) as TypeError & { code: "ERR_INVALID_ARG_VALUE" };
  err.code = "ERR_INVALID_ARG_VALUE";
  return err;
}

/**
 * A `RangeError` with Node's `ERR_OUT_OF_RANGE` code: a number, but not one of `range` (e.g. "an integer
 * from 1 to 2147483647").
 */
export function outOfRange(name: string, range: string, value: number): RangeError {
  const err = new RangeError(`Expected \`${name}\` to be ${range}, got ${describe(value)}`) as RangeError & {
    code: "ERR_OUT_OF_RANGE";
  };
  err.code = "ERR_OUT_OF_RANGE";
  return err;
}

/**
 * Server-reflexive discovery through the shared socket (what pion calls the Universal UDP mux):
 * `getXorMappedAddress(server)` sends a Binding Request to a STUN server and caches the XOR-MAPPED-ADDRESS.
 *
 * - one request in flight per server, shared by every concurrent caller;
 * - the answer is cached for `ttlMs` counted from the response's arrival (not from the request);
 * - a response must match both the transaction ID and the server's address, so a spoofed source can't
 *   answer for the server;
 * - retransmission as RFC 5389 §7.2.1 (RTO 500 ms, doubling) until the caller's `timeoutMs`;
 * - a timeout or an error response clears the entry, so the next call asks again.
 *
 * Bound: one cache entry per server the application asks about, and one pending transaction per entry.
 * Expiry runs on the monotonic clock (`clock.ts`), as the mux's sweep does.
 */
import type { RemoteInfo } from "./address.js";
import * as clock from "./core/clock.js";
import { MuxClosedError, StunErrorResponseError, StunTimeoutError } from "./errors.js";
import type { MappedAddress } from "./stun.js";
import {
  BINDING_SUCCESS,
  encodeBindingRequest,
  messageType,
  parseErrorCode,
  parseMappedAddress,
  transactionKey,
} from "./stun.js";
import {
  validateIpAddress,
  validateObject,
  validatePort,
  validateSignal,
  validateTimeout,
} from "./validate.js";

/** RFC 5389 §7.2.1: the initial retransmission timeout. */
const INITIAL_RTO_MS = 500;

interface ServerEntry {
  address: string;
  port: number;
  value: MappedAddress | undefined;
  expiresAt: number;
  inflight: Promise<MappedAddress> | undefined;
  transaction: string | undefined;
  settle: ((result: MappedAddress | Error) => void) | undefined;
}

export interface StunClientHost {
  /** Send raw bytes from the shared socket, associating nothing. */
  sendRaw(data: Buffer, address: string, port: number): Promise<number>;
}

export class XorMappedAddressClient {
  readonly #entries = new Map<string, ServerEntry>();
  readonly #byTransaction = new Map<string, ServerEntry>();

  constructor(
    private readonly host: StunClientHost,
    private readonly ttlMs: number,
  ) {}

  /** Pending transactions, for the mux's stats. */
  get pending(): number {
    return this.#byTransaction.size;
  }

  /**
   * `UDPMux.getXorMappedAddress(server, options)`, arguments validated: rejects with a `TypeError` or
   * `RangeError` for a bad one, `ERR_MUX_CLOSED` once the mux is `closed`, else as {@link get}.
   */
  query(
    server: { address: string; port: number },
    options: { signal?: AbortSignal; timeoutMs?: number },
    closed: boolean,
  ): Promise<MappedAddress> {
    try {
      validateObject(server, "server");
      const { address } = validateIpAddress(server.address, "server.address");
      validatePort(server.port, "server.port");
      const signal = validateSignal(options);
      const { timeoutMs = 5000 } = options;
      validateTimeout(timeoutMs, "timeoutMs");
      if (closed) throw new MuxClosedError();
      return this.get(address, server.port, timeoutMs, signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  get(address: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<MappedAddress> {
    const key = `${address}|${port}`;
    let entry = this.#entries.get(key);
    if (entry?.value !== undefined && entry.expiresAt > clock.now())
      return Promise.resolve({ ...entry.value });
    if (entry?.inflight === undefined) {
      entry = {
        address,
        port,
        value: undefined,
        expiresAt: 0,
        inflight: undefined,
        transaction: undefined,
        settle: undefined,
      };
      this.#entries.set(key, entry);
      entry.inflight = this.#ask(key, entry, timeoutMs);
    }
    return withSignal(entry.inflight, signal);
  }

  #ask(key: string, entry: ServerEntry, timeoutMs: number): Promise<MappedAddress> {
    const request = encodeBindingRequest();
    const transaction = transactionKey(request);
    entry.transaction = transaction;
    this.#byTransaction.set(transaction, entry);
    return new Promise<MappedAddress>((resolve, reject) => {
      let rto = INITIAL_RTO_MS;
      let retransmit: NodeJS.Timeout | undefined;
      const send = () => {
        this.host.sendRaw(request, entry.address, entry.port).catch((err) => settle(err as Error));
        retransmit = setTimeout(send, rto);
        rto *= 2;
      };
      const deadline = setTimeout(
        () => settle(new StunTimeoutError({ address: entry.address, port: entry.port }, timeoutMs)),
        timeoutMs,
      );
      const settle = (result: MappedAddress | Error) => {
        clearTimeout(deadline);
        clearTimeout(retransmit);
        this.#byTransaction.delete(transaction);
        entry.transaction = undefined;
        entry.settle = undefined;
        entry.inflight = undefined;
        if (result instanceof Error) {
          if (this.#entries.get(key) === entry) this.#entries.delete(key);
          reject(result);
        } else {
          entry.value = result;
          entry.expiresAt = clock.now() + this.ttlMs;
          resolve({ ...result });
        }
      };
      entry.settle = settle;
      send();
    });
  }

  /** Take a response meant for a pending query; `false` when it is not one (wrong ID or wrong source). */
  handleResponse(msg: Buffer, src: RemoteInfo): boolean {
    if (this.#byTransaction.size === 0) return false;
    const entry = this.#byTransaction.get(transactionKey(msg));
    if (entry === undefined || entry.address !== src.address || entry.port !== src.port) return false;
    const server = { address: entry.address, port: entry.port };
    const mapped = messageType(msg) === BINDING_SUCCESS ? parseMappedAddress(msg) : undefined;
    entry.settle?.(mapped ?? new StunErrorResponseError(server, parseErrorCode(msg)));
    return true;
  }

  /** Forget answers past their TTL. */
  sweep(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.inflight === undefined && entry.expiresAt <= now) this.#entries.delete(key);
    }
  }

  /** Reject every pending query with `err` and forget everything. */
  close(err: Error): void {
    for (const entry of [...this.#byTransaction.values()]) entry.settle?.(err);
    this.#entries.clear();
    this.#byTransaction.clear();
  }
}

/** `promise`, or `signal.reason` if the signal aborts first; the listener is removed either way. */
function withSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

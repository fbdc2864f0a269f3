/**
 * The transaction table (`src/core/transactions.ts`) over an injected clock: no sockets, no fake timers.
 */
import { describe, expect, it } from "vitest";
import { type TransactionOwner, Transactions } from "../../src/core/transactions.js";

const TIMEOUT_MS = 1000;
const SERVER = "192.0.2.1";
const PORT = 3478;

const owner = (): TransactionOwner & { name: string } => ({ name: "conn", transactions: undefined });
const table = (maxPerOwner = 4) =>
  new Transactions<ReturnType<typeof owner>>({ maxPerOwner, timeoutMs: TIMEOUT_MS });

describe("Transactions", () => {
  it("routes a response to the owner, once, until the transaction expires", () => {
    const t = table();
    const a = owner();
    t.add(a, "tx1", SERVER, PORT, 0);
    t.add(a, "tx2", SERVER, PORT, 0);
    expect(t.take("tx1", SERVER, PORT, TIMEOUT_MS - 1)).toBe(a);
    expect(t.take("tx1", SERVER, PORT, TIMEOUT_MS - 1)).toBeUndefined(); // one answer each
    expect(t.take("tx2", SERVER, PORT, TIMEOUT_MS)).toBeUndefined(); // expired: not routed …
    expect(t.size).toBe(0); // … and forgotten
    expect(a.transactions?.size).toBe(0);
  });

  it("routes a response only from the address and port the request went to", () => {
    const t = table();
    const a = owner();
    t.add(a, "tx", SERVER, PORT, 0);
    expect(t.take("tx", "192.0.2.2", PORT, 1)).toBeUndefined(); // another host
    expect(t.take("tx", SERVER, PORT + 1, 1)).toBeUndefined(); // another port
    expect(t.size).toBe(1); // a spoofed answer consumes nothing
    expect(t.take("tx", SERVER, PORT, 1)).toBe(a);
  });

  it("sweeps what expired, in insertion order, and keeps what is live", () => {
    const t = table();
    const a = owner();
    t.add(a, "old", SERVER, PORT, 0);
    t.add(a, "new", SERVER, PORT, 500);
    t.sweep(TIMEOUT_MS - 1);
    expect(t.size).toBe(2);
    t.sweep(TIMEOUT_MS);
    expect(t.size).toBe(1);
    expect([...(a.transactions ?? [])]).toEqual(["new"]);
    t.sweep(500 + TIMEOUT_MS);
    expect(t.size).toBe(0);
  });

  it("a retransmission (the same key) is refreshed: it expires from its last send", () => {
    const t = table();
    const a = owner();
    t.add(a, "tx", SERVER, PORT, 0);
    t.add(a, "other", SERVER, PORT, 100);
    t.add(a, "tx", SERVER, PORT, 200); // retransmitted: now the newest
    t.sweep(100 + TIMEOUT_MS); // "other" expires; "tx" (sent again at 200) doesn't
    expect(t.size).toBe(1);
    expect(t.take("tx", SERVER, PORT, 200 + TIMEOUT_MS - 1)).toBe(a);
  });

  it("an owner at maxPerOwner forgets its oldest transaction, and nobody else's", () => {
    const t = table(2);
    const [a, b] = [owner(), owner()];
    t.add(b, "b1", SERVER, PORT, 0);
    t.add(a, "a1", SERVER, PORT, 1);
    t.add(a, "a2", SERVER, PORT, 2);
    t.add(a, "a3", SERVER, PORT, 3); // evicts a1
    expect(t.size).toBe(3);
    expect([...(a.transactions ?? [])]).toEqual(["a2", "a3"]);
    expect(t.take("a1", SERVER, PORT, 4)).toBeUndefined();
    expect(t.take("a2", SERVER, PORT, 4)).toBe(a);
    expect(t.take("b1", SERVER, PORT, 4)).toBe(b);
  });

  it("forget() removes a transaction only for its owner (a failed send's undo)", () => {
    const t = table();
    const [a, b] = [owner(), owner()];
    t.add(a, "tx", SERVER, PORT, 0);
    t.forget("tx", b);
    expect(t.size).toBe(1);
    t.forget("tx", a);
    expect(t.size).toBe(0);
    expect(a.transactions?.size).toBe(0);
  });

  it("removeOwner forgets everything the owner had; clear() forgets everything", () => {
    const t = table();
    const [a, b] = [owner(), owner()];
    t.add(a, "a1", SERVER, PORT, 0);
    t.add(a, "a2", SERVER, PORT, 0);
    t.add(b, "b1", SERVER, PORT, 0);
    t.removeOwner(a);
    expect(a.transactions).toBeUndefined();
    expect(t.size).toBe(1);
    expect(t.take("a1", SERVER, PORT, 1)).toBeUndefined();
    t.clear();
    expect(t.take("b1", SERVER, PORT, 1)).toBeUndefined();
  });

  it("makes an owner's key set on its first request only (most conns never send one)", () => {
    const t = table();
    const a = owner();
    expect(t.take("nothing", SERVER, PORT, 0)).toBeUndefined();
    expect(a.transactions).toBeUndefined();
    t.add(a, "tx", SERVER, PORT, 0);
    expect(a.transactions).toEqual(new Set(["tx"]));
  });
});

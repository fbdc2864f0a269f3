/**
 * The ownership rules (README "Ownership rules", `src/core/associations.ts`) as a table of every
 * transition, driven by an injected clock: no sockets, no fake timers. "me" is the owner a check or send is
 * for; "them" another owner. The address starts free, or associated (at t = 0) weak by an unverified
 * check, weak by its owner's own send, or strong by a verified check; the action comes at t = IDLE_MS − 1
 * ("not elapsed") or t = IDLE_MS ("elapsed"); "cap reached" means "me" already holds MAX addresses.
 */
import { describe, expect, it } from "vitest";
import {
  type Association,
  type AssociationOwner,
  Associations,
  STRONG,
} from "../../src/core/associations.js";

const MAX = 3;
const IDLE_MS = 1000;
const ADDRESS = "192.0.2.1";
const PORT = 5000;

interface Owner extends AssociationOwner<string, string> {
  readonly conn: string;
  readonly addresses: Association<Owner, string>[];
}

const owner = (name: string): Owner => ({ conn: name, addresses: [] });

type From = "none" | "weak-by-check" | "weak-by-send" | "strong";
type Action = "unverified check" | "verified check" | "own send";

/** What the address is now: `none`, or `<kind>:<owner>`. */
function stateOf(table: Associations<Owner, string>): string {
  const a = table.get(ADDRESS, PORT);
  if (a === undefined) return "none";
  const kind = a.strength === STRONG ? "strong" : a.byCheck ? "weak-by-check" : "weak-by-send";
  return `${kind}:${a.conn}`;
}

/** Every association is in its owner's list and the map, and nothing else is. */
function expectConsistent(table: Associations<Owner, string>, owners: Owner[]): void {
  let listed = 0;
  for (const o of owners) {
    expect(o.addresses.length).toBeLessThanOrEqual(MAX);
    for (const a of o.addresses) {
      expect(a.owner).toBe(o);
      expect(a.conn).toBe(o.conn);
      expect(table.get(a.address, a.port)).toBe(a);
      listed++;
    }
  }
  expect(table.size).toBe(listed);
}

// biome-ignore format: a table reads best aligned
const TRANSITIONS: [From, "-" | "same" | "other", Action, "not elapsed" | "elapsed", "not reached" | "reached", string, string][] = [
  ["none"         , "-"    , "unverified check", "not elapsed", "not reached", "weak-by-check:me"  , "taken"],
  ["none"         , "-"    , "unverified check", "not elapsed", "reached"    , "none"              , "capped"],
  ["none"         , "-"    , "unverified check", "elapsed"    , "not reached", "weak-by-check:me"  , "taken"],
  ["none"         , "-"    , "unverified check", "elapsed"    , "reached"    , "none"              , "capped"],
  ["none"         , "-"    , "verified check"  , "not elapsed", "not reached", "strong:me"         , "taken"],
  ["none"         , "-"    , "verified check"  , "not elapsed", "reached"    , "none"              , "capped"],
  ["none"         , "-"    , "verified check"  , "elapsed"    , "not reached", "strong:me"         , "taken"],
  ["none"         , "-"    , "verified check"  , "elapsed"    , "reached"    , "none"              , "capped"],
  ["none"         , "-"    , "own send"        , "not elapsed", "not reached", "weak-by-send:me"   , "created"],
  ["none"         , "-"    , "own send"        , "not elapsed", "reached"    , "none"              , "-"],
  ["none"         , "-"    , "own send"        , "elapsed"    , "not reached", "weak-by-send:me"   , "created"],
  ["none"         , "-"    , "own send"        , "elapsed"    , "reached"    , "none"              , "-"],
  ["weak-by-check", "same" , "unverified check", "not elapsed", "not reached", "weak-by-check:me"  , "kept"],
  ["weak-by-check", "same" , "unverified check", "not elapsed", "reached"    , "weak-by-check:me"  , "kept"],
  ["weak-by-check", "same" , "unverified check", "elapsed"    , "not reached", "weak-by-check:me"  , "kept"],
  ["weak-by-check", "same" , "unverified check", "elapsed"    , "reached"    , "weak-by-check:me"  , "kept"],
  ["weak-by-check", "same" , "verified check"  , "not elapsed", "not reached", "strong:me"         , "confirmed"],
  ["weak-by-check", "same" , "verified check"  , "not elapsed", "reached"    , "strong:me"         , "confirmed"],
  ["weak-by-check", "same" , "verified check"  , "elapsed"    , "not reached", "strong:me"         , "confirmed"],
  ["weak-by-check", "same" , "verified check"  , "elapsed"    , "reached"    , "strong:me"         , "confirmed"],
  ["weak-by-check", "same" , "own send"        , "not elapsed", "not reached", "weak-by-check:me"  , "-"],
  ["weak-by-check", "same" , "own send"        , "not elapsed", "reached"    , "weak-by-check:me"  , "-"],
  ["weak-by-check", "same" , "own send"        , "elapsed"    , "not reached", "weak-by-check:me"  , "-"],
  ["weak-by-check", "same" , "own send"        , "elapsed"    , "reached"    , "weak-by-check:me"  , "-"],
  ["weak-by-check", "other", "unverified check", "not elapsed", "not reached", "weak-by-check:them", "kept"],
  ["weak-by-check", "other", "unverified check", "not elapsed", "reached"    , "weak-by-check:them", "kept"],
  ["weak-by-check", "other", "unverified check", "elapsed"    , "not reached", "weak-by-check:them", "kept"],
  ["weak-by-check", "other", "unverified check", "elapsed"    , "reached"    , "weak-by-check:them", "kept"],
  ["weak-by-check", "other", "verified check"  , "not elapsed", "not reached", "strong:me"         , "moved"],
  ["weak-by-check", "other", "verified check"  , "not elapsed", "reached"    , "weak-by-check:them", "capped"],
  ["weak-by-check", "other", "verified check"  , "elapsed"    , "not reached", "strong:me"         , "moved"],
  ["weak-by-check", "other", "verified check"  , "elapsed"    , "reached"    , "weak-by-check:them", "capped"],
  ["weak-by-check", "other", "own send"        , "not elapsed", "not reached", "weak-by-check:them", "-"],
  ["weak-by-check", "other", "own send"        , "not elapsed", "reached"    , "weak-by-check:them", "-"],
  ["weak-by-check", "other", "own send"        , "elapsed"    , "not reached", "weak-by-check:them", "-"],
  ["weak-by-check", "other", "own send"        , "elapsed"    , "reached"    , "weak-by-check:them", "-"],
  ["weak-by-send" , "same" , "unverified check", "not elapsed", "not reached", "weak-by-send:me"   , "kept"],
  ["weak-by-send" , "same" , "unverified check", "not elapsed", "reached"    , "weak-by-send:me"   , "kept"],
  ["weak-by-send" , "same" , "unverified check", "elapsed"    , "not reached", "weak-by-send:me"   , "kept"],
  ["weak-by-send" , "same" , "unverified check", "elapsed"    , "reached"    , "weak-by-send:me"   , "kept"],
  ["weak-by-send" , "same" , "verified check"  , "not elapsed", "not reached", "strong:me"         , "confirmed"],
  ["weak-by-send" , "same" , "verified check"  , "not elapsed", "reached"    , "strong:me"         , "confirmed"],
  ["weak-by-send" , "same" , "verified check"  , "elapsed"    , "not reached", "strong:me"         , "confirmed"],
  ["weak-by-send" , "same" , "verified check"  , "elapsed"    , "reached"    , "strong:me"         , "confirmed"],
  ["weak-by-send" , "same" , "own send"        , "not elapsed", "not reached", "weak-by-send:me"   , "-"],
  ["weak-by-send" , "same" , "own send"        , "not elapsed", "reached"    , "weak-by-send:me"   , "-"],
  ["weak-by-send" , "same" , "own send"        , "elapsed"    , "not reached", "weak-by-send:me"   , "-"],
  ["weak-by-send" , "same" , "own send"        , "elapsed"    , "reached"    , "weak-by-send:me"   , "-"],
  ["weak-by-send" , "other", "unverified check", "not elapsed", "not reached", "weak-by-send:them" , "kept"],
  ["weak-by-send" , "other", "unverified check", "not elapsed", "reached"    , "weak-by-send:them" , "kept"],
  ["weak-by-send" , "other", "unverified check", "elapsed"    , "not reached", "weak-by-send:them" , "kept"],
  ["weak-by-send" , "other", "unverified check", "elapsed"    , "reached"    , "weak-by-send:them" , "kept"],
  ["weak-by-send" , "other", "verified check"  , "not elapsed", "not reached", "strong:me"         , "moved"],
  ["weak-by-send" , "other", "verified check"  , "not elapsed", "reached"    , "weak-by-send:them" , "capped"],
  ["weak-by-send" , "other", "verified check"  , "elapsed"    , "not reached", "strong:me"         , "moved"],
  ["weak-by-send" , "other", "verified check"  , "elapsed"    , "reached"    , "weak-by-send:them" , "capped"],
  ["weak-by-send" , "other", "own send"        , "not elapsed", "not reached", "weak-by-send:them" , "-"],
  ["weak-by-send" , "other", "own send"        , "not elapsed", "reached"    , "weak-by-send:them" , "-"],
  ["weak-by-send" , "other", "own send"        , "elapsed"    , "not reached", "weak-by-send:them" , "-"],
  ["weak-by-send" , "other", "own send"        , "elapsed"    , "reached"    , "weak-by-send:them" , "-"],
  ["strong"       , "same" , "unverified check", "not elapsed", "not reached", "strong:me"         , "kept"],
  ["strong"       , "same" , "unverified check", "not elapsed", "reached"    , "strong:me"         , "kept"],
  ["strong"       , "same" , "unverified check", "elapsed"    , "not reached", "strong:me"         , "kept"],
  ["strong"       , "same" , "unverified check", "elapsed"    , "reached"    , "strong:me"         , "kept"],
  ["strong"       , "same" , "verified check"  , "not elapsed", "not reached", "strong:me"         , "confirmed"],
  ["strong"       , "same" , "verified check"  , "not elapsed", "reached"    , "strong:me"         , "confirmed"],
  ["strong"       , "same" , "verified check"  , "elapsed"    , "not reached", "strong:me"         , "confirmed"],
  ["strong"       , "same" , "verified check"  , "elapsed"    , "reached"    , "strong:me"         , "confirmed"],
  ["strong"       , "same" , "own send"        , "not elapsed", "not reached", "strong:me"         , "-"],
  ["strong"       , "same" , "own send"        , "not elapsed", "reached"    , "strong:me"         , "-"],
  ["strong"       , "same" , "own send"        , "elapsed"    , "not reached", "strong:me"         , "-"],
  ["strong"       , "same" , "own send"        , "elapsed"    , "reached"    , "strong:me"         , "-"],
  ["strong"       , "other", "unverified check", "not elapsed", "not reached", "strong:them"       , "kept"],
  ["strong"       , "other", "unverified check", "not elapsed", "reached"    , "strong:them"       , "kept"],
  ["strong"       , "other", "unverified check", "elapsed"    , "not reached", "strong:them"       , "kept"],
  ["strong"       , "other", "unverified check", "elapsed"    , "reached"    , "strong:them"       , "kept"],
  ["strong"       , "other", "verified check"  , "not elapsed", "not reached", "strong:them"       , "kept"],
  ["strong"       , "other", "verified check"  , "not elapsed", "reached"    , "strong:them"       , "kept"],
  ["strong"       , "other", "verified check"  , "elapsed"    , "not reached", "strong:me"         , "moved"],
  ["strong"       , "other", "verified check"  , "elapsed"    , "reached"    , "strong:them"       , "capped"],
  ["strong"       , "other", "own send"        , "not elapsed", "not reached", "strong:them"       , "-"],
  ["strong"       , "other", "own send"        , "not elapsed", "reached"    , "strong:them"       , "-"],
  ["strong"       , "other", "own send"        , "elapsed"    , "not reached", "strong:them"       , "-"],
  ["strong"       , "other", "own send"        , "elapsed"    , "reached"    , "strong:them"       , "-"],
];

describe("ownership transitions", () => {
  it("covers every combination once", () => {
    const keys = new Set(TRANSITIONS.map((row) => row.slice(0, 5).join("|")));
    expect(keys.size).toBe(TRANSITIONS.length);
    expect(TRANSITIONS.length).toBe(1 * 3 * 2 * 2 + 3 * 2 * 3 * 2 * 2);
  });

  it.each(TRANSITIONS)(
    "%s (owner: %s) + %s, idle %s, cap %s → %s (%s)",
    (from, who, action, idle, cap, expected, outcome) => {
      const table = new Associations<Owner, string>({ maxPerOwner: MAX, idleMs: IDLE_MS });
      const me = owner("me");
      const them = owner("them");
      const holder = who === "same" ? me : them;
      if (from === "weak-by-check") table.onCheck(holder, ADDRESS, PORT, false, 0);
      if (from === "weak-by-send") table.onSend(holder, ADDRESS, PORT, 0);
      if (from === "strong") table.onCheck(holder, ADDRESS, PORT, true, 0);
      expect(stateOf(table)).toBe(from === "none" ? "none" : `${from}:${holder.conn}`);
      if (cap === "reached") {
        for (let port = 1; me.addresses.length < MAX; port++) table.onSend(me, "198.51.100.1", port, 0);
      }
      const now = idle === "elapsed" ? IDLE_MS : IDLE_MS - 1;
      const before = table.get(ADDRESS, PORT);
      const lastSeen = before?.lastSeen;

      let result: string;
      if (action === "own send")
        result = table.onSend(me, ADDRESS, PORT, now) === undefined ? "-" : "created";
      else result = table.onCheck(me, ADDRESS, PORT, action === "verified check", now);

      expect(stateOf(table)).toBe(expected);
      expect(result).toBe(outcome);
      const after = table.get(ADDRESS, PORT);
      if (result === "kept" || result === "capped" || result === "-") {
        expect(after).toBe(before); // the very same association: nothing moved, nothing refreshed
        expect(after?.lastSeen).toBe(lastSeen);
      } else {
        expect(after?.lastSeen).toBe(now); // taken, confirmed, moved, created: stamped with the injected time
      }
      expectConsistent(table, [me, them]);
    },
  );
});

describe("Associations", () => {
  const limits = { maxPerOwner: MAX, idleMs: IDLE_MS };

  it("measures a strong owner's idleness from its last verified check, not from creation", () => {
    const table = new Associations<Owner, string>(limits);
    const [a, b] = [owner("a"), owner("b")];
    table.onCheck(a, ADDRESS, PORT, true, 0);
    expect(table.onCheck(a, ADDRESS, PORT, true, 900)).toBe("confirmed");
    expect(table.onCheck(b, ADDRESS, PORT, true, IDLE_MS)).toBe("kept"); // 100 ms after a's last check
    expect(table.onCheck(a, ADDRESS, PORT, false, 1800)).toBe("kept"); // unverified: refreshes nothing
    expect(table.onCheck(b, ADDRESS, PORT, true, 900 + IDLE_MS)).toBe("moved");
    expect(table.get(ADDRESS, PORT)?.owner).toBe(b);
    expect(a.addresses).toEqual([]);
  });

  it("dropUnverified: the owner's first password takes what unverified checks gave it, and only that", () => {
    const table = new Associations<Owner, string>(limits);
    const [a, b] = [owner("a"), owner("b")];
    table.onCheck(a, ADDRESS, 1, false, 0); // weak by check: goes
    table.onSend(a, ADDRESS, 2, 0); // weak by its own send: stays
    table.onCheck(a, ADDRESS, 3, true, 0); // strong: stays
    table.onCheck(b, ADDRESS, 4, false, 0); // someone else's: stays
    table.dropUnverified(a);
    expect(table.get(ADDRESS, 1)).toBeUndefined();
    expect(a.addresses.map((x) => x.port)).toEqual([2, 3]);
    expect(table.get(ADDRESS, 4)?.owner).toBe(b);
    expectConsistent(table, [a, b]);
  });

  it("a check that confirms a weak-by-check association makes it strong, and then dropUnverified keeps it", () => {
    const table = new Associations<Owner, string>(limits);
    const a = owner("a");
    table.onCheck(a, ADDRESS, PORT, false, 0);
    table.onCheck(a, ADDRESS, PORT, true, 5);
    table.dropUnverified(a);
    expect(stateOf(table)).toBe("strong:a");
  });

  it("undoSend removes the association a failed send made, unless it changed since", () => {
    const table = new Associations<Owner, string>(limits);
    const [a, b] = [owner("a"), owner("b")];
    const made = table.onSend(a, ADDRESS, PORT, 0)!;
    table.undoSend(made);
    expect(table.get(ADDRESS, PORT)).toBeUndefined();
    expect(a.addresses).toEqual([]);
    const again = table.onSend(a, ADDRESS, PORT, 0)!;
    expect(table.onCheck(b, ADDRESS, PORT, true, 1)).toBe("moved"); // a weak one moves at once
    table.undoSend(again); // the send failed after the address moved: b keeps it
    expect(stateOf(table)).toBe("strong:b");
    expectConsistent(table, [a, b]);
  });

  it("removeOwner frees every address the owner had, and nobody else's", () => {
    const table = new Associations<Owner, string>(limits);
    const [a, b] = [owner("a"), owner("b")];
    table.onCheck(a, ADDRESS, 1, true, 0);
    table.onSend(a, ADDRESS, 2, 0);
    table.onSend(b, ADDRESS, 3, 0);
    table.removeOwner(a);
    expect(a.addresses).toEqual([]);
    expect(table.size).toBe(1);
    expect(table.onCheck(b, ADDRESS, 1, false, 0)).toBe("taken"); // free again
    expectConsistent(table, [a, b]);
  });

  it("remembers the path a check came by, follows a verified check to a new one, and removeVia forgets a path", () => {
    const table = new Associations<Owner, string>(limits);
    const [a, b] = [owner("a"), owner("b")];
    table.onCheck(a, ADDRESS, 1, false, 0, "relay");
    table.onCheck(a, ADDRESS, 2, true, 0, "relay");
    table.onCheck(b, ADDRESS, 3, false, 0); // the socket
    expect(table.get(ADDRESS, 1)?.via).toBe("relay");
    expect(table.get(ADDRESS, 3)?.via).toBeUndefined();
    table.onCheck(a, ADDRESS, 1, false, 1); // unverified, from the socket: the path stays
    expect(table.get(ADDRESS, 1)?.via).toBe("relay");
    table.onCheck(a, ADDRESS, 2, true, 1); // verified, from the socket: answered there from now on
    expect(table.get(ADDRESS, 2)?.via).toBeUndefined();
    expect(table.onSend(b, ADDRESS, 4, 0)?.via).toBeUndefined(); // own sends go out the socket
    table.removeVia("relay");
    expect(table.get(ADDRESS, 1)).toBeUndefined();
    expect(a.addresses.map((x) => x.port)).toEqual([2]);
    expect(table.size).toBe(3);
    expectConsistent(table, [a, b]);
  });
});

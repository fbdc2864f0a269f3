/**
 * Watched fields: how the adapter sees every assignment to a werift `Connection`'s `localUsername` and
 * `localPassword` (and pins `stunServer`) without costing the agent its fast properties.
 *
 * werift makes the three plain own data fields (see `internals.ts`). Accessors defined on the instance
 * over them would turn it into a dictionary-mode object in V8 (reconfiguring a data field that is not the
 * newest one normalizes the object): ~3 KiB more heap per agent, and slower property access in every werift
 * method. A prototype per agent, between the instance and its class, would not do either: V8 gives an
 * object whose prototype was changed a map of its own, and every field added later (the adapter's method
 * hooks, werift's own) copies its descriptors again. Instead:
 *
 * 1. The class prototype (werift's `Connection.prototype`, once per werift copy) gets the three accessors.
 *    An agent that is not attached never reaches them: its own fields shadow them, and werift's
 *    constructor defines its fields with `Object.defineProperty`, which calls no setter. (Should some
 *    version assign them instead, the setter makes the same own data field for any object it does not
 *    watch, and the getter of such an object reads `undefined`, as a missing field would.)
 * 2. An attached agent loses the three own fields, together with every own field made after the first of
 *    them, newest first: deleting an object's newest property undoes its last map transition, so the
 *    object stays fast. The other removed fields are put back as they were (same descriptors, same order).
 *    Every attached agent of a class goes through the same transitions and so shares the same maps.
 * 3. The accessors find the agent's {@link WatchedFields} by the receiver in a `WeakMap`: they close over
 *    nothing per agent.
 *
 * Should an instance have a non-configurable own field (no werift version has one), its fields become
 * accessors on the instance: correct, only heavier.
 */

/** What the accessors of an attached agent read and write. */
export interface WatchedFields {
  readUfrag(): string;
  assignUfrag(value: string): void;
  readPassword(): string;
  assignPassword(value: string): void;
  /** `stunServer` reads as `undefined` whatever is assigned; this hears the assignment. */
  assignStunServer(value: unknown): void;
}

const WATCHED = ["localUsername", "localPassword", "stunServer"] as const;

const owners = new WeakMap<object, WatchedFields>();

/** An own data field as werift's constructor defines it, on an object nobody watches. */
function defineField(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { configurable: true, enumerable: true, writable: true, value });
}

/** The accessors, one set for every agent: `this` is the agent. */
const accessors: Record<(typeof WATCHED)[number], PropertyDescriptor> = {
  localUsername: {
    configurable: true,
    enumerable: true,
    get(this: object) {
      return owners.get(this)?.readUfrag();
    },
    set(this: object, value: string) {
      const owner = owners.get(this);
      if (owner === undefined) defineField(this, "localUsername", value);
      else owner.assignUfrag(value);
    },
  },
  localPassword: {
    configurable: true,
    enumerable: true,
    get(this: object) {
      return owners.get(this)?.readPassword();
    },
    set(this: object, value: string) {
      const owner = owners.get(this);
      if (owner === undefined) defineField(this, "localPassword", value);
      else owner.assignPassword(value);
    },
  },
  stunServer: {
    configurable: true,
    enumerable: true,
    get: () => undefined,
    set(this: object, value: unknown) {
      const owner = owners.get(this);
      if (owner === undefined) defineField(this, "stunServer", value);
      else owner.assignStunServer(value);
    },
  },
};

/** Class prototypes that have the accessors (one per werift copy of `Connection`). */
const hooked = new WeakSet<object>();

/** Give `proto` the accessors, once; it must not have fields of these names of its own. */
function hookPrototype(proto: object): boolean {
  if (hooked.has(proto)) return true;
  if (WATCHED.some((field) => Object.hasOwn(proto, field))) return false;
  Object.defineProperties(proto, accessors);
  hooked.add(proto);
  return true;
}

/**
 * Route every read and assignment of `connection`'s `localUsername`, `localPassword` and `stunServer` to
 * `owner`, from now on. The fields' current values are not carried over: `owner` holds them already.
 * Each field must be a configurable own data property (`checkConnection` made sure).
 */
export function watchFields(connection: object, owner: WatchedFields): void {
  owners.set(connection, owner);
  const c = connection as Record<PropertyKey, unknown>;
  const keys = Reflect.ownKeys(c);
  const first = Math.min(...WATCHED.map((field) => keys.indexOf(field)));
  const tail = first < 0 ? [] : keys.slice(first);
  const descriptors = tail.map((key) => Object.getOwnPropertyDescriptor(c, key)!);
  const proto = Object.getPrototypeOf(c) as object | null;
  if (first < 0 || descriptors.some((d) => !d.configurable) || proto === null || !hookPrototype(proto)) {
    for (const field of WATCHED) Object.defineProperty(c, field, accessors[field]!);
    return;
  }
  // Newest first: each delete undoes the newest map transition (an older one would make a dictionary).
  for (let i = tail.length - 1; i >= 0; i--) delete c[tail[i]!];
  for (const [i, key] of tail.entries()) {
    if (!(WATCHED as readonly PropertyKey[]).includes(key)) Object.defineProperty(c, key, descriptors[i]!);
  }
}

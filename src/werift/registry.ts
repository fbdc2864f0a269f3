/**
 * Which werift agent owns which local ufrag on a mux, and which targets are attached.
 *
 * werift draws its ufrags from only 16 bits (`randomBytes(4).toString("hex").slice(0, 4)`, four hex
 * characters — RFC 8445 §5.3 asks for at least 24 bits): with a few hundred agents on one mux two of them
 * will draw the same ufrag, and a mux routes first contact by ufrag alone. The registry lets the adapter see
 * the clash and give the newcomer a fresh ufrag before it is ever advertised.
 *
 * Both maps are `WeakMap`s keyed by the mux or the target: state per instance, kept outside it because the
 * adapter must not reach into the core's private state or add fields to werift's objects.
 */
import { randomBytes } from "node:crypto";

/** A registered owner: anything with identity (the adapter's per-agent binding). */
export type UfragOwner = object;

/** The ufrags of one mux's werift agents. */
export class UfragRegistry {
  readonly #owners = new Map<string, UfragOwner>();

  /** The agent that owns `ufrag` on this mux, if any. */
  ownerOf(ufrag: string): UfragOwner | undefined {
    return this.#owners.get(ufrag);
  }

  claim(ufrag: string, owner: UfragOwner): void {
    this.#owners.set(ufrag, owner);
  }

  /** Forget `ufrag` if `owner` still owns it. */
  release(ufrag: string, owner: UfragOwner): void {
    if (this.#owners.get(ufrag) === owner) this.#owners.delete(ufrag);
  }

  /** A ufrag no agent on this mux owns: 16 ice-chars (96 random bits, base64 of 12 bytes has no padding). */
  fresh(): string {
    for (;;) {
      const ufrag = randomBytes(12).toString("base64");
      if (!this.#owners.has(ufrag)) return ufrag;
    }
  }
}

const registries = new WeakMap<object, UfragRegistry>();

/** The registry of `mux`'s werift agents. */
export function registryFor(mux: object): UfragRegistry {
  let registry = registries.get(mux);
  if (registry === undefined) {
    registry = new UfragRegistry();
    registries.set(mux, registry);
  }
  return registry;
}

const attached = new WeakSet<object>();

/** Whether `target` (an agent or a peer connection) was attached already. */
export function isAttached(target: object): boolean {
  return attached.has(target);
}

/** Mark `target` attached; `false` if it already was. */
export function markAttached(target: object): boolean {
  if (attached.has(target)) return false;
  attached.add(target);
  return true;
}

const closeWithMux = new WeakMap<object, Set<{ close(): Promise<void> }>>();

/**
 * Close `target` when `mux` closes — for a peer connection that may have no ICE transport (and so no conn
 * whose `'close'` would tell it) yet. Returns the function that forgets it again, for its own close.
 * One `'close'` listener per mux, whatever the number of targets.
 */
export function closeWhenMuxCloses(
  mux: { once(event: "close", listener: () => void): unknown },
  target: { close(): Promise<void> },
  onCloseError: (err: unknown) => void,
): () => void {
  let targets = closeWithMux.get(mux);
  if (targets === undefined) {
    const set = new Set<{ close(): Promise<void> }>();
    targets = set;
    closeWithMux.set(mux, set);
    mux.once("close", () => {
      for (const t of set) t.close().catch(onCloseError);
      set.clear();
    });
  }
  targets.add(target);
  const set = targets;
  return () => set.delete(target);
}

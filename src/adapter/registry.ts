/**
 * Which agent owns which local ufrag on a mux, and which targets close with it (whether a target is attached
 * is the werift adapter's one `WeakMap`: `src/werift/hooks.ts`). Stack-agnostic: it imports
 * nothing from werift (the werift adapter's facts are in `src/werift/internals.ts`).
 *
 * werift, for one, draws its ufrags from only 16 bits (`randomBytes(4).toString("hex").slice(0, 4)`, four hex
 * characters — RFC 8445 §5.3 asks for at least 24 bits): a peer can guess one and squat it before the agent
 * registers it, and with a few hundred agents on one mux two of them will draw the same one (a mux routes
 * first contact by ufrag alone). So the adapter gives every attached agent a ufrag of its own drawing, at
 * attach and at every ICE restart: {@link UfragRegistry.fresh}, 96 random bits, never one an agent of the
 * mux owns.
 *
 * Both maps are `WeakMap`s keyed by the mux or the target: state per instance, kept outside it because the
 * adapter must not reach into the core's private state or add fields to the stack's objects.
 */
import { randomBytes } from "node:crypto";
import createDebug from "debug";

const log = createDebug("udpmux:adapter");

/** A registered owner: anything with identity (the adapter's per-agent binding). */
export type UfragOwner = object;

/** The ufrags of one mux's agents. */
export class UfragRegistry {
  readonly #owners = new Map<string, UfragOwner>();

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

/** The registry of `mux`'s agents. */
export function registryFor(mux: object): UfragRegistry {
  let registry = registries.get(mux);
  if (registry === undefined) {
    registry = new UfragRegistry();
    registries.set(mux, registry);
  }
  return registry;
}

const closeWithMux = new WeakMap<object, Set<{ close(): Promise<void> }>>();

/**
 * Close `target` when `mux` closes — for a peer connection that may have no ICE transport (and so no conn
 * whose `'close'` would tell it) yet; {@link stopClosingWithMux} forgets it again, for its own close.
 * One `'close'` listener per mux, whatever the number of targets. That listener outlives every target, so
 * it captures the target set and nothing else: a closure made next to a target (an error callback of the
 * caller, say) would share the caller's closure context and keep that target alive as long as the mux.
 * Nothing per target but its entry in the set (no function to forget it: a closure per target).
 */
export function closeWhenMuxCloses(
  mux: { once(event: "close", listener: () => void): unknown },
  target: { close(): Promise<void> },
): void {
  let targets = closeWithMux.get(mux);
  if (targets === undefined) {
    targets = new Set();
    closeWithMux.set(mux, targets);
    mux.once("close", closeAllOf(targets));
  }
  targets.add(target);
}

/** Undo {@link closeWhenMuxCloses}: `target` closed on its own. */
export function stopClosingWithMux(mux: object, target: { close(): Promise<void> }): void {
  closeWithMux.get(mux)?.delete(target);
}

/** The mux's `'close'` listener; made here so that its closure holds `targets` only. */
function closeAllOf(targets: Set<{ close(): Promise<void> }>): () => void {
  return () => {
    for (const t of targets) t.close().catch(logCloseError);
    targets.clear();
  };
}

function logCloseError(err: unknown): void {
  log("closing the peer connection failed: %O", err);
}

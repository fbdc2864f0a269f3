/**
 * The candidates an attached agent adds beyond werift's own, one gather's worth (`AgentBinding`'s
 * `extraCandidates`): a host candidate for every announced address after the first of its family (werift's
 * own host protocol advertises the first), and a srflx candidate for each of `options.stunServers`, asked
 * through the mux (`getXorMappedAddress`). Each waits until its family's host protocol has its candidate —
 * the base it relates to — and is dropped if the agent closed or an ICE restart began another generation
 * meanwhile (that generation's gather adds its own). The descriptions are stack-agnostic
 * (`adapter/candidates.ts`); making and advertising werift's `Candidate` is `internals.ts`'s.
 */
import type { CandidateSpec } from "../adapter/candidates.js";
import { hostCandidate, srflxCandidate } from "../adapter/candidates.js";
import type { Family } from "../address.js";
import type { UDPMux } from "../mux.js";
import type { WeriftCandidate, WeriftConnection } from "./internals.js";
import { gatherTimeoutMs, localCandidateSettled, makeCandidate } from "./internals.js";
import { weriftLog as log } from "./log.js";
import type { ResolvedAttachOptions } from "./options.js";
import type { MuxTransport } from "./transport.js";

/** What a gather needs of its agent; made per gather (agents keep no extra state for it). */
export interface GatherAgent {
  readonly connection: WeriftConnection;
  readonly mux: Pick<UDPMux, "getXorMappedAddress">;
  readonly options: ResolvedAttachOptions;
  /** The agent's ufrag when the gather began: the candidates' ufrag. */
  readonly ufrag: string;
  /** The family's transport (its host protocol's), once werift made that protocol. */
  host(family: Family): MuxTransport | undefined;
  /** Whether the agent closed (detached from the mux). */
  detached(): boolean;
  /** The signal that aborts srflx queries when the agent closes. */
  abortSignal(): AbortSignal;
}

/** Host candidates for the announced addresses after the first, and srflx candidates when `withSrflx`. */
export function gatherExtraCandidates(
  agent: GatherAgent,
  timeout: number | undefined,
  withSrflx: boolean,
): Promise<WeriftCandidate | undefined>[] {
  const generation = agent.connection.generation;
  const out: Promise<WeriftCandidate | undefined>[] = [];
  for (const plan of agent.options.families) {
    for (const [i, address] of plan.addresses.entries()) {
      if (i === 0) continue; // werift's own host protocol advertises the first
      out.push(
        appendWhenReady(agent, plan.family, generation, () => hostCandidate(address, plan.local.port, i)),
      );
    }
  }
  const timeoutMs = gatherTimeoutMs(timeout);
  for (const [i, server] of withSrflx ? agent.options.stunServers.entries() : []) {
    const mapped = agent.mux.getXorMappedAddress(
      { address: server.address, port: server.port },
      { signal: agent.abortSignal(), ...(timeoutMs === undefined ? {} : { timeoutMs }) },
    );
    out.push(
      mapped.then(
        (address) =>
          appendWhenReady(agent, server.family, generation, (base) =>
            srflxCandidate(address, base, server, i),
          ),
        (err: unknown) => {
          log("srflx from %s:%d failed: %O", server.address, server.port, err);
          return undefined;
        },
      ),
    );
  }
  return out;
}

/**
 * Once the family's host protocol has its candidate, build one more candidate and advertise it — unless
 * the agent closed or an ICE restart began another generation meanwhile.
 */
async function appendWhenReady(
  agent: GatherAgent,
  family: Family,
  generation: number,
  spec: (base: { address: string; port: number }) => CandidateSpec,
): Promise<WeriftCandidate | undefined> {
  const host = agent.host(family);
  if (host === undefined) return undefined; // the host protocol failed: nothing to relate to
  await localCandidateSettled(host.protocol);
  const base = host.protocol.localCandidate;
  if (agent.detached() || base === undefined) return undefined;
  const connection = agent.connection;
  if (connection.generation !== generation) return undefined;
  const candidate = makeCandidate(
    base,
    spec({ address: base.host, port: base.port }),
    generation,
    agent.ufrag,
  );
  if (candidate === undefined) return undefined;
  connection.appendLocalCandidate(candidate);
  return candidate;
}

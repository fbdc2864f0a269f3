/**
 * RFC 7675 consent freshness through the mux: werift sends a consent check on the selected pair every
 * ~5 s (CONSENT_INTERVAL) and fails the pair after 30 s without an answer. Over ≥ 15 s of idle time the
 * checks of both ends must keep being answered through the mux, and the pairs stay connected.
 */
import { expect, it } from "vitest";
import { UDPMux } from "../../src/index.js";
import { attachUDPMux } from "../../src/werift/index.js";
import {
  connectAgents,
  ICE_FLAVORS,
  type IceAgent,
  LOOPBACK_ICE_OPTIONS,
  plainAgent,
  roundTrip,
  useWeriftSuite,
} from "./helpers.js";

const IDLE_MS = 16_000;

const { closer } = useWeriftSuite();

function consent(agent: IceAgent) {
  const pair = agent.nominated!;
  return { sent: pair.consentRequestsSent, answered: pair.responsesReceived };
}

it(
  `consent checks keep muxed pairs connected through ${IDLE_MS / 1000} s of idle time`,
  async () => {
    const mux = closer.add(await UDPMux.bind({ address: "127.0.0.1" }));
    const pairs: [IceAgent, IceAgent][] = ICE_FLAVORS.map(({ create }) => [
      closer.add(attachUDPMux(create(true, { ...LOOPBACK_ICE_OPTIONS }), mux)),
      closer.add(plainAgent(create, false)),
    ]);
    const { create } = ICE_FLAVORS[2]!;
    pairs.push([
      closer.add(attachUDPMux(create(true, { ...LOOPBACK_ICE_OPTIONS }), mux)),
      closer.add(attachUDPMux(create(false, { ...LOOPBACK_ICE_OPTIONS }), mux)),
    ]);
    await Promise.all(pairs.map(([a, b]) => connectAgents(a, b)));
    const states: string[] = [];
    for (const [a, b] of pairs)
      for (const agent of [a, b]) agent.stateChanged.subscribe((s) => states.push(s));
    const before = pairs.map(([a, b]) => [consent(a), consent(b)]);

    await new Promise((resolve) => setTimeout(resolve, IDLE_MS)); // the idle time is what is tested

    expect(states).toEqual([]); // no disconnected / failed / closed on either end
    for (const [i, [a, b]] of pairs.entries()) {
      for (const [j, agent] of [a, b].entries()) {
        const then = before[i]![j]!;
        const now = consent(agent);
        expect(agent.state).toBe("connected");
        // ≥ 2 consent checks in 16 s (one per 4–6 s), each answered through the mux
        expect(now.sent - then.sent).toBeGreaterThanOrEqual(2);
        expect(now.answered - then.answered).toBeGreaterThanOrEqual(now.sent - then.sent - 1);
      }
    }
    for (const [a, b] of pairs) expect(await roundTrip(a, b, "still there")).toBe("still there");
  },
  IDLE_MS + 15_000,
);

/**
 * A link's flow control and frame deadline without sockets or fake timers: {@link LinkFlow} as tables of
 * transitions (state and counts after each event, and what the caller must do), {@link FrameDeadlines} over
 * an injected clock.
 */
import { describe, expect, it } from "vitest";
import { FrameDeadlines, type FrameTiming, NONE } from "../../src/tcp/deadlines.js";
import { LinkFlow, type PauseCount, type QueueWaiters } from "../../src/tcp/link.js";

type FlowEvent = "consumerPause" | "consumerResume" | "queueFull" | "queueDrained" | "resumeDue" | "close";

/** Apply `events` to a fresh link; one row per event: what it returned, then the state and the counts. */
function run(events: FlowEvent[]): string[] {
  const mux: PauseCount = { paused: 0 };
  const conn: QueueWaiters = { queuePaused: 0 };
  const flow = new LinkFlow(mux);
  return events.map((event) => {
    let out: boolean | undefined;
    if (event === "consumerPause") out = flow.consumerPause();
    else if (event === "consumerResume") out = flow.consumerResume();
    else if (event === "queueFull") flow.queueFull(conn);
    else if (event === "queueDrained") out = flow.queueDrained(conn);
    else if (event === "resumeDue") out = flow.resumeDue();
    else flow.close(conn);
    const state = [
      flow.consumerPaused ? "C" : "-",
      flow.queuePaused ? "Q" : "-",
      flow.resumeScheduled ? "S" : "-",
    ].join("");
    return `${event}→${out ?? ""} ${state} paused=${mux.paused} queuePaused=${conn.queuePaused}`;
  });
}

describe("LinkFlow", () => {
  it.each<{ name: string; events: FlowEvent[]; rows: string[] }>([
    {
      name: "consumer pause: stop reading once; resume schedules once; the resume reads on",
      events: ["consumerPause", "consumerPause", "consumerResume", "consumerResume", "resumeDue"],
      rows: [
        "consumerPause→true C-- paused=1 queuePaused=0",
        "consumerPause→false C-- paused=1 queuePaused=0",
        "consumerResume→true --S paused=0 queuePaused=0",
        "consumerResume→false --S paused=0 queuePaused=0",
        "resumeDue→true --- paused=0 queuePaused=0",
      ],
    },
    {
      name: "queue pause: counted for the conn and the mux; drained schedules the resume",
      events: ["queueFull", "queueFull", "queueDrained", "queueDrained", "resumeDue"],
      rows: [
        "queueFull→ -Q- paused=1 queuePaused=1",
        "queueFull→ -Q- paused=1 queuePaused=1",
        "queueDrained→true --S paused=0 queuePaused=0",
        "queueDrained→false --S paused=0 queuePaused=0",
        "resumeDue→true --- paused=0 queuePaused=0",
      ],
    },
    {
      name: "both: the link counts once; it reads on only when the second reason is gone",
      events: ["queueFull", "consumerPause", "queueDrained", "resumeDue", "consumerResume", "resumeDue"],
      rows: [
        "queueFull→ -Q- paused=1 queuePaused=1",
        "consumerPause→true CQ- paused=1 queuePaused=1",
        "queueDrained→true C-S paused=1 queuePaused=0",
        "resumeDue→false C-- paused=1 queuePaused=0",
        "consumerResume→true --S paused=0 queuePaused=0",
        "resumeDue→true --- paused=0 queuePaused=0",
      ],
    },
    {
      name: "resume order: a pause before the scheduled resume runs cancels it; one resume per schedule",
      events: ["consumerPause", "consumerResume", "queueFull", "resumeDue", "queueDrained", "resumeDue"],
      rows: [
        "consumerPause→true C-- paused=1 queuePaused=0",
        "consumerResume→true --S paused=0 queuePaused=0",
        "queueFull→ -QS paused=1 queuePaused=1",
        "resumeDue→false -Q- paused=1 queuePaused=1",
        "queueDrained→true --S paused=0 queuePaused=0",
        "resumeDue→true --- paused=0 queuePaused=0",
      ],
    },
    {
      name: "resumed twice before the resume runs: scheduled once",
      events: ["queueFull", "consumerPause", "queueDrained", "consumerResume", "resumeDue"],
      rows: [
        "queueFull→ -Q- paused=1 queuePaused=1",
        "consumerPause→true CQ- paused=1 queuePaused=1",
        "queueDrained→true C-S paused=1 queuePaused=0",
        "consumerResume→false --S paused=0 queuePaused=0",
        "resumeDue→true --- paused=0 queuePaused=0",
      ],
    },
    {
      name: "close while paused for both: uncounted everywhere; later events do nothing",
      events: ["queueFull", "consumerPause", "close", "consumerResume", "queueDrained", "queueFull", "close"],
      rows: [
        "queueFull→ -Q- paused=1 queuePaused=1",
        "consumerPause→true CQ- paused=1 queuePaused=1",
        "close→ --- paused=0 queuePaused=0",
        "consumerResume→false --- paused=0 queuePaused=0",
        "queueDrained→false --- paused=0 queuePaused=0",
        "queueFull→ --- paused=0 queuePaused=0",
        "close→ --- paused=0 queuePaused=0",
      ],
    },
    {
      name: "close with a resume scheduled: the resume doesn't read on",
      events: ["consumerPause", "consumerResume", "close", "resumeDue"],
      rows: [
        "consumerPause→true C-- paused=1 queuePaused=0",
        "consumerResume→true --S paused=0 queuePaused=0",
        "close→ --S paused=0 queuePaused=0",
        "resumeDue→false --- paused=0 queuePaused=0",
      ],
    },
  ])("$name", ({ events, rows }) => {
    expect(run(events)).toEqual(rows);
  });

  it("close of a link paused by its consumer only, never routed", () => {
    const mux: PauseCount = { paused: 0 };
    const flow = new LinkFlow(mux);
    flow.consumerPause();
    flow.close(undefined);
    expect([mux.paused, flow.paused]).toEqual([0, false]);
  });
});

describe("FrameDeadlines", () => {
  const TIMEOUT = 10_000;

  function setup() {
    const clock = { t: 1000 };
    const deadlines = new FrameDeadlines<FrameTiming & { name: string }>(TIMEOUT, () => clock.t);
    const link = { name: "a", frameIndex: NONE, frameStartedAt: 0, framePausedAt: NONE };
    const expired = () => deadlines.expire().map((l) => l.name);
    return { clock, deadlines, link, expired };
  }

  it("a started frame expires at exactly frameTimeoutMs of its first byte, once", () => {
    const { clock, deadlines, link, expired } = setup();
    deadlines.read(link, 1, true);
    clock.t += TIMEOUT - 1;
    expect(expired()).toEqual([]);
    clock.t += 1;
    expect(expired()).toEqual(["a"]);
    expect(expired()).toEqual([]);
    expect(deadlines.size).toBe(0);
  });

  it("more bytes of the same frame don't extend it (slowloris)", () => {
    const { clock, deadlines, link, expired } = setup();
    deadlines.read(link, 1, true);
    for (let i = 0; i < 10; i++) {
      clock.t += TIMEOUT / 10;
      deadlines.read(link, 1, true);
    }
    expect(expired()).toEqual(["a"]);
  });

  it("a completed frame clears it", () => {
    const { clock, deadlines, link, expired } = setup();
    deadlines.read(link, 1, true);
    clock.t += TIMEOUT - 1;
    deadlines.read(link, 2, false);
    clock.t += TIMEOUT;
    expect(expired()).toEqual([]);
    expect(link.frameIndex).toBe(NONE);
  });

  it("a new frame restarts it", () => {
    const { clock, deadlines, link, expired } = setup();
    deadlines.read(link, 1, true);
    clock.t += TIMEOUT - 1;
    deadlines.read(link, 2, true); // frame 1 completed and frame 2 began in the same chunk
    clock.t += TIMEOUT - 1;
    expect(expired()).toEqual([]);
    clock.t += 1;
    expect(expired()).toEqual(["a"]);
  });

  it("paused time doesn't count: a frame in progress gets what was left of its time", () => {
    const { clock, deadlines, link, expired } = setup();
    deadlines.read(link, 1, true);
    clock.t += 4000;
    deadlines.pause(link);
    deadlines.pause(link); // idempotent
    clock.t += 60_000;
    expect(expired()).toEqual([]);
    deadlines.resume(link);
    clock.t += TIMEOUT - 4000 - 1;
    expect(expired()).toEqual([]);
    clock.t += 1;
    expect(expired()).toEqual(["a"]);
  });

  it("a frame that begins while paused starts its time when reading resumes", () => {
    const { clock, deadlines, link, expired } = setup();
    deadlines.pause(link);
    deadlines.read(link, 3, true);
    clock.t += 60_000;
    expect(expired()).toEqual([]);
    deadlines.resume(link);
    deadlines.resume(link); // harmless when not paused
    clock.t += TIMEOUT - 1;
    expect(expired()).toEqual([]);
    clock.t += 1;
    expect(expired()).toEqual(["a"]);
  });

  it("paused with no frame in progress, resumed: nothing runs; forget and clear drop deadlines", () => {
    const { clock, deadlines, link, expired } = setup();
    deadlines.pause(link);
    deadlines.resume(link);
    expect(deadlines.size).toBe(0);
    const b = { name: "b", frameIndex: NONE, frameStartedAt: 0, framePausedAt: NONE };
    deadlines.read(link, 1, true);
    deadlines.read(b, 1, true);
    deadlines.forget(link);
    clock.t += TIMEOUT;
    deadlines.clear();
    expect(expired()).toEqual([]);
    expect([link.frameIndex, b.frameIndex]).toEqual([NONE, NONE]);
  });

  it("each link by its own deadline: a resumed frame expires before a newer one added earlier", () => {
    const { clock, deadlines, link: a, expired } = setup();
    const b = { name: "b", frameIndex: NONE, frameStartedAt: 0, framePausedAt: NONE };
    deadlines.read(a, 1, true); // a begins at 1000
    clock.t = 6000;
    deadlines.pause(a); // 5 s of a's time used
    clock.t = 7000;
    deadlines.read(b, 1, true); // b begins at 7000: due at 17000
    clock.t = 8000;
    deadlines.resume(a); // 5 s left: due at 13000
    clock.t = 12_999;
    expect(expired()).toEqual([]);
    clock.t = 13_000;
    expect(expired()).toEqual(["a"]);
    clock.t = 16_999;
    expect(expired()).toEqual([]);
    clock.t = 17_000;
    expect(expired()).toEqual(["b"]);
  });
});

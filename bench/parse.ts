/**
 * STUN USERNAME extraction, ns per Binding Request: the mux's parser against werift-ice's `parseMessage`
 * and the `stun` package's `decode`, on the same inputs (checked to agree before anything is timed).
 */
import stun from "stun";
import { Bench } from "tinybench";
import { parseMessage } from "werift-ice";
import { parseBindingRequest } from "../src/stun.js";
import { bindingRequest, ufrag } from "./lib/fixtures.js";
import { median } from "./lib/stats.js";

const ATTR_USERNAME = 0x0006;
/** Calls per timed sample, so one sample is long enough for the clock. */
const BATCH = 64;

export interface ParseResult {
  /** Median ns per USERNAME extraction, per parser. */
  nsPerMessage: { udpmux: number; weriftIce: number; stun: number };
  /** werift-ice parseMessage ns ÷ udpmux ns. */
  speedupVsWeriftIce: number;
  speedupVsStun: number;
}

type Extract = (buf: Buffer) => string | undefined;

const extractors: Record<keyof ParseResult["nsPerMessage"], Extract> = {
  udpmux: (buf) => parseBindingRequest(buf)?.localUfrag,
  weriftIce: (buf) => {
    const username: string | undefined = parseMessage(buf)?.getAttributeValue("USERNAME");
    return username?.slice(0, username.indexOf(":"));
  },
  stun: (buf) => {
    const value = stun.decode(buf).getAttribute(ATTR_USERNAME)?.value;
    const username = Buffer.isBuffer(value) ? value.toString() : String(value);
    return username.slice(0, username.indexOf(":"));
  },
};

export async function benchParse(quick: boolean): Promise<ParseResult> {
  const inputs = Array.from({ length: BATCH }, (_, i) => bindingRequest(ufrag(i, "L"), ufrag(i, "R")));
  for (const [name, extract] of Object.entries(extractors)) {
    inputs.forEach((buf, i) => {
      if (extract(buf) !== ufrag(i, "L")) throw new Error(`${name} extracted the wrong USERNAME`);
    });
  }
  let sink = 0;
  const rounds = quick ? 1 : 3;
  const samples: Record<string, number[]> = { udpmux: [], weriftIce: [], stun: [] };
  for (let round = 0; round < rounds; round++) {
    const bench = new Bench({ time: quick ? 100 : 500, warmupTime: quick ? 20 : 100 });
    for (const [name, extract] of Object.entries(extractors)) {
      bench.add(name, () => {
        for (let i = 0; i < BATCH; i++) sink += extract(inputs[i]!)!.length;
      });
    }
    await bench.run();
    for (const task of bench.tasks) {
      const result = task.result;
      if (result.state !== "completed") throw new Error(`${task.name}: ${result.state}`);
      samples[task.name]!.push((result.latency.p50 * 1e6) / BATCH);
    }
  }
  if (sink === 0) throw new Error("nothing parsed");
  const ns = {
    udpmux: median(samples.udpmux!),
    weriftIce: median(samples.weriftIce!),
    stun: median(samples.stun!),
  };
  return {
    nsPerMessage: ns,
    speedupVsWeriftIce: ns.weriftIce / ns.udpmux,
    speedupVsStun: ns.stun / ns.udpmux,
  };
}

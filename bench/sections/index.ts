/** Every section, in the order a run runs them (`kernel` after `push`: it reads push's routing cost). */
import type { Section } from "../lib/section.js";
import e2e from "./e2e.js";
import kernel from "./kernel.js";
import load from "./load.js";
import memory from "./memory.js";
import parse from "./parse.js";
import { firstContact, pull, push } from "./routing.js";
import scaling from "./scaling.js";
import tcpE2e from "./tcp-e2e.js";
import tcpFrames from "./tcp-frames.js";
import tcpHostile from "./tcp-hostile.js";

export const SECTIONS: readonly Section<unknown>[] = [
  parse,
  push,
  pull,
  firstContact,
  kernel,
  memory,
  e2e,
  load,
  tcpFrames,
  tcpE2e,
  tcpHostile,
  scaling,
];

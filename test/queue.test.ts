import fc from "fast-check";
import { expect, it } from "vitest";
import { BoundedQueue } from "../src/queue.js";

it("behaves as a bounded array FIFO under any sequence of pushes and shifts", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 40 }),
      fc.array(fc.boolean(), { maxLength: 300 }),
      (capacity, ops) => {
        const q = new BoundedQueue<number>(capacity);
        const model: number[] = [];
        let n = 0;
        for (const push of ops) {
          if (push) {
            const accepted = q.push(n);
            expect(accepted).toBe(model.length < capacity);
            if (accepted) model.push(n);
            n++;
          } else {
            expect(q.shift()).toBe(model.shift());
          }
          expect(q.length).toBe(model.length);
        }
        expect(q.drain()).toEqual(model);
      },
    ),
  );
});

it("removeWhere keeps the order of the rest", () => {
  const q = new BoundedQueue<number>(8);
  for (let i = 0; i < 8; i++) q.push(i);
  q.shift();
  q.push(8);
  expect(q.removeWhere((x) => x % 2 === 0)).toBe(4);
  expect(q.drain()).toEqual([1, 3, 5, 7]);
});

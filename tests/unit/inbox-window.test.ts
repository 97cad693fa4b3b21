/**
 * The inbox window's table (src/runtime/inbox-window.ts) against a Map doing the same: any mix of
 * sets (with hashes crowded into a few index slots and repeated), forgets and clears answers every
 * hash as the Map does, through the ring's growth and shrinking and the index's deletions.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InboxWindow } from '../../src/runtime/inbox-window.ts';

type Op = { set: number } | { forget: number } | { clear: true };

describe('the inbox window table', () => {
  it('answers every hash as a Map of the same sets and forgets does', () => {
    // Hashes from a small set (set again while held) and from all 30 bits; an index of 16 to a few
    // hundred slots, half full at most, so that probe runs wrap its end and deletions cut them.
    const hash = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 0x3fffffff }));
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 200, arbitrary: hash.map((h) => ({ set: h })) },
      { weight: 20, arbitrary: fc.integer({ min: 0, max: 400 }).map((back) => ({ forget: back })) },
      { weight: 1, arbitrary: fc.constant({ clear: true as const }) },
    );
    let grown = 0;
    fc.assert(
      fc.property(fc.array(op, { minLength: 200, maxLength: 3_000, size: 'max' }), (ops) => {
        const table = new InboxWindow(8); // a small ring: it grows, shrinks and wraps all the time
        const model = new Map<number, number>();
        let pos = 0;
        for (const o of ops) {
          if ('set' in o) {
            table.set(o.set, ++pos);
            model.set(o.set, pos);
          } else if ('forget' in o) {
            const below = pos - o.forget;
            table.forgetBefore(below);
            for (const [h, p] of model) if (p < below) model.delete(h);
          } else {
            table.clear();
            model.clear();
          }
          expect(table.size).toBe(model.size);
          if (table.bytes > 8 * 20 * 8) grown++;
        }
        for (const [h, p] of model) expect(table.get(h)).toBe(p);
        for (const o of ops) if ('set' in o && !model.has(o.set)) expect(table.get(o.set)).toBeUndefined();
      }),
      { numRuns: 100 },
    );
    expect(grown).toBeGreaterThan(1_000); // not vacuous: runs held more than 64 slots
  });

  it('grows with the keys it holds and gives the memory back when they are forgotten', () => {
    const table = new InboxWindow();
    const small = table.bytes;
    for (let pos = 1; pos <= 100_000; pos++) table.set((pos * 2654435761) & 0x3fffffff, pos);
    expect(table.size).toBe(100_000);
    // 131,072 ring slots of 12 bytes and an index of twice that many 4-byte slots: 20 bytes a slot.
    expect(table.bytes).toBe(131_072 * 20);
    expect(table.get((77_777 * 2654435761) & 0x3fffffff)).toBe(77_777);
    table.forgetBefore(99_001);
    expect(table.size).toBe(1_000);
    expect(table.bytes).toBeLessThanOrEqual(4_096 * 20);
    expect(table.get((99_500 * 2654435761) & 0x3fffffff)).toBe(99_500);
    expect(table.get((98_000 * 2654435761) & 0x3fffffff)).toBeUndefined();
    table.forgetBefore(Infinity);
    expect([table.size, table.bytes]).toEqual([0, small]);
  });
});

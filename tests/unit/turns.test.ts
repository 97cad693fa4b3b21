import { describe, expect, it } from 'vitest';
import { turns } from '../../src/runtime/turns.ts';

describe('turns (slots opened a few at a time)', () => {
  it('runs at most n at once, the others in order as turns free up, and a failure frees its turn', async () => {
    const turn = turns(2);
    const held = new Map<string, () => void>();
    const started: string[] = [];
    let running = 0;
    let most = 0;
    const task = (name: string, fail = false) =>
      turn(async () => {
        started.push(name);
        most = Math.max(most, ++running);
        await new Promise<void>((resolve) => held.set(name, resolve));
        running--;
        if (fail) throw new Error(name);
        return name;
      });
    const slow = task('slow');
    const failing = task('failing', true);
    const rest = ['c', 'd', 'e'].map((n) => task(n));
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['slow', 'failing']);
    // The slow one holds its turn; the failing one's turn goes to the next.
    held.get('failing')!();
    await expect(failing).rejects.toThrow('failing');
    expect(started).toEqual(['slow', 'failing', 'c']);
    for (const n of ['c', 'd', 'e']) {
      held.get(n)!();
      await new Promise((r) => setImmediate(r));
    }
    expect(await Promise.all(rest)).toEqual(['c', 'd', 'e']);
    expect(started).toEqual(['slow', 'failing', 'c', 'd', 'e']);
    held.get('slow')!();
    expect(await slow).toBe('slow');
    expect(most).toBe(2);
  });
});

/**
 * The in-process event log de-duplicates publications by message id within a window, as JetStream
 * does, on a real SQLite file: a repeat inside the window is a duplicate (also across a reopen and
 * within one uncommitted batch), a repeat after it is a new message. The window, exactly
 * (duplicate-window.ts): to the millisecond by each message's own time, under steady traffic, for
 * two ids of the same 30-bit hash, and for a message pruned while within the window.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { keyHash } from '../../src/runtime/inbox-window.ts';
import { BusStore } from '../../src/runtime/transport/in-process/bus-store.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function world(windowMs = 1_000, retentionMs?: number) {
  const dir = mkdtempSync(join(tmpdir(), 'poa-dedupe-'));
  dirs.push(dir);
  const clock = { t: 1_000_000 };
  const path = join(dir, 'bus.db');
  const open = () => {
    const store = new BusStore(path, { duplicateWindowMs: windowMs, now: () => clock.t, ...(retentionMs !== undefined ? { retentionMs } : {}) });
    if (store.streams().length === 0) store.addStream('S', ['s.>']);
    return store;
  };
  return { clock, open };
}

const append = (store: BusStore, msgId: string) => store.append('S', 's.x', {}, '{}', msgId);

/** Two ids whose 30-bit hashes are equal (about 40,000 tries: the birthday bound). */
const sameHash = (): [string, string] => {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const id = `cart.evt.checked-out/c-${i}`;
    const other = seen.get(keyHash(id));
    if (other !== undefined) return [other, id];
    seen.set(keyHash(id), id);
  }
};

describe('in-process event log de-duplication', () => {
  it('treats a repeat within the window as a duplicate and after it as a new message', async () => {
    const { clock, open } = world(1_000);
    const store = open();
    expect(await append(store, 'a')).toEqual({ seq: 1, duplicate: false });
    clock.t += 999;
    expect(await append(store, 'a')).toEqual({ seq: 1, duplicate: true });
    clock.t += 2;
    expect(await append(store, 'a')).toEqual({ seq: 2, duplicate: false });
    await store.close();
  });

  it('remembers the window across a reopen, and forgets what is older', async () => {
    const { clock, open } = world(1_000);
    const first = open();
    await append(first, 'old');
    clock.t += 600;
    await append(first, 'young');
    await first.close();
    clock.t += 500; // 'old' is 1,100 ms old, 'young' 500 ms
    const second = open();
    expect(await append(second, 'young')).toEqual({ seq: 2, duplicate: true });
    expect(await append(second, 'old')).toEqual({ seq: 3, duplicate: false });
    await second.close();
  });

  it('de-duplicates two appends of one id in the same uncommitted batch', async () => {
    const { open } = world();
    const store = open();
    const [a, b] = await Promise.all([append(store, 'same'), append(store, 'same')]);
    expect([a, b]).toEqual([{ seq: 1, duplicate: false }, { seq: 1, duplicate: true }]);
    await store.close();
  });

  describe('the window, exactly', () => {
    it('holds an id for the window to the millisecond, by its own message\'s time, before and after a reopen', async () => {
      const { clock, open } = world(1_000);
      let store = open();
      await append(store, 'a');
      clock.t += 400;
      await append(store, 'b'); // in the same second of the window's clock as 'a'
      clock.t += 600; // 'a' stored exactly the window ago
      expect(await append(store, 'a')).toEqual({ seq: 1, duplicate: true });
      await store.close();
      store = open();
      expect(await append(store, 'a')).toEqual({ seq: 1, duplicate: true });
      clock.t += 1;
      expect(await append(store, 'a')).toEqual({ seq: 3, duplicate: false });
      clock.t += 399; // 'b' stored exactly the window ago
      expect(await append(store, 'b')).toEqual({ seq: 2, duplicate: true });
      await store.close();
      store = open();
      expect(await append(store, 'b')).toEqual({ seq: 2, duplicate: true });
      clock.t += 1;
      expect(await append(store, 'b')).toEqual({ seq: 4, duplicate: false });
      await store.close();
    });

    it('under steady traffic: ids up to the window old are duplicates, older ones new, and memory holds at most a second more', async () => {
      const { clock, open } = world(10_000);
      const store = open();
      const stored: number[] = [];
      for (let i = 0; i <= 40; i++) {
        if (i > 0) clock.t += 900; // an id every 0.9 s: the window's clock never sits a second idle
        await append(store, `m${i}`);
        stored.push(clock.t);
      }
      const now = clock.t;
      const ages = stored.map((at) => now - at);
      expect(store.duplicateIds('S')).toBeGreaterThanOrEqual(ages.filter((age) => age <= 10_000).length);
      expect(store.duplicateIds('S')).toBeLessThanOrEqual(ages.filter((age) => age <= 11_000).length);
      expect(ages.filter((age) => age > 10_000).length).toBe(29); // m0-m28: not vacuous
      let next = 42;
      for (const [i, age] of ages.entries()) {
        expect([i, await append(store, `m${i}`)]).toEqual([i, age <= 10_000 ? { seq: i + 1, duplicate: true } : { seq: next++, duplicate: false }]);
      }
      await store.close();
    });

    it('de-duplicates two ids of the same 30-bit hash each to its own message, across a reopen, and forgets both', async () => {
      const [a, b] = sameHash();
      expect(keyHash(a)).toBe(keyHash(b));
      const { clock, open } = world(1_000);
      let store = open();
      expect(await append(store, a)).toEqual({ seq: 1, duplicate: false });
      expect(await append(store, b)).toEqual({ seq: 2, duplicate: false }); // its hash is held, by a's message: a read says no
      clock.t += 500;
      expect([await append(store, a), await append(store, b)]).toEqual([{ seq: 1, duplicate: true }, { seq: 2, duplicate: true }]);
      await append(store, 'x'); // in the same second of the window's clock: a and b are held past the window
      await store.close();
      store = open(); // rebuilt: b takes the hash again, a moves to the overflow again
      expect([await append(store, b), await append(store, a)]).toEqual([{ seq: 2, duplicate: true }, { seq: 1, duplicate: true }]);
      expect(store.duplicateIds('S')).toBe(3);
      clock.t += 501; // the window passed a and b, by their own times, though not their second
      expect([await append(store, a), await append(store, b)]).toEqual([{ seq: 4, duplicate: false }, { seq: 5, duplicate: false }]);
      expect([await append(store, b), await append(store, a)]).toEqual([{ seq: 5, duplicate: true }, { seq: 4, duplicate: true }]);
      clock.t += 2_000;
      await append(store, 'c');
      expect(store.duplicateIds('S')).toBe(1); // a and b, table and overflow, forgotten
      await store.close();
    });

    it('keeps the id of a message pruned while within the window (a retention shorter than it) until the window passes', async () => {
      const { clock, open } = world(1_000, 100);
      const store = open();
      await append(store, 'a');
      clock.t += 200;
      expect(await store.prune()).toBe(1);
      expect(store.msgsAfter('S', 0, 10).msgs).toEqual([]);
      expect(await append(store, 'a')).toEqual({ seq: 1, duplicate: true });
      clock.t += 801;
      expect(await append(store, 'a')).toEqual({ seq: 2, duplicate: false });
      await store.close();
    });
  });
});

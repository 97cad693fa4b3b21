/**
 * The in-process event log de-duplicates publications by message id within a window, as JetStream
 * does, on a real SQLite file: a repeat inside the window is a duplicate (also across a reopen and
 * within one uncommitted batch), a repeat after it is a new message.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BusStore } from '../../src/runtime/transport/in-process/bus-store.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function world(windowMs = 1_000) {
  const dir = mkdtempSync(join(tmpdir(), 'poa-dedupe-'));
  dirs.push(dir);
  const clock = { t: 1_000_000 };
  const path = join(dir, 'bus.db');
  const open = () => {
    const store = new BusStore(path, { duplicateWindowMs: windowMs, now: () => clock.t });
    if (store.streams().length === 0) store.addStream('S', ['s.>']);
    return store;
  };
  return { clock, open };
}

const append = (store: BusStore, msgId: string) => store.append('S', 's.x', {}, '{}', msgId);

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
});

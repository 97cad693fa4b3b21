/**
 * The explorer's list over several orchestrator instances (src/actors/checkout/instances.ts): the
 * instance registry on a real KV (the in-process transport over a SQLite file), and the merge of
 * the instances' pages into one newest-first page whose cursor continues where it ended.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { mergePages, registeredInstances, registerInstance } from '../../src/actors/checkout/instances.ts';
import type { ListCheckoutsResponse } from '../../src/contracts/messages/checkout.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const summary = (checkoutId: string, updatedAt: string): ListCheckoutsResponse['checkouts'][number] => ({
  checkoutId, state: 'confirmed', status: 'done', seq: 4, machineVersion: '1', createdAt: updatedAt, updatedAt,
});
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

describe('orchestrator instances', () => {
  it('register in the lowest free slot, keep their slot across restarts, and are listed in slot order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'poa-instances-'));
    dirs.push(dir);
    const bus = new InProcessTransport({ path: join(dir, 'bus.db') });
    const owners = await bus.kv('saga-owners');
    expect(await Promise.all([registerInstance(owners, 'a'), registerInstance(owners, 'b')])).toEqual([0, 1]);
    expect(await registerInstance(owners, 'a')).toBe(0); // a restart of a
    expect(await registerInstance(owners, 'c')).toBe(2);
    expect(await registeredInstances(owners)).toEqual(['a', 'b', 'c']);
    await bus.drain();
  });

  it("an instance registered before (an orchestrator slot taken over) finds its own slot by reads alone, beyond the first keys read at once too", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'poa-instances-'));
    dirs.push(dir);
    const bus = new InProcessTransport({ path: join(dir, 'bus.db') });
    const owners = await bus.kv('saga-owners');
    for (let k = 0; k < 11; k++) expect(await registerInstance(owners, `slot-${k}`)).toBe(k);
    const creates: string[] = [];
    const counted = Object.assign(Object.create(owners) as typeof owners, {
      create: (key: string, value: string) => (creates.push(key), owners.create(key, value)),
    });
    expect(await registerInstance(counted, 'slot-3')).toBe(3);
    expect(await registerInstance(counted, 'slot-10')).toBe(10);
    // Before: slot-3 wrote instance.0 to instance.3, one after another, each refused but its own.
    expect(creates).toEqual([]);
    expect(await registerInstance(counted, 'new')).toBe(11);
    expect(creates).toEqual(['instance.11']);
    await bus.drain();
  });

  it('merge pages newest first, cut at the limit, with a cursor after the last row and facets summed', () => {
    const a: ListCheckoutsResponse = {
      checkouts: [summary(id(5), '2026-11-29T10:00:05.000Z'), summary(id(3), '2026-11-29T10:00:03.000Z')],
      nextCursor: 'more-in-a',
      facets: [{ state: 'reservingInventory', status: 'active', count: 2 }],
    };
    const b: ListCheckoutsResponse = {
      checkouts: [summary(id(4), '2026-11-29T10:00:04.000Z'), summary(id(6), '2026-11-29T10:00:03.000Z')],
      facets: [{ state: 'reservingInventory', status: 'active', count: 1 }, { state: 'creatingOrder', status: 'active', count: 5 }],
    };
    const merged = mergePages([a, b], 3);
    expect(merged.checkouts.map((c) => c.checkoutId)).toEqual([id(5), id(4), id(6)]); // a tie in time: the greater id first
    const cursor = JSON.parse(Buffer.from(merged.nextCursor!, 'base64url').toString('utf8')) as unknown;
    expect(cursor).toEqual([Date.parse('2026-11-29T10:00:03.000Z'), id(6)]);
    expect(merged.facets).toEqual([
      { state: 'creatingOrder', status: 'active', count: 5 },
      { state: 'reservingInventory', status: 'active', count: 3 },
    ]);
  });

  it('give no cursor when every instance has shown all it holds', () => {
    const only: ListCheckoutsResponse = { checkouts: [summary(id(1), '2026-11-29T10:00:01.000Z')], facets: [] };
    expect(mergePages([only, { checkouts: [], facets: [] }], 50)).toEqual({ checkouts: only.checkouts, facets: [] });
  });
});

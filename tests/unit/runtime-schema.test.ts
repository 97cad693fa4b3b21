/**
 * The runtime tables' migrations (src/runtime/schema.ts) on real SQLite files: a store written by
 * an earlier version opens under the current one with its pending outbox rows intact and their
 * numbering continued, and the statements the host and relay run on the hot path use the indexes
 * meant for them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runtimeMigrations } from '../../src/runtime/schema.ts';
import { Store } from '../../src/runtime/store.ts';
import { RuntimeTables } from '../../src/runtime/tables.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const freshPath = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'poa-schema-'));
  dirs.push(dir);
  return join(dir, 'svc.db');
};

const row = (messageId: string, mode: 'publish' | 'request', slot?: string) => ({
  messageId, mode, subject: 'x.y', headers: {}, data: '{}', actorKind: 'checkout', actorId: 'a1', slot, timeoutMs: slot ? 1_000 : undefined, now: 1,
});

describe('runtime tables', () => {
  it('migrate a version-1 outbox: rows, their status and their numbering survive', async () => {
    const path = freshPath();
    const v1 = new Store({ path, migrations: runtimeMigrations.filter((m) => m.version === 1), synchronous: 'NORMAL' });
    await v1.write((db) => {
      const tables = RuntimeTables.of(db);
      for (let i = 1; i <= 5; i++) tables.enqueue(row(`m${i}`, i === 2 ? 'request' : 'publish', i === 2 ? 'reserve' : undefined));
      db.prepare(`UPDATE outbox SET status = 'sent' WHERE message_id IN ('m1', 'm3')`).run();
      db.prepare(`DELETE FROM outbox WHERE message_id IN ('m4', 'm5')`).run(); // pruned: the highest numbers are gone
    });
    await v1.close();

    const v2 = new Store({ path, migrations: runtimeMigrations, synchronous: 'NORMAL' });
    expect(v2.db.prepare('SELECT seq, message_id, status, slot FROM outbox ORDER BY seq').all()).toEqual([
      { seq: 1, message_id: 'm1', status: 'sent', slot: null },
      { seq: 2, message_id: 'm2', status: 'pending', slot: 'reserve' },
      { seq: 3, message_id: 'm3', status: 'sent', slot: null },
    ]);
    await v2.write((db) => RuntimeTables.of(db).enqueue(row('m6', 'publish')));
    // The relay's cursor relies on numbers never coming back: after 5, not after 3.
    expect(v2.db.prepare(`SELECT seq FROM outbox WHERE message_id = 'm6'`).pluck().get()).toBe(6);
    await v2.close();
  });

  it('cancel a request by its slot through the slot index, which holds requests only', async () => {
    const store = new Store({ path: freshPath(), migrations: runtimeMigrations, synchronous: 'NORMAL' });
    const plan = store.db
      .prepare(`EXPLAIN QUERY PLAN UPDATE outbox SET status = 'cancelled' WHERE actor_kind = ? AND actor_id = ? AND slot = ? AND status = 'pending'`)
      .all('checkout', 'a1', 'reserve') as Array<{ detail: string }>;
    expect(plan.map((p) => p.detail).join('\n')).toContain('USING INDEX outbox_slot');
    await store.write((db) => {
      const tables = RuntimeTables.of(db);
      tables.enqueue(row('p1', 'publish'));
      tables.enqueue(row('r1', 'request', 'reserve'));
    });
    const indexed = store.db.prepare(`SELECT count(*) FROM outbox INDEXED BY outbox_slot WHERE actor_kind = 'checkout' AND actor_id = 'a1' AND slot IS NOT NULL AND status = 'pending'`).pluck().get();
    expect(indexed).toBe(1);
    await store.close();
  });
});

/**
 * The runtime tables' migrations (src/runtime/schema.ts) on real SQLite files: a store written by
 * version 2 (per-message rows in actors, journal, inbox, outbox and timers) opens under the journal
 * (version 3) with its history, its armed timers, its pending requests, its unsent events and its
 * recent inbox keys intact, and the hot path writes one journal row per message and nothing else.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { actorTrace } from '../../src/runtime/journal-queries.ts';
import { Journal } from '../../src/runtime/journal.ts';
import { runtimeMigrations } from '../../src/runtime/schema.ts';
import { Store } from '../../src/runtime/store.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const freshPath = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'poa-schema-'));
  dirs.push(dir);
  return join(dir, 'svc.db');
};

describe('runtime tables', () => {
  it('convert a version-2 store: history, timers, pending requests, unsent events and recent inbox keys survive', async () => {
    const path = freshPath();
    const now = Date.now();
    const v2 = new Store({ path, migrations: runtimeMigrations.filter((m) => m.version <= 2), synchronous: 'NORMAL' });
    v2.db.exec(`
      INSERT INTO actors VALUES ('checkout', 'a1', '1', 'active', '"authorizingPayment"', '{"value":"authorizingPayment","context":{"n":1},"status":"active"}', 2, ${now - 5_000}, ${now - 1_000});
      INSERT INTO actors VALUES ('checkout', 'a2', '1', 'done', '"confirmed"', '{"value":"confirmed","context":{"n":2},"status":"done"}', 1, ${now - 9_000}, ${now - 9_000});
      INSERT INTO journal VALUES ('checkout', 'a1', 1, '{"type":"checkout.started"}', NULL, '"reservingInventory"', '[]', 'm-a1-1', NULL, ${now - 5_000});
      INSERT INTO journal VALUES ('checkout', 'a2', 1, '{"type":"checkout.started"}', NULL, '"confirmed"', '[]', 'm-a2-1', NULL, ${now - 9_000});
      INSERT INTO journal VALUES ('checkout', 'a1', 2, '{"type":"inventory.reserved"}', '"reservingInventory"', '"authorizingPayment"', '[]', 'm-a1-2', 'm-a1-1', ${now - 1_000});
      INSERT INTO timers VALUES ('checkout', 'a1', 'authorizePayment', ${now + 10_000}, '{"type":"timer.expired","step":"authorizePayment"}', 2);
      INSERT INTO outbox (message_id, mode, subject, headers, data, actor_kind, actor_id, slot, timeout_ms, status, next_attempt_at, created_at)
        VALUES ('q1', 'request', 'payment.cmd.authorize', '{"ce-type":"authorize-payment"}', '{"x":1}', 'checkout', 'a1', 'authorizePayment', 1000, 'pending', ${now}, ${now - 1_000}),
               ('e1', 'publish', 'shopping.evt.x', '{"ce-type":"x"}', '{}', 'checkout', 'a1', NULL, NULL, 'sent', ${now}, ${now - 5_000}),
               ('e2', 'publish', 'shopping.evt.y', '{"ce-type":"y"}', '{"y":2}', 'checkout', 'a1', NULL, NULL, 'pending', ${now}, ${now - 1_000});
      INSERT INTO inbox VALUES ('recent', '{"ce-type":"ok"}', '{"r":1}', ${now - 10_000}), ('old', NULL, '{}', ${now - 3_600_000});
    `);
    await v2.close();

    const v3 = new Store({ path, migrations: runtimeMigrations, synchronous: 'NORMAL' });
    const journal = Journal.of(v3);
    // History: the old journal's transitions, chained per actor.
    const trace = actorTrace(v3.db, 'checkout', 'a1')!;
    expect(trace.journal.map((j) => [j.seq, j.event.type, j.to])).toEqual([[1, 'checkout.started', 'reservingInventory'], [2, 'inventory.reserved', 'authorizingPayment']]);
    expect(trace.summary.state).toBe('authorizingPayment');
    expect(actorTrace(v3.db, 'checkout', 'a2')!.journal).toHaveLength(1);
    // The armed timer and the pending request, in memory and in the actor's checkpoint row.
    expect(journal.armedTimer('checkout', 'a1', 'authorizePayment')).toMatchObject({ dueAt: now + 10_000, seq: 2, event: { type: 'timer.expired' } });
    expect(journal.pendingRequest('checkout', 'a1', 'authorizePayment')?.effect).toMatchObject({ messageId: 'q1', data: '{"x":1}', timeoutMs: 1000, headers: { 'ce-type': 'authorize-payment' } });
    // The unsent event is after the relay's watermark; the sent one is not.
    const unsent = journal.effectsAfter(journal.relayWatermark).flatMap((c) => c.record.effects ?? []);
    expect(unsent.map((e) => [e.messageId, e.subject, e.data])).toEqual([['e2', 'shopping.evt.y', '{"y":2}']]);
    // The inbox window: a key from ten seconds ago answers as before; one from an hour ago is past the window.
    expect(journal.storedReply('recent')).toEqual({ data: '{"r":1}', headers: { 'ce-type': 'ok' } });
    expect(journal.storedReply('old')).toBeUndefined();
    expect(v3.db.prepare(`SELECT name FROM sqlite_master WHERE name IN ('inbox', 'outbox', 'timers')`).all()).toEqual([]);
    await v3.close();
  });

  it('convert a version-3 store: a row with timers and no pending request is parked by its earliest timer; the open holds only those within the horizon', async () => {
    const path = freshPath();
    const now = Date.now();
    const v3 = new Store({ path, migrations: runtimeMigrations.filter((m) => m.version <= 3), synchronous: 'NORMAL' });
    const row = (id: string, pending: string | null) =>
      `INSERT INTO actors (kind, id, machine_version, status, state, snapshot, seq, created_at, updated_at, pos, pending)
         VALUES ('cart', '${id}', '1', 'active', '"open"', '{"value":"open","context":{},"status":"active"}', 1, ${now}, ${now}, 0, ${pending === null ? 'NULL' : `'${pending}'`});`;
    const timer = (dueAt: number) => `{"dueAt":${dueAt},"event":{"type":"cart.abandoned"},"seq":1}`;
    v3.db.exec(
      row('far', `{"timers":{"abandon":${timer(now + 86_400_000)},"remind":${timer(now + 3_600_000)}}}`) +
        row('near', `{"timers":{"abandon":${timer(now + 60_000)}}}`) +
        row('asking', `{"timers":{"abandon":${timer(now + 86_400_000)}},"requests":{"s":{"at":${now},"effect":{"messageId":"q","mode":"request","subject":"x.cmd.y","headers":{},"data":"{}","slot":"s"}}}}`) +
        row('none', null),
    );
    await v3.close();

    const v4 = new Store({ path, migrations: runtimeMigrations, synchronous: 'NORMAL' });
    const due = (id: string) => v4.db.prepare(`SELECT timer_due FROM actors WHERE id = ?`).pluck().get(id);
    expect([due('far'), due('near'), due('asking'), due('none')]).toEqual([now + 3_600_000, now + 60_000, null, null]);
    const journal = Journal.of(v4);
    expect(journal.armedTimer('cart', 'far', 'abandon')).toBeUndefined(); // parked: due beyond the horizon
    expect(journal.armedTimersOf('cart', 'far').map((t) => t.name).sort()).toEqual(['abandon', 'remind']);
    expect(journal.armedTimer('cart', 'near', 'abandon')?.dueAt).toBe(now + 60_000);
    expect(journal.armedTimer('cart', 'asking', 'abandon')?.dueAt).toBe(now + 86_400_000); // a pending request keeps the actor held
    expect(v4.db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'actors_timer_due'`).pluck().get()).toBe(1);
    await v4.close();
  });

  it('write one journal row per handled message and nothing else between checkpoints', async () => {
    const store = new Store({ path: freshPath(), migrations: runtimeMigrations, synchronous: 'NORMAL' });
    const journal = Journal.of(store, { checkpointEvery: 1_000_000, checkpointMs: 3_600_000 });
    const changes = () => store.db.prepare('SELECT total_changes()').pluck().get() as number;
    const before = changes();
    for (let i = 1; i <= 10; i++) {
      await store.write(() =>
        journal.append({ kind: 'checkout', id: `a${i}`, seq: 1, at: Date.now(), event: { type: 'e' }, snapshot: { value: 'x', context: {}, status: 'active' }, version: '1', timers: [{ name: 't', dueAt: 10, event: { type: 'timer.expired' } }] }, undefined),
      );
    }
    expect(changes() - before).toBe(10);
    expect(store.db.prepare('SELECT count(*) FROM actors').pluck().get()).toBe(0);
    await store.close(); // the last checkpoint writes the actors' rows
    const again = new Store({ path: store.db.name, migrations: runtimeMigrations, synchronous: 'NORMAL' });
    expect(again.db.prepare(`SELECT count(*) FROM actors WHERE pending IS NOT NULL`).pluck().get()).toBe(10);
    await again.close();
  });
});

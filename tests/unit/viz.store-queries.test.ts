/**
 * The explorer's read-only queries over a service store. They run on the service's own
 * connection, so they must stay cheap on a big store: these tests fill real SQLite tables with
 * many actors and check both the answers and that the work stays bounded.
 */
import { describe, expect, it } from 'vitest';
import { actorTrace, listActors, statePatterns } from '../../src/runtime/journal-queries.ts';
import { runtimeMigrations } from '../../src/runtime/schema.ts';
import { Store } from '../../src/runtime/store.ts';

const T0 = 1_700_000_000_000;

function fill(actors: number) {
  const store = new Store({ path: ':memory:', migrations: runtimeMigrations });
  const db = store.db;
  const actor = db.prepare(`INSERT INTO actors (kind, id, machine_version, status, state, snapshot, seq, created_at, updated_at, pos) VALUES ('checkout', ?, '1', ?, ?, ?, 3, ?, ?, ?)`);
  const record = db.prepare(`INSERT INTO journal (kind, id, seq, prev, at, record) VALUES ('checkout', ?, ?, ?, ?, ?)`);
  const effect = (messageId: string) => ({ messageId, mode: 'request', subject: 'x.cmd.y', headers: { 'ce-type': 'y' }, data: '{}', slot: 'y' });
  db.transaction(() => {
    for (let i = 0; i < actors; i++) {
      const id = `a${String(i).padStart(6, '0')}`;
      const state = i % 10 === 0 ? '{"compensating":{"voidingPayment":"trying"}}' : i % 3 === 0 ? '"authorizingPayment"' : '"confirmed"';
      const status = state === '"confirmed"' ? 'done' : 'active';
      // Each actor lives 3 s (staggered by 1 s): a record sending a request at its start, and one
      // answering it and sending another at its end (which odd actors are still waiting for).
      const start = T0 + i * 1_000;
      const first = Number(record.run(id, 1, null, start, JSON.stringify({ kind: 'checkout', id, seq: 1, at: start, event: { type: 'go' }, to: 'x', effects: [effect(`${id}-1`)] })).lastInsertRowid);
      const last = Number(record.run(id, 3, first, start + 3_000, JSON.stringify({ kind: 'checkout', id, seq: 3, at: start + 3_000, event: { type: 'y.done' }, from: 'x', to: JSON.parse(state) as unknown, answered: 'y', effects: [effect(`${id}-2`)] })).lastInsertRowid);
      actor.run(id, status, state, JSON.stringify({ value: JSON.parse(state) as unknown, context: { n: i } }), start, start + 3_000, last);
      if (i % 2) db.prepare(`UPDATE actors SET pending = ? WHERE id = ?`).run(JSON.stringify({ requests: { y: { effect: effect(`${id}-2`), at: start + 3_000 } } }), id);
    }
    db.prepare(`INSERT OR REPLACE INTO meta (key, value) VALUES ('journal_checkpoint', (SELECT max(pos) FROM journal))`).run();
  })();
  return store;
}

describe('explorer store queries', () => {
  const store = fill(20_000);

  it('matches a state and every state inside it, and nothing that merely shares a prefix', () => {
    expect(statePatterns('compensating')).toEqual({ exact: '"compensating"', inside: '{"compensating":%' });
    expect(statePatterns('compensating.voidingPayment')).toEqual({ exact: '{"compensating":"voidingPayment"}', inside: '{"compensating":{"voidingPayment":%' });
    const page = listActors(store.db, 'checkout', { state: 'compensating', limit: 5 });
    expect(page.rows.map((r) => r.state)).toEqual(Array(5).fill('compensating.voidingPayment.trying'));
    expect(listActors(store.db, 'checkout', { state: 'authorizing', limit: 5 }).rows).toEqual([]);
  });

  it('pages through recent actors of every status in order, without repeats', () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 4; i++) {
      const page = listActors(store.db, 'checkout', { limit: 50, cursor });
      seen.push(...page.rows.map((r) => r.id));
      cursor = page.nextCursor;
    }
    expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => `a${String(19_999 - i).padStart(6, '0')}`));
  });

  it('counts in-flight actors per state', () => {
    const { facets } = listActors(store.db, 'checkout', { limit: 1 });
    expect(facets).toEqual([
      { state: 'authorizingPayment', status: 'active', count: 6_000 },
      { state: 'compensating.voidingPayment.trying', status: 'active', count: 2_000 },
    ]);
  });

  it("finds exactly an actor's records and messages, reading only its own records", () => {
    const trace = actorTrace(store.db, 'checkout', 'a012345')!;
    expect(trace.outbox.map((o) => [o.messageId, o.status, o.type])).toEqual([['a012345-1', 'sent', 'y'], ['a012345-2', 'pending', 'y']]);
    expect(trace.journal.map((j) => j.seq)).toEqual([1, 3]);
    // Its records are found from its row by each record's link to the previous one: point reads
    // by position, not a scan of the 40,000 records of the table.
    const plan = store.db.prepare('EXPLAIN QUERY PLAN SELECT pos, prev, record FROM journal WHERE pos = ?').all(1) as Array<{ detail: string }>;
    expect(plan.map((p) => p.detail).join(' ')).toMatch(/INTEGER PRIMARY KEY \(rowid=\?\)/);
    const tail = store.db
      .prepare('EXPLAIN QUERY PLAN SELECT pos, record FROM journal WHERE pos > ? AND kind = ? AND id = ? ORDER BY pos DESC LIMIT 1')
      .all(1, 'checkout', 'a1') as Array<{ detail: string }>;
    expect(tail.map((p) => p.detail).join(' ')).toMatch(/INTEGER PRIMARY KEY \(rowid>\?\)/);
  });

  it('uses the status index for listing, rather than sorting the whole table', () => {
    const plan = store.db
      .prepare(`EXPLAIN QUERY PLAN SELECT id FROM actors WHERE kind = 'checkout' AND status = 'done' ORDER BY updated_at DESC, id DESC LIMIT 51`)
      .all() as Array<{ detail: string }>;
    expect(plan.map((p) => p.detail).join(' ')).toMatch(/USING INDEX actors_active/);
  });
});

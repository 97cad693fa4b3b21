/**
 * The explorer's read-only queries over a service store. They run on the service's own
 * connection, so they must stay cheap on a big store: these tests fill real SQLite tables with
 * many actors and check both the answers and that the work stays bounded.
 */
import { describe, expect, it } from 'vitest';
import { actorTrace, listActors, outboxWindow, statePatterns } from '../../src/runtime/journal-queries.ts';
import { runtimeMigrations } from '../../src/runtime/schema.ts';
import { Store } from '../../src/runtime/store.ts';

const T0 = 1_700_000_000_000;

function fill(actors: number) {
  const store = new Store({ path: ':memory:', migrations: runtimeMigrations });
  const db = store.db;
  const actor = db.prepare(`INSERT INTO actors (kind, id, machine_version, status, state, snapshot, seq, created_at, updated_at) VALUES ('checkout', ?, '1', ?, ?, ?, 3, ?, ?)`);
  const outbox = db.prepare(`INSERT INTO outbox (message_id, mode, subject, headers, data, actor_kind, actor_id, status, next_attempt_at, created_at) VALUES (?, 'request', 'x.cmd.y', '{"ce-type":"y"}', '{}', 'checkout', ?, ?, ?, ?)`);
  db.transaction(() => {
    for (let i = 0; i < actors; i++) {
      const id = `a${String(i).padStart(6, '0')}`;
      const state = i % 10 === 0 ? '{"compensating":{"voidingPayment":"trying"}}' : i % 3 === 0 ? '"authorizingPayment"' : '"confirmed"';
      const status = state === '"confirmed"' ? 'done' : 'active';
      // Each actor lives 3 s (staggered by 1 s) and writes an outbox row at its start and its end.
      const start = T0 + i * 1_000;
      actor.run(id, status, state, JSON.stringify({ value: JSON.parse(state) as unknown, context: { n: i } }), start, start + 3_000);
      outbox.run(`${id}-1`, id, 'sent', start, start);
      outbox.run(`${id}-2`, id, i % 2 ? 'pending' : 'sent', start + 3_000, start + 3_000);
    }
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

  it("finds exactly an actor's outbox rows, reading only those written during its life", () => {
    const trace = actorTrace(store.db, 'checkout', 'a012345')!;
    expect(trace.outbox.map((o) => [o.messageId, o.status, o.type])).toEqual([['a012345-1', 'sent', 'y'], ['a012345-2', 'pending', 'y']]);
    // Its life is 3 s among 20,000 actors started 1 s apart: the window holds its neighbours
    // within the clock slack, not the 40,000 rows of the table.
    const [lo, hi] = outboxWindow(store.db, T0 + 12_345_000, T0 + 12_348_000);
    expect(hi - lo + 1).toBeLessThan(300);
    const plan = store.db
      .prepare('EXPLAIN QUERY PLAN SELECT seq FROM outbox WHERE seq BETWEEN ? AND ? AND actor_kind = ? AND actor_id = ?')
      .all(lo, hi, 'checkout', 'a012345') as Array<{ detail: string }>;
    expect(plan.map((p) => p.detail).join(' ')).toMatch(/INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)/);
  });

  it('uses the status index for listing, rather than sorting the whole table', () => {
    const plan = store.db
      .prepare(`EXPLAIN QUERY PLAN SELECT id FROM actors WHERE kind = 'checkout' AND status = 'done' ORDER BY updated_at DESC, id DESC LIMIT 51`)
      .all() as Array<{ detail: string }>;
    expect(plan.map((p) => p.detail).join(' ')).toMatch(/USING INDEX actors_active/);
  });
});

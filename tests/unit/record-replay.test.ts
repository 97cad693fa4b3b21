/**
 * Records without snapshots (record format 2, src/runtime/record-replay.ts): the event rebuilds
 * the snapshot. A store killed before its checkpoint reopens with the same snapshots; a record of
 * format 1 (an older data dir) is used as stored; a kind whose host has not opened yet keeps its
 * records out of the checkpoint; readers outside the host (npm run replay, the explorer on a
 * copy) replay them too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ActorHost } from '../../src/runtime/actor-host.ts';
import { ManualClock } from '../../src/runtime/clock.ts';
import { Journal } from '../../src/runtime/journal.ts';
import type { JournalRecord } from '../../src/runtime/journal-record.ts';
import { actorTrace, latestActors } from '../../src/runtime/journal-queries.ts';
import { kindReplay, RECORD_FORMAT } from '../../src/runtime/record-replay.ts';
import { runtimeMigrations } from '../../src/runtime/schema.ts';
import { Store } from '../../src/runtime/store.ts';
import { jobDefinition, jobSource } from '../support/host-fixture.ts';

describe('records that leave the snapshot out', () => {
  let dir: string;
  let store: Store;
  const clock = new ManualClock();
  const open = () => (store = new Store({ path: join(dir, 'jobs.db'), migrations: runtimeMigrations, synchronous: 'NORMAL' }));
  const host = () => new ActorHost(jobDefinition, { store, source: jobSource, clock, onEffects: () => undefined });
  const rows = () => store.db.prepare('SELECT pos, record FROM journal ORDER BY pos').all() as Array<{ pos: number; record: string }>;
  const checkpointPos = () => Number(store.db.prepare(`SELECT value FROM meta WHERE key = 'journal_checkpoint'`).pluck().get());

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'record-replay-'));
    open();
  });
  afterEach(async () => {
    if (!store.closed) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('store the event and the machine version; a store killed before its checkpoint reopens with the same snapshots', async () => {
    const jobs = host();
    await jobs.deliver('a', { type: 'job.start', name: 'first' });
    await jobs.deliver('b', { type: 'job.start', name: 'second' });
    await jobs.deliver('b', { type: 'work.done', result: 'ok' });
    const before = { a: jobs.peek('a'), b: jobs.peek('b') };
    const records = rows().map((r) => JSON.parse(r.record) as JournalRecord);
    expect(records.every((r) => r.snapshot === undefined && r.format === RECORD_FORMAT && r.version === '1')).toBe(true);
    expect(checkpointPos()).toBe(0); // nothing checkpointed: the reopen replays all three

    store.kill();
    open();
    const again = host();
    for (const id of ['a', 'b'] as const) {
      expect(again.peek(id)?.value).toEqual(before[id]?.value);
      expect(again.peek(id)?.context).toEqual(before[id]?.context);
    }
    expect(store.db.prepare(`SELECT id, state FROM actors ORDER BY id`).all()).toEqual([
      { id: 'a', state: '"running"' },
      { id: 'b', state: '"done"' },
    ]);
  });

  it('a record of format 1, with its snapshot, is used as stored', async () => {
    const jobs = host();
    await jobs.deliver('a', { type: 'job.start', name: 'replayed' });
    store.kill();
    // As a store written before format 2 has it: the snapshot in the record (here differing from a
    // replay of the event, to tell which one the reopen used).
    const raw = new Store({ path: join(dir, 'jobs.db'), migrations: runtimeMigrations });
    const [row] = raw.db.prepare('SELECT pos, record FROM journal').all() as Array<{ pos: number; record: string }>;
    const old = JSON.parse(row!.record) as JournalRecord;
    delete old.format;
    old.snapshot = { status: 'active', value: 'running', historyValue: {}, context: { id: 'a', name: 'stored', outcome: null }, children: {} };
    raw.db.prepare('UPDATE journal SET record = ? WHERE pos = ?').run(JSON.stringify(old), row!.pos);
    raw.kill();

    open();
    expect((host().peek('a')?.context as { name: string }).name).toBe('stored');
  });

  it('stay after the checkpoint until the host of their kind opens and replays them', async () => {
    await host().deliver('a', { type: 'job.start', name: 'waiting' });
    store.kill();
    open();
    const journal = Journal.of(store, { clock });
    await journal.checkpointNow();
    expect(checkpointPos()).toBe(0);
    expect(store.db.prepare('SELECT count(*) FROM actors').pluck().get()).toBe(0);

    expect(host().peek('a')?.value).toBe('running');
    await journal.checkpointNow();
    expect(checkpointPos()).toBe(rows().at(-1)!.pos);
    expect(store.db.prepare(`SELECT state FROM actors WHERE id = 'a'`).pluck().get()).toBe('"running"');
  });

  it('are replayed by readers outside the host: a trace and the latest actors', async () => {
    const jobs = host();
    await jobs.deliver('a', { type: 'job.start', name: 'traced' });
    await store.close(); // checkpoints: the row says running
    open();
    const again = host();
    await again.deliver('a', { type: 'work.done', result: 'fine' });
    store.kill(); // the row still says running; the record after it says done

    const reader = new Store({ path: join(dir, 'jobs.db'), migrations: runtimeMigrations });
    try {
      const replay = kindReplay(jobDefinition);
      const trace = actorTrace(reader.db, 'job', 'a', undefined, replay);
      expect(trace?.summary.stateValue).toBe('done');
      expect(trace?.summary.context).toMatchObject({ outcome: 'fine' });
      expect(trace?.journal.map((j) => j.to)).toEqual(['running', 'done']);
      expect(latestActors(reader.db, 'job', replay).map((a) => [a.id, a.state])).toEqual([['a', 'done']]);
      // Without the machine, the reader still has the checkpointed row.
      expect(actorTrace(reader.db, 'job', 'a')?.summary.stateValue).toBe('running');
    } finally {
      reader.kill();
    }
  });
});

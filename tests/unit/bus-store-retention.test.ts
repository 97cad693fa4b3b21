/**
 * The in-process event log's retention (docs/architecture.md, "Retention"): a stream keeps a
 * message until it is older than the retention AND every consumer of the stream acked it, as
 * JetStream's `max_age` keeps it on NATS (which does not wait for consumers). Both sides: a young
 * message stays even when acked, an old one stays while a consumer has not acked it, and the
 * sequence continues across a reopen after its messages were deleted. And a KV bucket's TTL: a key
 * expires that long after its last write, in a bucket that has one; with a step on the stored write
 * time (KV_AGE_STEP_MS), no sooner than that and no later than a step after it. Only the keys of
 * a bucket with a TTL have a write time and an entry in its index (migration 5), and a bus.db of
 * version 4, which indexed every key, opens with its keys' values, revisions and write times.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { BusStore } from '../../src/runtime/transport/in-process/bus-store.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const RETENTION_MS = 60_000;

function world(kvAgeStepMs = 0) {
  const dir = mkdtempSync(join(tmpdir(), 'poa-retention-'));
  dirs.push(dir);
  const path = join(dir, 'bus.db');
  const clock = { now: 1_000_000 };
  const open = () => {
    const store = new BusStore(path, { retentionMs: RETENTION_MS, now: () => clock.now, kvAgeStepMs });
    if (store.streams().length === 0) {
      store.addStream('S', ['s.>']);
      store.addStream('T', ['t.>']);
    }
    return store;
  };
  return { open, clock, path };
}

const seqs = (store: BusStore, stream: string): number[] => store.msgsAfter(stream, 0, 100).msgs.map((m) => m.seq);

const publish = (store: BusStore, stream: string, ids: string[]) =>
  Promise.all(ids.map((id) => store.append(stream, `${stream.toLowerCase()}.x`, {}, '{}', id)));

describe('event log retention', () => {
  describe('when messages are older than the retention', () => {
    it('deletes those every consumer acked and keeps those a consumer has not', async () => {
      const { open, clock } = world();
      const store = open();
      await publish(store, 'S', ['a', 'b', 'c']);
      store.openConsumer('S', 'fast');
      store.openConsumer('S', 'slow');
      store.ack('S', 'fast', 3, 3);
      store.ack('S', 'slow', 1, 1);
      clock.now += RETENTION_MS + 1;
      await publish(store, 'S', ['d']); // young
      store.ack('S', 'fast', 4, 4);
      store.ack('S', 'slow', 2, 2);

      expect(await store.prune()).toBe(2);
      expect(seqs(store, 'S')).toEqual([3, 4]); // 3: old, not acked by "slow"; 4: young

      store.ack('S', 'slow', 4, 4);
      expect(await store.prune()).toBe(1);
      expect(seqs(store, 'S')).toEqual([4]); // young: kept although everyone acked it
      await store.close();
    });
  });

  describe('when messages are younger than the retention', () => {
    it('keeps them although every consumer acked them', async () => {
      const { open, clock } = world();
      const store = open();
      await publish(store, 'S', ['a', 'b']);
      store.openConsumer('S', 'd');
      store.ack('S', 'd', 2, 2);
      clock.now += RETENTION_MS - 1;
      expect(await store.prune()).toBe(0);
      expect(seqs(store, 'S')).toEqual([1, 2]);
      await store.close();
    });
  });

  it('prunes a stream nobody consumes by age alone, and continues its sequence after a reopen', async () => {
    const { open, clock } = world();
    const store = open();
    await publish(store, 'T', ['a', 'b']);
    clock.now += RETENTION_MS + 1;
    expect(await store.prune()).toBe(2);
    expect(seqs(store, 'T')).toEqual([]);
    await store.close();

    const again = open();
    expect(await publish(again, 'T', ['c'])).toEqual([{ seq: 3, duplicate: false }]);
    expect(seqs(again, 'T')).toEqual([3]);
    await again.close();
  });
});

describe('kv bucket TTL', () => {
  it('deletes a key whose last write is older than its bucket TTL, keeps a rewritten one, and keeps every key of a bucket without TTL', async () => {
    const { open, clock } = world();
    const store = open();
    store.ensureBucket('short', RETENTION_MS);
    store.ensureBucket('kept');
    await store.kvPut('short', 'old', '1');
    await store.kvPut('short', 'rewritten', '1');
    await store.kvPut('kept', 'old', '1');
    clock.now += RETENTION_MS - 1;
    await store.kvPut('short', 'rewritten', '2');
    expect(await store.prune()).toBe(0);
    clock.now += 2;
    expect(await store.prune()).toBe(1);
    expect(store.kvGet('short', 'old')).toBeUndefined();
    expect(store.kvGet('short', 'rewritten')).toMatchObject({ value: '2' });
    expect(store.kvGet('kept', 'old')).toMatchObject({ value: '1' });
    clock.now += RETENTION_MS;
    expect(await store.prune()).toBe(1);
    expect(store.kvGet('short', 'rewritten')).toBeUndefined();
    await store.close();
  });
});

describe('kv bucket TTL with the write time kept to a step', () => {
  const STEP_MS = 10_000;
  const age = (path: string, key: string) => {
    const db = new Database(path, { readonly: true });
    try {
      return db.prepare('SELECT at FROM kv WHERE key = ?').pluck().get(key);
    } finally {
      db.close();
    }
  };

  it('leaves the stored write time of a key rewritten within a step, and moves it once a step has passed', async () => {
    const { open, clock, path } = world(STEP_MS);
    const store = open();
    store.ensureBucket('short', RETENTION_MS);
    const t0 = clock.now;
    await store.kvPut('short', 'k', '1');
    clock.now += STEP_MS - 1;
    await store.kvPut('short', 'k', '2');
    expect(await store.kvUpdate('short', 'k', '3', 2)).toBe(3);
    expect(store.kvGet('short', 'k')).toEqual({ key: 'k', value: '3', revision: 3 });
    await store.close(); // the connection holds the file exclusively
    expect(age(path, 'k')).toBe(t0);
    const again = open();
    again.ensureBucket('short', RETENTION_MS);
    clock.now += 1;
    await again.kvPut('short', 'k', '4');
    expect(again.kvGet('short', 'k')).toMatchObject({ key: 'k', value: '4' });
    await again.close();
    expect(age(path, 'k')).toBe(t0 + STEP_MS);
  });

  it('keeps a key at least its TTL after its last write, and deletes it within a step after that', async () => {
    const { open, clock } = world(STEP_MS);
    const store = open();
    store.ensureBucket('short', RETENTION_MS);
    await store.kvPut('short', 'k', '1');
    clock.now += STEP_MS - 1;
    await store.kvPut('short', 'k', '2'); // its last write; the stored time stays a step - 1 ms older
    clock.now += RETENTION_MS;
    expect(await store.prune()).toBe(0);
    expect(store.kvGet('short', 'k')).toMatchObject({ value: '2' });
    clock.now += STEP_MS;
    expect(await store.prune()).toBe(1);
    expect(store.kvGet('short', 'k')).toBeUndefined();
    await store.close();
  });
});

/** Turns a closed bus.db back into the shape version 4 gave it: every key with a write time, and all in `kv_by_age`. */
function toVersion4(path: string, keys: Array<{ bucket: string; key: string; value: string; revision: number; at: number }> = []): void {
  const db = new Database(path);
  try {
    db.exec(`DROP INDEX kv_expiring;
      CREATE TABLE kv_v4 (bucket TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, revision INTEGER NOT NULL,
        at INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (bucket, key)) WITHOUT ROWID;
      INSERT INTO kv_v4 (bucket, key, value, revision, at) SELECT bucket, key, value, revision, coalesce(at, 0) FROM kv;
      DROP TABLE kv;
      ALTER TABLE kv_v4 RENAME TO kv;
      CREATE INDEX kv_by_age ON kv (bucket, at);
      ALTER TABLE kv_buckets DROP COLUMN ttl_ms;
      DELETE FROM schema_migrations WHERE version = 5;`);
    const insert = db.prepare('INSERT INTO kv (bucket, key, value, revision, at) VALUES (?, ?, ?, ?, ?)');
    const reserve = db.prepare('UPDATE kv_buckets SET last_rev = max(last_rev, ?) WHERE name = ?');
    for (const k of keys) {
      insert.run(k.bucket, k.key, k.value, k.revision, k.at);
      reserve.run(k.revision, k.bucket);
    }
  } finally {
    db.close();
  }
}

/** The entries of the index of write times (its leaves' cells), and the query plan of the prune's expiry. */
function ageIndex(path: string): { entries: number; expiryPlan: string } {
  const db = new Database(path, { readonly: true });
  try {
    const entries = db.prepare(`SELECT coalesce(sum(ncell), 0) FROM dbstat WHERE name = 'kv_expiring' AND pagetype = 'leaf'`).pluck().get() as number;
    const plan = db
      .prepare('EXPLAIN QUERY PLAN DELETE FROM kv WHERE bucket = ? AND key IN (SELECT key FROM kv WHERE bucket = ? AND at < ? ORDER BY at LIMIT ?)')
      .all('b', 'b', 0, 1) as { detail: string }[];
    return { entries, expiryPlan: plan.map((p) => p.detail).join('; ') };
  } finally {
    db.close();
  }
}

describe('kv write times only where a bucket has a TTL (migration 5)', () => {
  it('indexes the keys of a bucket with a TTL only, and expires them through that index', async () => {
    const { open, clock, path } = world();
    const store = open();
    store.ensureBucket('short', RETENTION_MS);
    store.ensureBucket('kept');
    for (const k of ['a', 'b', 'c']) {
      await store.kvPut('short', k, '1');
      await store.kvPut('kept', k, '1');
    }
    await store.kvCreate('short', 'd', '1');
    await store.kvCreate('kept', 'd', '1');
    expect(await store.kvUpdate('kept', 'a', '2', store.kvGet('kept', 'a')!.revision)).toBeGreaterThan(0);
    await store.kvPut('kept', 'b', '2');
    await store.close();
    const { entries, expiryPlan } = ageIndex(path);
    expect(entries).toBe(4); // short's a-d; none of kept's
    expect(expiryPlan).toContain('kv_expiring');

    const again = open();
    again.ensureBucket('short', RETENTION_MS);
    again.ensureBucket('kept');
    clock.now += RETENTION_MS + 1;
    expect(await again.prune()).toBe(4);
    expect(again.kvAll('short')).toEqual([]);
    expect(again.kvAll('kept').map((r) => [r.key, r.value])).toEqual([['c', '1'], ['d', '1'], ['a', '2'], ['b', '2']]);
    await again.close();
    expect(ageIndex(path).entries).toBe(0);
  });

  it('brings a bucket opened with another TTL in line: given one, its keys count as written then; losing it, they leave the index', async () => {
    const { open, clock, path } = world();
    const store = open();
    store.ensureBucket('gains');
    store.ensureBucket('loses', RETENTION_MS);
    await store.kvPut('gains', 'k', '1');
    await store.kvPut('loses', 'k', '1');
    await store.close();
    expect(ageIndex(path).entries).toBe(1);

    clock.now += RETENTION_MS;
    const again = open();
    again.ensureBucket('gains', RETENTION_MS);
    again.ensureBucket('loses');
    expect(await again.prune()).toBe(0); // 'loses' would have expired by now
    await again.close();
    expect(ageIndex(path).entries).toBe(1); // gains's key, written (as far as is known) at the reopen

    clock.now += RETENTION_MS + 1;
    const third = open();
    third.ensureBucket('gains', RETENTION_MS);
    third.ensureBucket('loses');
    expect(await third.prune()).toBe(1);
    expect(third.kvGet('gains', 'k')).toBeUndefined();
    expect(third.kvGet('loses', 'k')).toMatchObject({ value: '1' });
    await third.close();
  });

  it('opens a bus.db of version 4: keys keep their values and revisions, a TTL bucket its write times, the others leave the index', async () => {
    const { open, clock, path } = world();
    const store = open();
    store.ensureBucket('short', RETENTION_MS);
    store.ensureBucket('kept');
    await store.close();
    const t0 = clock.now;
    toVersion4(path, [
      { bucket: 'short', key: 'k', value: 's', revision: 7, at: t0 },
      { bucket: 'kept', key: 'k', value: 'v', revision: 3, at: t0 },
      { bucket: 'kept', key: 'j', value: 'w', revision: 4, at: t0 },
    ]);

    clock.now = t0 + RETENTION_MS - 1;
    const again = open();
    again.ensureBucket('short', RETENTION_MS);
    again.ensureBucket('kept');
    expect(again.kvGet('short', 'k')).toEqual({ key: 'k', value: 's', revision: 7 });
    expect(again.kvAll('kept')).toEqual([{ key: 'k', value: 'v', revision: 3 }, { key: 'j', value: 'w', revision: 4 }]);
    expect(await again.kvUpdate('kept', 'k', 'v2', 3)).toBeGreaterThan(4);
    expect(await again.prune()).toBe(0);
    clock.now = t0 + RETENTION_MS + 1; // a TTL after the write time stored before the migration, not after it
    expect(await again.prune()).toBe(1);
    expect(again.kvGet('short', 'k')).toBeUndefined();
    await again.close();
    expect(ageIndex(path).entries).toBe(0);
  });
});

describe('a bus.db from before the kv TTL (migration 3)', () => {
  it('opens, and counts its keys as written at the migration: not expired at once, expired a TTL later', async () => {
    const { open, clock, path } = world();
    const store = open();
    store.ensureBucket('short');
    await store.kvPut('short', 'old', '1');
    await store.close();
    toVersion4(path);
    const db = new Database(path);
    db.exec(`DROP INDEX kv_by_age; ALTER TABLE kv DROP COLUMN at; DELETE FROM schema_migrations WHERE version = 3;`);
    db.close();

    clock.now = Date.now() + 1_000;
    const again = open();
    again.ensureBucket('short', RETENTION_MS);
    expect(await again.prune()).toBe(0);
    expect(again.kvGet('short', 'old')).toMatchObject({ value: '1' });
    clock.now += RETENTION_MS;
    expect(await again.prune()).toBe(1);
    await again.close();
  });
});

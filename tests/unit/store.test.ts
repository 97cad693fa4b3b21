/**
 * The store's group commit under synchronous=FULL: SQLite commits at NORMAL and the store syncs the
 * WAL itself on the thread pool. Nobody may hear of a batch (its writers, its hooks, a flushed()
 * waiter, a read) before that sync returns, and batches settle in commit order even when their
 * syncs return out of order. Real SQLite files; the sync is held by the test to observe who waits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { PAGE_CACHE_KIB, Store, StoreInUse } from '../../src/runtime/store.ts';

const migrations = [{ version: 1, name: 'notes', sql: 'CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)' }];

interface HeldSync {
  fd: number;
  done: (err: Error | null) => void;
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function storeWithHeldSyncs(): { store: Store; held: HeldSync[]; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'poa-store-'));
  dirs.push(dir);
  const held: HeldSync[] = [];
  const path = join(dir, 'test.db');
  const store = new Store({ path, migrations, syncFile: (fd, done) => held.push({ fd, done }) });
  return { store, held, path };
}

const insert = (text: string) => (db: Store['db']) => db.prepare('INSERT INTO notes (text) VALUES (?)').run(text);
const tick = () => new Promise((r) => setImmediate(r));

describe('Store under synchronous=FULL', () => {
  it('runs SQLite at NORMAL and syncs the WAL itself after each commit', async () => {
    const { store, held } = storeWithHeldSyncs();
    expect(store.db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    void store.write(insert('a'));
    await tick();
    expect(held).toHaveLength(1);
    held[0]!.done(null);
    await store.close();
  });

  it('tells nobody about a batch until its WAL sync returns', async () => {
    const { store, held } = storeWithHeldSyncs();
    const events: string[] = [];
    const w = store.write(insert('a'), () => events.push('hook')).then(() => events.push('writer'));
    await tick();
    await tick();
    // Committed, not yet durable: no writer, no hook, and the relay must treat it as unflushed.
    expect(held).toHaveLength(1);
    expect(events).toEqual([]);
    expect(store.inBatch).toBe(true);
    const flushed = store.flushed().then(() => events.push('flushed'));
    const read = store.read((db) => db.prepare('SELECT count(*) AS n FROM notes').get()).then((r) => events.push(`read ${JSON.stringify(r)}`));
    await tick();
    expect(events).toEqual([]);

    held[0]!.done(null);
    await Promise.all([w, flushed, read]);
    // The hook runs in the settle itself; the writers' continuations are microtasks after it.
    expect(events).toEqual(['hook', 'writer', 'flushed', 'read {"n":1}']);
    expect(store.inBatch).toBe(false);
    await store.close();
  });

  it('settles batches in commit order when their syncs return out of order', async () => {
    const { store, held } = storeWithHeldSyncs();
    const order: string[] = [];
    const first = store.write(insert('a')).then(() => order.push('first'));
    await tick();
    const second = store.write(insert('b')).then(() => order.push('second'));
    await tick();
    expect(held).toHaveLength(2);
    held[1]!.done(null); // the later sync returns first: nothing may settle yet
    await tick();
    expect(order).toEqual([]);
    held[0]!.done(null);
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'second']);
    await store.close();
  });

  it('stops the store when a sync fails, telling every unsynced writer, and keeps what reached the file', async () => {
    const { store, held, path } = storeWithHeldSyncs();
    await Promise.all([store.write(insert('kept')), tick().then(() => held[0]!.done(null))]);
    const lost = store.write(insert('unknown'));
    await tick();
    held[1]!.done(new Error('EIO'));
    await expect(lost).rejects.toThrow('EIO');
    expect(store.closed).toBe(true);
    await expect(store.write(insert('after'))).rejects.toThrow('closed');
    // A restart reads what is on disk; the failed sync's commit may or may not be there, the synced one is.
    const again = new Store({ path, migrations });
    const texts = again.db.prepare('SELECT text FROM notes ORDER BY id').pluck().all();
    expect(texts[0]).toBe('kept');
    await again.close();
  });

  it('asks a held batch gate right after its COMMIT, while the sync runs, and tells nobody until both are done', async () => {
    const { store, held } = storeWithHeldSyncs();
    const events: string[] = [];
    let openGate: () => void = () => undefined;
    const w = store
      .write((db) => {
        insert('a')(db);
        store.holdRelease(() => {
          events.push('gate asked');
          return new Promise<void>((r) => (openGate = r));
        });
      }, () => events.push('hook'))
      .then(() => events.push('writer'));
    await tick();
    await tick();
    // Committed: the gate (the journal's shipping) is already asked, the WAL sync has not returned.
    expect(held).toHaveLength(1);
    expect(events).toEqual(['gate asked']);
    openGate(); // the log has the batch first: still nobody is told, the sync may yet fail
    await tick();
    expect(events).toEqual(['gate asked']);
    held[0]!.done(null);
    await w;
    expect(events).toEqual(['gate asked', 'hook', 'writer']);

    // The other order: synced first, then the gate.
    const events2: string[] = [];
    let openGate2: () => void = () => undefined;
    const w2 = store
      .write((db) => {
        insert('b')(db);
        store.holdRelease(() => new Promise<void>((r) => (openGate2 = r)));
      })
      .then(() => events2.push('writer'));
    await tick();
    held[1]!.done(null);
    await tick();
    expect(events2).toEqual([]);
    openGate2();
    await w2;
    expect(events2).toEqual(['writer']);
    await store.close();
  });

  it('a gate that fails while the sync runs stops the store and tells none of the batch writers', async () => {
    const { store, held } = storeWithHeldSyncs();
    const w = store.write((db) => {
      insert('a')(db);
      store.holdRelease(() => Promise.reject(new Error('fenced')));
    });
    await tick();
    held[0]!.done(null);
    await expect(w).rejects.toThrow('fenced');
    expect(store.closed).toBe(true);
  });

  it('syncs nothing under NORMAL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'poa-store-'));
    dirs.push(dir);
    const held: HeldSync[] = [];
    const store = new Store({ path: join(dir, 'n.db'), migrations, synchronous: 'NORMAL', syncFile: (fd, done) => held.push({ fd, done }) });
    await store.write(insert('a'));
    expect(held).toHaveLength(0);
    await store.close();
  });
});

describe('Store ownership', () => {
  const freshPath = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'poa-store-'));
    dirs.push(dir);
    return join(dir, 'owned.db');
  };

  it('refuses a second owner of the file by default, and lets it in once the first has closed', async () => {
    const path = freshPath();
    const first = new Store({ path, migrations, synchronous: 'NORMAL' });
    await first.write(insert('mine'));
    expect(() => new Store({ path, migrations, openTimeoutMs: 50 })).toThrow(StoreInUse);
    const reader = new Database(path, { readonly: true, timeout: 50 });
    expect(() => reader.prepare('SELECT count(*) FROM notes').get()).toThrow(/locked/);
    await first.close();
    const second = new Store({ path, migrations, openTimeoutMs: 50 });
    expect(second.db.prepare('SELECT text FROM notes').pluck().all()).toEqual(['mine']);
    // Exclusive WAL keeps its index in the heap: no -shm file is used.
    expect(second.db.pragma('locking_mode', { simple: true })).toBe('exclusive');
    await second.close();
    reader.close();
  });

  it('lets other processes read while it runs when shared', async () => {
    const path = freshPath();
    const store = new Store({ path, migrations, synchronous: 'NORMAL', locking: 'shared' });
    await store.write(insert('visible'));
    const reader = new Database(path, { readonly: true, timeout: 50 });
    expect(reader.prepare('SELECT text FROM notes').pluck().all()).toEqual(['visible']);
    reader.close();
    await store.close();
  });
});

describe('Store page size', () => {
  it('gives a new file the page size asked for, with the same WAL bytes between checkpoints; a file that exists keeps its own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'poa-store-'));
    dirs.push(dir);
    const big = new Store({ path: join(dir, 'big.db'), migrations, pageSize: 16_384 });
    await big.write(insert('a'));
    expect(big.db.pragma('page_size', { simple: true })).toBe(16_384);
    expect(big.db.pragma('wal_autocheckpoint', { simple: true })).toBe(2_048);
    // The page cache is bounded in bytes whatever the page size: about 1,000 pages of 16 KiB.
    expect(big.db.pragma('cache_size', { simple: true })).toBe(-PAGE_CACHE_KIB);
    await big.close();

    const plain = new Store({ path: join(dir, 'plain.db'), migrations });
    await plain.write(insert('b'));
    expect(plain.db.pragma('page_size', { simple: true })).toBe(4_096);
    expect(plain.db.pragma('wal_autocheckpoint', { simple: true })).toBe(8_192);
    await plain.close();

    const reopened = new Store({ path: join(dir, 'plain.db'), migrations, pageSize: 16_384 });
    expect(reopened.db.pragma('page_size', { simple: true })).toBe(4_096);
    expect(reopened.db.prepare('SELECT text FROM notes').pluck().all()).toEqual(['b']);
    await reopened.write(insert('c'));
    expect(reopened.db.prepare('SELECT count(*) FROM notes').pluck().get()).toBe(2);
    await reopened.close();
  });
});

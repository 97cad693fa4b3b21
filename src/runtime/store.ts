/**
 * A service's SQLite store: one file per service, WAL, prepared statements, migrations, and
 * *group commit*.
 *
 * `write(fn)` runs `fn` synchronously inside a savepoint of the current batch transaction and
 * resolves once that batch has COMMITTED. Every write that arrives in the same turn of the event
 * loop shares one commit (one fsync under synchronous=FULL), and nobody is answered before the
 * commit that holds their change. A write that throws rolls back to its own savepoint only.
 *
 *     write(a) ─┐
 *     write(b) ─┼─ BEGIN … SAVEPOINT a … SAVEPOINT b … ─ setImmediate ─ COMMIT ─ resolve a, b; afterCommit hooks
 *     write(c) ─┘
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type Db = Database.Database;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export type Synchronous = 'NORMAL' | 'FULL';

export interface StoreOptions {
  /** File path, or ':memory:'. */
  path: string;
  migrations: readonly Migration[];
  /** NORMAL survives a process crash, FULL also a power loss. Default FULL. */
  synchronous?: Synchronous;
  /** Called at named points so tests can simulate a crash there by throwing. */
  faults?: FaultInjector;
}

export type CrashPoint = 'beforeCommit' | 'afterCommit' | 'afterPublish';
export type FaultInjector = (point: CrashPoint) => void;

/** Thrown by a fault injector: the process "dies" at that point. */
export class SimulatedCrash extends Error {
  override readonly name = 'SimulatedCrash';
  constructor(readonly point: CrashPoint) {
    super(`simulated crash at ${point}`);
  }
}

interface Batch {
  waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }>;
  afterCommit: Array<() => void>;
}

export class Store {
  readonly db: Db;
  readonly faults: FaultInjector | undefined;
  private batch: Batch | undefined;
  private dead = false;
  /**
   * Built once: `db.transaction(fn)` builds four wrapper functions per call, which costs more than
   * the savepoint it takes. Inside the open batch it runs as SAVEPOINT … RELEASE.
   */
  private readonly inSavepoint: (fn: (db: Db) => unknown) => unknown;
  private readonly begin: Database.Statement;
  private readonly commitBatch: Database.Statement;
  private readonly rollbackListeners: Array<() => void> = [];

  constructor(opts: StoreOptions) {
    if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
    this.db = new Database(opts.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    // Every write runs in a SAVEPOINT of the batch, and SQLite keeps the pages a savepoint may have
    // to restore in a sub-journal. With temp files (the default) that is a pwrite per page to
    // /var/tmp, which measured 314 of the 505 write syscalls of a checkout; memory costs a memcpy.
    this.db.pragma('temp_store = MEMORY');
    // A checkpoint copies the WAL's pages into the database (and syncs it) inside whichever commit
    // crosses the threshold. Every delivery dirties pages all over a dozen B-trees (random ids), so
    // at SQLite's default of 1,000 pages the stores checkpointed every few hundred checkouts; with
    // 8,192 (32 MiB at 4 KiB pages) a page rewritten many times between checkpoints is copied once.
    this.db.pragma('wal_autocheckpoint = 8192');
    this.faults = opts.faults;
    migrate(this.db, opts.migrations);
    const db = this.db;
    this.inSavepoint = db.transaction((fn: (db: Db) => unknown) => fn(db));
    this.begin = db.prepare('BEGIN IMMEDIATE');
    this.commitBatch = db.prepare('COMMIT');
  }

  /** Runs `fn` in the current batch; resolves with its result after the batch commits. */
  write<T>(fn: (db: Db) => T, afterCommit?: (result: T) => void): Promise<T> {
    if (this.dead) return Promise.reject(new Error('store is closed'));
    const batch = this.openBatch();
    let result: T;
    try {
      result = this.inSavepoint(fn) as T; // a SAVEPOINT inside the open batch
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (afterCommit) batch.afterCommit.push(() => afterCommit(result));
    return new Promise<T>((resolve, reject) => batch.waiters.push({ resolve: () => resolve(result), reject }));
  }

  /** Runs a read after any pending batch has committed, so nobody reads what may yet roll back. */
  async read<T>(fn: (db: Db) => T): Promise<T> {
    if (this.batch) await this.flushed();
    return fn(this.db);
  }

  /** Resolves when the current batch (if any) has committed. */
  flushed(): Promise<void> {
    const batch = this.batch;
    if (!batch) return Promise.resolve();
    return new Promise((resolve, reject) => batch.waiters.push({ resolve, reject }));
  }

  private openBatch(): Batch {
    if (this.batch) return this.batch;
    this.begin.run();
    const batch: Batch = { waiters: [], afterCommit: [] };
    this.batch = batch;
    setImmediate(() => this.commit(batch));
    return batch;
  }

  private commit(batch: Batch): void {
    if (this.batch !== batch) return;
    this.batch = undefined;
    if (this.dead) {
      for (const w of batch.waiters) w.reject(new Error('store was closed before commit'));
      return;
    }
    try {
      this.faults?.('beforeCommit');
      this.commitBatch.run();
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      for (const l of this.rollbackListeners) l();
      if (err instanceof SimulatedCrash) this.kill();
      for (const w of batch.waiters) w.reject(err);
      return;
    }
    for (const w of batch.waiters) w.resolve();
    try {
      this.faults?.('afterCommit');
      for (const hook of batch.afterCommit) hook();
    } catch (err) {
      if (err instanceof SimulatedCrash) this.kill();
      else throw err;
    }
  }

  /** Caches of what a rolled-back batch wrote must forget it. */
  onRollback(listener: () => void): void {
    this.rollbackListeners.push(listener);
  }

  /** True while a batch is open: reads on this connection would see uncommitted writes. */
  get inBatch(): boolean {
    return this.batch !== undefined;
  }

  get closed(): boolean {
    return this.dead;
  }

  /** Abrupt stop, as a crash would: whatever is uncommitted is lost. */
  kill(): void {
    if (this.dead) return;
    this.dead = true;
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
    this.db.close();
  }

  async close(): Promise<void> {
    if (this.dead) return;
    await this.flushed();
    this.dead = true;
    this.db.close();
  }
}

/** Applies pending migrations, each in its own transaction, recording them in schema_migrations. */
function migrate(db: Db, migrations: readonly Migration[]): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as Array<{ version: number }>).map((r) => r.version),
  );
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, new Date().toISOString());
    })();
  }
}

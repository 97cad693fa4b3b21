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
 *     write(b) ─┼─ BEGIN … SAVEPOINT a … SAVEPOINT b … ─ setImmediate ─ COMMIT ─ fdatasync(WAL) ─ resolve a, b; afterCommit hooks
 *     write(c) ─┘                                                                (libuv thread pool)
 *
 * Durability. `synchronous: 'FULL'` (the default) means a commit is on disk before anyone hears of
 * it, as SQLite's own FULL does, but the wait for the disk happens off the event loop: SQLite runs
 * at synchronous=NORMAL (which in WAL mode syncs only around checkpoints) and the store itself
 * fdatasyncs the WAL file on the thread pool after each COMMIT, resolving the batch's writers and
 * running its hooks only when that sync returns. SQLite's FULL is exactly NORMAL plus that sync of
 * the WAL at every commit; the difference is that the one JS thread every service shares is not
 * blocked for the fsync (it measured 25% of embedded throughput and half the latency at C=1), and
 * the next batch fills while the disk works. Until the sync returns the batch counts as unflushed:
 * `flushed()` waits for it and the relay sends nothing from it. `'NORMAL'` skips the sync: it
 * survives a crash of the process, not a power loss.
 *
 * Ownership. A store has one owner: its connection holds the file in `locking_mode=EXCLUSIVE`
 * (the default), so a second process that opens it (a second instance pointed at the same
 * DATA_DIR, whose hot actors would silently diverge from this one's) is refused at open. It also
 * makes every transaction cheaper: WAL's shared-memory index lives in the heap and no transaction
 * takes file locks (fcntl) any more; a point read measured 5.1 -> 0.7 us, a commit of five updates
 * 29 -> 20 us. `locking: 'shared'` lets other processes read the file while it runs (the sqlite3
 * shell, scripts/replay.ts), at that price.
 */
import Database from 'better-sqlite3';
import { closeSync, fdatasync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { StoreMetrics } from './metrics.ts';

export type Db = Database.Database;

/**
 * SQLite's page cache per connection, in KiB: better-sqlite3's compile-time default, set here so that
 * the bound does not rest on how the library was built. The embedded process has seven connections
 * (six services and bus.db), so about 110 MiB of native memory once every cache is full, which takes
 * the first minute of a bench (docs/benchmarks.md, "A long run's memory"). A quarter of it measured
 * the same reads and writes per checkout at 20,000 checkouts.
 */
export const PAGE_CACHE_KIB = 16_000;

/** WAL bytes between automatic checkpoints (see the constructor). */
const WAL_CHECKPOINT_BYTES = 8192 * 4096;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export type Synchronous = 'NORMAL' | 'FULL';
export type Locking = 'exclusive' | 'shared';

export interface StoreOptions {
  /** File path, or ':memory:'. */
  path: string;
  migrations: readonly Migration[];
  /** NORMAL survives a process crash, FULL also a power loss. Default FULL. */
  synchronous?: Synchronous;
  /** 'exclusive' (default): only this connection may open the file. 'shared': others may read it meanwhile. */
  locking?: Locking;
  /**
   * SQLite's page size for a new file, in bytes (default SQLite's 4,096); an existing file keeps its
   * own. A store that is mostly its append-only journal writes fewer WAL frames with larger pages
   * (system.ts sets it per service: registry.ts, servicePageSizes).
   */
  pageSize?: number;
  /** How long to wait at open for another holder of the file to let go (a restart's predecessor). Default 5 s. */
  openTimeoutMs?: number;
  /** Called at named points so tests can simulate a crash there by throwing. */
  faults?: FaultInjector;
  /** Runs a batch's commit on a later turn of the event loop. Default setImmediate; the simulator owns its event loop. */
  defer?: (fn: () => void) => void;
  /** How the WAL is synced under FULL; tests hold it to observe who waits. Default fs.fdatasync. */
  syncFile?: (fd: number, done: (err: Error | null) => void) => void;
  /** Where commits, their batch sizes and WAL sync times are counted (metrics.ts). */
  metrics?: StoreMetrics | undefined;
}

/**
 * Where a test may crash the process: before a batch's COMMIT, after it is durable (before anyone is
 * told), after the relay sent a message (before its watermark moved), while a journal checkpoint is
 * written (journal.ts), after a checkpoint committed but before the journal is truncated by it, and,
 * when the journal is replicated (replication.ts), after the local commit before the records are
 * shipped, and after the log acknowledged them before the batch is released.
 */
export type CrashPoint = 'beforeCommit' | 'afterCommit' | 'afterPublish' | 'duringCheckpoint' | 'beforeTruncate' | 'beforeReplicate' | 'afterReplicate';
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
  /** Under FULL: its commit is on disk. */
  synced: boolean;
  /** Must resolve before the batch is released (holdRelease): the journal's replication. */
  gate?: () => Promise<void>;
  /** The gate's promise, asked right after COMMIT, while the WAL sync runs (see holdRelease). */
  gating?: Promise<void>;
}

/** Another process holds the store: each store has one owner. */
export class StoreInUse extends Error {
  override readonly name = 'StoreInUse';
  constructor(readonly path: string) {
    super(`${path} is held by another process: a store has one owner (is another instance using this DATA_DIR?)`);
  }
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
  private readonly beforeCommitHooks: Array<() => void> = [];
  private readonly beforeCloseHooks: Array<() => Promise<void>> = [];
  private readonly killListeners: Array<() => void> = [];
  /** The WAL's file descriptor, synced after each commit under FULL; undefined under NORMAL. */
  private walFd: number | undefined;
  private readonly syncFile: (fd: number, done: (err: Error | null) => void) => void;
  private readonly defer: (fn: () => void) => void;
  /** Committed batches whose WAL sync has not returned yet, oldest first. */
  private readonly syncing: Batch[] = [];
  /** Durable batches waiting for a gate (their own or an earlier batch's) before release, oldest first. */
  private readonly gated: Batch[] = [];
  private gateChain: Promise<void> = Promise.resolve();
  private readonly releaseFailedListeners: Array<(err: unknown) => void> = [];
  private readonly metrics: StoreMetrics | undefined;

  constructor(opts: StoreOptions) {
    if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
    this.db = new Database(opts.path, { timeout: opts.openTimeoutMs ?? 5_000 });
    // Before the first access: the WAL index of an exclusive connection then lives in the heap.
    if ((opts.locking ?? 'exclusive') === 'exclusive') this.db.pragma('locking_mode = EXCLUSIVE');
    // Before the file is created; SQLite ignores it for a file that exists.
    if (opts.pageSize !== undefined) this.db.pragma(`page_size = ${opts.pageSize}`);
    try {
      this.db.pragma('journal_mode = WAL');
    } catch (err) {
      this.db.close();
      throw (err as { code?: string }).code === 'SQLITE_BUSY' ? new StoreInUse(opts.path) : err;
    }
    const durable = (opts.synchronous ?? 'FULL') === 'FULL' && opts.path !== ':memory:';
    this.db.pragma(`synchronous = ${durable ? 'NORMAL' : (opts.synchronous ?? 'FULL')}`);
    this.syncFile = opts.syncFile ?? fdatasync;
    this.defer = opts.defer ?? setImmediate;
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    // Every write runs in a SAVEPOINT of the batch, and SQLite keeps the pages a savepoint may have
    // to restore in a sub-journal. With temp files (the default) that is a pwrite per page to
    // /var/tmp, which measured 314 of the 505 write syscalls of a checkout; memory costs a memcpy.
    this.db.pragma('temp_store = MEMORY');
    this.db.pragma(`cache_size = -${PAGE_CACHE_KIB}`); // negative: KiB, not pages
    // A checkpoint copies the WAL's pages into the database (and syncs it) inside whichever commit
    // crosses the threshold. Every delivery dirties pages all over a dozen B-trees (random ids), so
    // at SQLite's default of 1,000 pages the stores checkpointed every few hundred checkouts; with
    // 8,192 (32 MiB at 4 KiB pages) a page rewritten many times between checkpoints is copied once.
    // The threshold counts pages: 32 MiB of WAL whatever the file's page size.
    this.db.pragma(`wal_autocheckpoint = ${Math.round(WAL_CHECKPOINT_BYTES / (this.db.pragma('page_size', { simple: true }) as number))}`);
    this.faults = opts.faults;
    this.metrics = opts.metrics;
    migrate(this.db, opts.migrations);
    // The WAL exists once a write has run (migrations write) and lives as long as this connection.
    // Its directory entry is synced once, so that a power loss cannot lose the file itself.
    if (durable) {
      this.walFd = openSync(`${opts.path}-wal`, 'r+');
      syncDirectory(dirname(opts.path));
    }
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
    // A method, not `resolve: () => …`: tsx's keepNames names an arrow in a property at every call
    // (docs/benchmarks.md, "Closures named at run time"); this runs for every write.
    return new Promise<T>((resolve, reject) => batch.waiters.push({ resolve() { resolve(result); }, reject }));
  }

  /**
   * From inside a `write`: runs `hook` once the current batch is durable, before the writers' own
   * hooks (the journal announces its records to the relay and the scheduler this way).
   */
  afterCommit(hook: () => void): void {
    const batch = this.batch;
    if (!batch) throw new Error('afterCommit outside a batch');
    batch.afterCommit.push(hook);
  }

  /**
   * From inside a `write`: the current batch is released (its writers told, its hooks run) only
   * once it is durable here AND `gate()` has resolved; gates are called in commit order, right
   * after the batch's COMMIT (so the gate's work overlaps the WAL's fdatasync instead of following
   * it), and batches are released in commit order. The journal ships the batch's records to its
   * replicated log this way, so nobody hears of a change that a lost machine would take with it.
   * A gate that rejects stops the store like a failed sync: nobody is told of that batch or any
   * later one. The gate may thus finish before the local sync: a power loss then can leave the log
   * ahead of the local file, which the replicator detects at open (JournalDiverged: rebuilt from
   * the log); nobody was told of such a batch either way.
   */
  holdRelease(gate: () => Promise<void>): void {
    const batch = this.batch;
    if (!batch) throw new Error('holdRelease outside a batch');
    if (batch.gate) throw new Error('holdRelease: the batch already has a gate');
    batch.gate = gate;
  }

  /** Called when a gate rejected and the store stopped (a fenced journal, say). */
  onReleaseFailed(listener: (err: unknown) => void): void {
    this.releaseFailedListeners.push(listener);
  }

  /** Runs inside every batch's transaction just before its COMMIT (a journal checkpoint joins it there). */
  beforeCommit(hook: () => void): void {
    this.beforeCommitHooks.push(hook);
  }

  /** Called once when the store is killed (as a crash: its runtime's term ended). */
  onKill(listener: () => void): void {
    this.killListeners.push(listener);
  }

  /** Runs at a graceful close, before the last flush (the journal's final checkpoint). */
  beforeClose(hook: () => Promise<void>): void {
    this.beforeCloseHooks.push(hook);
  }

  /** Runs a read after any pending batch is durable, so nobody reads what may yet be lost. */
  async read<T>(fn: (db: Db) => T): Promise<T> {
    if (this.inBatch) await this.flushed();
    return fn(this.db);
  }

  /** Resolves when the current batch (if any) and every batch before it are committed and synced. */
  flushed(): Promise<void> {
    const batch = this.batch ?? this.syncing[this.syncing.length - 1] ?? this.gated[this.gated.length - 1];
    if (!batch) return Promise.resolve();
    return new Promise((resolve, reject) => batch.waiters.push({ resolve, reject }));
  }

  private openBatch(): Batch {
    if (this.batch) return this.batch;
    this.begin.run();
    const batch: Batch = { waiters: [], afterCommit: [], synced: false };
    this.batch = batch;
    this.defer(() => this.commit(batch));
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
      for (const hook of this.beforeCommitHooks) hook();
      this.commitBatch.run();
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      for (const l of this.rollbackListeners) l();
      if (err instanceof SimulatedCrash) this.kill();
      for (const w of batch.waiters) w.reject(err);
      return;
    }
    this.metrics?.committed(batch.waiters.length);
    if (batch.gate) {
      // Asked now, in commit order, while the sync below runs; awaited at release.
      const gating = Promise.resolve().then(batch.gate);
      gating.catch(() => undefined); // handled at release, once the earlier batches are released
      batch.gating = gating;
    }
    if (this.walFd === undefined) return this.release(batch);
    this.syncing.push(batch);
    const syncStart = this.metrics ? performance.now() : 0;
    this.syncFile(this.walFd, (err) => {
      if (this.metrics && !err) this.metrics.synced((performance.now() - syncStart) / 1000);
      if (err) {
        // Whether these commits reached the disk is unknown: stop, as a database does when fsync
        // fails. A restart recovers from what is on disk; nobody was told about these batches.
        for (const b of this.syncing.splice(0)) for (const w of b.waiters) w.reject(err);
        this.kill();
        return;
      }
      // Syncs may return out of order; a batch is settled only after every earlier one.
      batch.synced = true;
      while (this.syncing[0]?.synced) this.release(this.syncing.shift()!);
    });
  }

  /** The batch is durable here: settle it now, or after its gate and every earlier batch's. */
  private release(batch: Batch): void {
    if (!batch.gating && this.gated.length === 0) return this.settle(batch);
    this.gated.push(batch);
    const gate = batch.gating ?? Promise.resolve();
    this.gateChain = this.gateChain.then(
      () =>
        gate.then(
          () => {
            this.gated.shift();
            this.settle(batch);
          },
          (err: unknown) => this.gateFailed(err),
        ),
    );
  }

  /** A gate rejected: nobody is told of the batches still held, and the store stops. */
  private gateFailed(err: unknown): void {
    if (this.dead && this.gated.length === 0) return;
    for (const b of this.gated.splice(0)) for (const w of b.waiters) w.reject(err);
    for (const b of this.syncing.splice(0)) for (const w of b.waiters) w.reject(err);
    this.kill();
    for (const l of this.releaseFailedListeners) l(err);
  }

  /** The batch is durable: tell its writers, then run its hooks. */
  private settle(batch: Batch): void {
    if (this.dead) {
      for (const w of batch.waiters) w.reject(new Error('store was closed before its commit was synced'));
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

  /** True while a batch is open, not yet synced or not yet released: reads on this connection would see what may yet be lost. */
  get inBatch(): boolean {
    return this.batch !== undefined || this.syncing.length > 0 || this.gated.length > 0;
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
    this.closeWal();
    for (const listener of this.killListeners.splice(0)) listener();
  }

  async close(): Promise<void> {
    if (this.dead) return;
    for (const hook of this.beforeCloseHooks) await hook();
    if (this.dead) return;
    await this.flushed();
    this.dead = true;
    this.db.close();
    this.closeWal();
  }

  private closeWal(): void {
    if (this.walFd !== undefined) closeSync(this.walFd);
    this.walFd = undefined;
  }
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
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

/**
 * The durable half of the in-process transport: stream messages, consumer ack state and KV entries
 * in one SQLite file. One process owns a file at a time; nothing here coordinates two writers.
 *
 * WAL with synchronous=NORMAL: a commit survives a process crash but not a power loss, the same
 * trade nats-server makes by default (it does not fsync every write either).
 *
 * Group commit by the same `Store` the services use (runtime/store.ts): every write joins the
 * batch open for this turn of the event loop, which commits on the next one. An append or KV write
 * resolves after that commit, so a publish is acknowledged, and seen by consumers and watchers,
 * only once it is stored; an ack or delivery mark is not waited for, since losing one to a crash
 * only redelivers: a consumer's state is kept here and written just before a commit, whatever
 * number of acks came since, at most once per CONSUMER_WRITE_EVERY_MS (a timer opens a batch for it
 * if nothing else does), in the batch of a prune and at a graceful close. Consumers read no further
 * than the committed end of each stream. (Each of these writes was once its own transaction: 95 of
 * the 212 write syscalls of a checkout; then each ack its own savepoint and two or three
 * statements; then once per batch, a page in most of this file's commits, 5% of its WAL frames.)
 *
 * A publish is de-duplicated by its message id within a window, as JetStream does (its default
 * duplicate window is two minutes). The window is kept in memory, per stream, and rebuilt from the
 * log's tail at open; the unique index on message ids it replaces put every publication at a random
 * place in a B-tree: 132 -> 119 write syscalls per checkout, embedded. In memory an id is its hash
 * and its message's sequence, confirmed on a hit by the id the message stores (duplicate-window.ts,
 * which states the window's guarantee exactly).
 *
 * Retention (`prune`): a message is deleted once it is older than the stream's retention
 * (EVENT_RETENTION_MS, JetStream's `max_age` on NATS) and every consumer of its stream has acked it,
 * oldest first, a bounded range per batch. A KV key of a bucket with a TTL is deleted once its last
 * write is older than the TTL (by an index on the write time, which is appended to, not spread).
 * That write time is kept to a step (`kvAgeStepMs`, a minute): a rewrite within a step of the time
 * stored leaves it, and its index entry, as they are, so a key lives from its TTL to its TTL plus a
 * step after its last write. A checkout's status document is rewritten four or five times within
 * seconds; each rewrite had moved its entry in `kv_by_age`, 18% of this file's WAL frames. Only a
 * key that can expire has a write time and an index entry (`kv_expiring`, migration 5): in a bucket
 * without a TTL `at` is NULL. Every key had been indexed, though no bucket kept in this file had a
 * TTL once the status documents moved to memory: a saga's ownership claim (saga-owners, one new key
 * per checkout) wrote a page of `kv_by_age` beside its own, 16% of this file's WAL bytes and 0.5 of
 * its 3.0 write syscalls per checkout (docs/benchmarks.md, "A checkout's bytes, by file and
 * B-tree"). saga-owners has a TTL since (a day, so that its claims stop piling up), and each claim
 * has its entry again: 0.41 writes and 0.81 KiB per checkout in this file (docs/benchmarks.md,
 * "saga-owners forgets its claims"). Embedded, the sole orchestrator writes no claim since
 * (CheckoutConfig.soleInstance): the bucket holds its registration only. Which TTL a bucket's stored keys were written under is kept with the bucket
 * (`kv_buckets.ttl_ms`), so that a bucket opened with another one is brought in line once.
 */
import type { Headers } from '../../../contracts/headers.ts';
import { Store as BatchStore, type Db, type Locking, type Migration } from '../../store.ts';
import { DUPLICATE_WINDOW_MS, EVENT_RETENTION_MS } from '../consumer-policy.ts';
import { DuplicateWindow, type StoredId } from './duplicate-window.ts';

/** A stream message's columns (migration 2 added `at`). */
const MSG_COLUMNS = `stream TEXT NOT NULL,
  seq INTEGER NOT NULL,
  subject TEXT NOT NULL,
  headers TEXT NOT NULL,
  data TEXT NOT NULL,
  msg_id TEXT NOT NULL`;

const schema = `
CREATE TABLE IF NOT EXISTS streams (
  name TEXT PRIMARY KEY,
  subjects TEXT NOT NULL,
  last_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS stream_msgs (
  ${MSG_COLUMNS},
  PRIMARY KEY (stream, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS stream_msgs_msg_id ON stream_msgs (stream, msg_id);
CREATE TABLE IF NOT EXISTS consumers (
  stream TEXT NOT NULL,
  durable TEXT NOT NULL,
  ack_floor INTEGER NOT NULL DEFAULT 0,
  delivered_seq INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (stream, durable)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS consumer_acks (
  stream TEXT NOT NULL,
  durable TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (stream, durable, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv_buckets (
  name TEXT PRIMARY KEY,
  last_rev INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS kv (
  bucket TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  revision INTEGER NOT NULL,
  PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
`;

const migrations: readonly Migration[] = [
  { version: 1, name: 'event log, acks and kv', sql: schema },
  {
    // Messages stored before this have at = 0: their age is unknown, so they are outside the window.
    version: 2,
    name: 'de-duplication by a window in memory, not a unique index',
    sql: `ALTER TABLE stream_msgs ADD COLUMN at INTEGER NOT NULL DEFAULT 0;
      DROP INDEX IF EXISTS stream_msgs_msg_id;`,
  },
  {
    // Keys written before this count as written now: their age is unknown.
    version: 3,
    name: 'kv keys expire by their last write (a bucket TTL)',
    sql: `ALTER TABLE kv ADD COLUMN at INTEGER NOT NULL DEFAULT 0;
      UPDATE kv SET at = CAST(unixepoch('subsec') * 1000 AS INTEGER);
      CREATE INDEX kv_by_age ON kv (bucket, at);`,
  },
  {
    // A message (its headers and data, about 1.2 KiB) is larger than a WITHOUT ROWID table keeps in
    // a page's cell (about 1,000 bytes at 4 KiB pages): every one had spilled to an overflow page of
    // its own, mostly empty, and the tree's interior cells held whole messages (a fan-out of 6):
    // about six pages written per commit that appended, 46% of this file's WAL frames. In a rowid
    // table a message is appended at the end of the table's last leaf, inline, and the index by
    // (stream, seq) holds only those two.
    version: 4,
    name: 'stream messages in a rowid table',
    sql: `CREATE TABLE stream_msgs_v4 (${MSG_COLUMNS}, at INTEGER NOT NULL DEFAULT 0);
      INSERT INTO stream_msgs_v4 (stream, seq, subject, headers, data, msg_id, at)
        SELECT stream, seq, subject, headers, data, msg_id, at FROM stream_msgs ORDER BY stream, seq;
      DROP TABLE stream_msgs;
      ALTER TABLE stream_msgs_v4 RENAME TO stream_msgs;
      CREATE UNIQUE INDEX stream_msgs_by_seq ON stream_msgs (stream, seq);`,
  },
  {
    // `at` becomes NULL-able (a table rebuilt: SQLite cannot drop a NOT NULL), and the index holds
    // only the keys that have one. The keys keep their write times: `ttl_ms` NULL (not known) makes
    // the first `ensureBucket` of each bucket clear them where its bucket has no TTL.
    version: 5,
    name: 'only keys of a bucket with a TTL have a write time and an index entry',
    sql: `DROP INDEX kv_by_age;
      CREATE TABLE kv_v5 (
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        revision INTEGER NOT NULL,
        at INTEGER,
        PRIMARY KEY (bucket, key)
      ) WITHOUT ROWID;
      INSERT INTO kv_v5 (bucket, key, value, revision, at) SELECT bucket, key, value, revision, at FROM kv;
      DROP TABLE kv;
      ALTER TABLE kv_v5 RENAME TO kv;
      CREATE INDEX kv_expiring ON kv (bucket, at) WHERE at IS NOT NULL;
      ALTER TABLE kv_buckets ADD COLUMN ttl_ms INTEGER;`,
  },
];

export interface StoreOptions {
  /** How long a message id is remembered for de-duplication. Default: JetStream's two minutes. */
  duplicateWindowMs?: number;
  /** How long a stream keeps a message its consumers have acked (`prune`). Default EVENT_RETENTION_MS. */
  retentionMs?: number;
  /** As the services' stores (SQLITE_LOCKING): 'shared' lets other processes read the file meanwhile. Default exclusive. */
  locking?: Locking;
  /** The clock the window is measured by. */
  now?: () => number;
  /** How stale a KV key's stored write time may grow before a rewrite moves it (see the file's comment). Default KV_AGE_STEP_MS. */
  kvAgeStepMs?: number;
}

/** A KV key's write time is moved by a rewrite only once it is this much older (a bucket's TTL counts from it, plus this). */
export const KV_AGE_STEP_MS = 60_000;

/**
 * How often at most a consumer's ack state is written. A crash loses at most this much of it: those
 * messages are delivered again (not marked redelivered if their delivery mark was lost too), and the
 * consumers' inboxes, whose windows are minutes long, drop them.
 */
export const CONSUMER_WRITE_EVERY_MS = 1_000;

/** How far ahead of a bucket's revisions its stored reserve is set (see `lastRev`). */
export const KV_REVISION_BLOCK = 1_000;

export interface StoredMsg {
  seq: number;
  subject: string;
  headers: Headers;
  data: string;
}

interface MsgRow {
  seq: number;
  subject: string;
  headers: string;
  data: string;
}

export interface KvRow {
  key: string;
  value: string;
  revision: number;
}

const consumerKey = (stream: string, durable: string): string => `${stream}\u0000${durable}`;

/** Messages one prune deletes per stream and batch at most, so that a batch stays short. */
const PRUNE_CHUNK = 5_000;

interface ConsumerState {
  stream: string;
  durable: string;
  floor: number;
  delivered: number;
  /** Acks above the floor since the last write. */
  acks: number[];
  written: { floor: number; delivered: number };
}

export class BusStore {
  private readonly batches: BatchStore;
  private readonly db: Db;
  private readonly q;
  /** Per stream, the last sequence committed: what consumers may read. */
  private readonly visible = new Map<string, number>();
  /** Reads of the stream's table by `msgsAfter` since open (tests count them). */
  messageReads = 0;
  /** Per stream, the message ids stored within the duplicate window. */
  private readonly recent = new Map<string, DuplicateWindow>();
  private readonly windowMs: number;
  private readonly retentionMs: number;
  private readonly now: () => number;
  private readonly kvAgeStepMs: number;
  /**
   * Per stream its last sequence, per bucket its last revision, counted here; a rolled-back batch
   * reloads them. Neither is written per batch (each was a page of its own in every commit, 8% of
   * this file's WAL frames): a stream's last sequence is its newest message's, and `streams.last_seq`
   * is written only by a prune, before it deletes (so that a stream it empties keeps counting); a
   * bucket's `kv_buckets.last_rev` is a reserve, written when a revision passes it, KV_REVISION_BLOCK
   * ahead, and a reopen continues above it (a bucket's revisions grow, with gaps, as on NATS, where
   * they are its stream's sequences shared by every key).
   */
  private readonly lastSeq = new Map<string, number>();
  private readonly lastRev = new Map<string, number>();
  /** Per bucket, the reserve stored (or to be stored by this batch) in kv_buckets. */
  private readonly revReserve = new Map<string, number>();
  /** Buckets whose reserve the open batch moved. */
  private readonly reservesChanged = new Set<string>();
  /** Per bucket with a TTL, how long a key lives after its last write. */
  private readonly ttls = new Map<string, number>();
  /** Per consumer, its ack state as known here and as last written (writeConsumers). */
  private readonly consumerStates = new Map<string, ConsumerState>();
  private consumersQueued = false;
  /** Set by a prune (whose floors count acks not yet written): the batch writes the consumers' state. */
  private consumersDue = false;
  /** When the consumers' state was last written (this.now()), and the timer that writes it next. */
  private consumersWrittenAt = Number.NEGATIVE_INFINITY;
  private consumersTimer: NodeJS.Timeout | undefined;

  constructor(path: string, opts: StoreOptions = {}) {
    this.windowMs = opts.duplicateWindowMs ?? DUPLICATE_WINDOW_MS;
    this.retentionMs = opts.retentionMs ?? EVENT_RETENTION_MS;
    this.now = opts.now ?? Date.now;
    this.kvAgeStepMs = opts.kvAgeStepMs ?? KV_AGE_STEP_MS;
    // Tables created IF NOT EXISTS: files from before the store kept migrations open as they are.
    this.batches = new BatchStore({ path, migrations, synchronous: 'NORMAL', ...(opts.locking ? { locking: opts.locking } : {}) });
    this.db = this.batches.db;
    const db = this.db;
    this.q = {
      streams: db.prepare<[], { name: string; subjects: string }>('SELECT name, subjects FROM streams'),
      addStream: db.prepare<[string, string]>('INSERT INTO streams (name, subjects) VALUES (?, ?)'),
      newestFirst: db.prepare<[string], { seq: number; msg_id: string; at: number }>(
        'SELECT seq, msg_id, at FROM stream_msgs WHERE stream = ? ORDER BY seq DESC',
      ),
      storedId: db.prepare<[string, number], StoredId>('SELECT msg_id AS msgId, at FROM stream_msgs WHERE stream = ? AND seq = ?'),
      inWindow: db.prepare<[string, number, number, number, number], { seq: number; msg_id: string; at: number }>(
        'SELECT seq, msg_id, at FROM stream_msgs WHERE stream = ? AND seq >= ? AND seq <= ? AND at < ? AND at >= ?',
      ),
      setSeq: db.prepare<[number, string]>('UPDATE streams SET last_seq = ? WHERE name = ?'),
      headSeq: db.prepare<[string], number>('SELECT seq FROM stream_msgs WHERE stream = ? ORDER BY seq LIMIT 1').pluck(),
      floors: db.prepare<[string], { durable: string; ack_floor: number }>('SELECT durable, ack_floor FROM consumers WHERE stream = ?'),
      dropOld: db.prepare<[string, number, number, number]>('DELETE FROM stream_msgs WHERE stream = ? AND seq >= ? AND seq <= ? AND at < ?'),
      insertMsg: db.prepare<[string, number, string, string, string, string, number]>(
        'INSERT INTO stream_msgs (stream, seq, subject, headers, data, msg_id, at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      msgsAfter: db.prepare<[string, number, number, number], MsgRow>(
        'SELECT seq, subject, headers, data FROM stream_msgs WHERE stream = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?',
      ),
      lastSeqs: db.prepare<[], { name: string; last_seq: number }>(
        'SELECT name, max(last_seq, coalesce((SELECT max(seq) FROM stream_msgs WHERE stream = name), 0)) AS last_seq FROM streams',
      ),
      ensureConsumer: db.prepare<[string, string]>(
        'INSERT OR IGNORE INTO consumers (stream, durable) VALUES (?, ?)',
      ),
      consumer: db.prepare<[string, string], { ack_floor: number; delivered_seq: number }>(
        'SELECT ack_floor, delivered_seq FROM consumers WHERE stream = ? AND durable = ?',
      ),
      ackedAbove: db.prepare<[string, string, number], { seq: number }>(
        'SELECT seq FROM consumer_acks WHERE stream = ? AND durable = ? AND seq > ?',
      ),
      setFloor: db.prepare<[number, string, string]>(
        'UPDATE consumers SET ack_floor = ? WHERE stream = ? AND durable = ?',
      ),
      setDelivered: db.prepare<[number, string, string]>(
        'UPDATE consumers SET delivered_seq = ? WHERE stream = ? AND durable = ?',
      ),
      insertAck: db.prepare<[string, string, number]>(
        'INSERT OR IGNORE INTO consumer_acks (stream, durable, seq) VALUES (?, ?, ?)',
      ),
      dropAcks: db.prepare<[string, string, number]>(
        'DELETE FROM consumer_acks WHERE stream = ? AND durable = ? AND seq <= ?',
      ),
      ensureBucket: db.prepare<[string]>('INSERT OR IGNORE INTO kv_buckets (name) VALUES (?)'),
      lastRevs: db.prepare<[], { name: string; last_rev: number }>('SELECT name, last_rev FROM kv_buckets'),
      setRev: db.prepare<[number, string]>('UPDATE kv_buckets SET last_rev = ? WHERE name = ?'),
      kvGet: db.prepare<[string, string], KvRow>(
        'SELECT key, value, revision FROM kv WHERE bucket = ? AND key = ?',
      ),
      kvAll: db.prepare<[string], KvRow>(
        'SELECT key, value, revision FROM kv WHERE bucket = ? ORDER BY revision',
      ),
      bucketTtl: db.prepare<[string], number | null>('SELECT ttl_ms FROM kv_buckets WHERE name = ?').pluck(),
      setBucketTtl: db.prepare<[number, string]>('UPDATE kv_buckets SET ttl_ms = ? WHERE name = ?'),
      kvAgesNow: db.prepare<[number, string]>('UPDATE kv SET at = ? WHERE bucket = ? AND at IS NULL'),
      kvAgesCleared: db.prepare<[string]>('UPDATE kv SET at = NULL WHERE bucket = ? AND at IS NOT NULL'),
      kvPut: db.prepare<[string, string, string, number, number | null]>(
        'INSERT INTO kv (bucket, key, value, revision, at) VALUES (?, ?, ?, ?, ?) ' +
          'ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value, revision = excluded.revision, at = excluded.at',
      ),
      kvRewrite: db.prepare<[string, number, string, string, number]>(
        'UPDATE kv SET value = ?, revision = ? WHERE bucket = ? AND key = ? AND at > ?',
      ),
      kvRewriteAgeless: db.prepare<[string, number, string, string]>(
        'UPDATE kv SET value = ?, revision = ? WHERE bucket = ? AND key = ? AND at IS NULL',
      ),
      kvExpire: db.prepare<[string, string, number, number]>(
        'DELETE FROM kv WHERE bucket = ? AND key IN (SELECT key FROM kv WHERE bucket = ? AND at < ? ORDER BY at LIMIT ?)',
      ),
    };
    this.loadCounters();
    for (const [name, seq] of this.lastSeq) this.visible.set(name, seq);
    this.rememberRecent();
    // A rolled-back batch may have held appends the window already remembers, and consumer state
    // (lost, it only redelivers: read again from the table when next written).
    this.batches.onRollback(() => {
      this.rememberRecent();
      this.loadCounters();
      this.consumerStates.clear();
      this.consumersQueued = false;
      this.consumersDue = false;
    });
    this.batches.beforeCommit(() => {
      this.writeCounters();
      this.writeConsumers();
    });
    // A graceful close writes what the consumers acked since the last write.
    this.batches.beforeClose(async () => {
      clearTimeout(this.consumersTimer);
      if (!this.consumersQueued) return;
      await this.batches.write(() => {
        this.consumersDue = true;
      });
    });
  }

  /** The streams' last sequences and the buckets' reserves (where their revisions continue), as committed. */
  private loadCounters(): void {
    this.lastSeq.clear();
    this.lastRev.clear();
    this.revReserve.clear();
    this.reservesChanged.clear();
    for (const r of this.q.lastSeqs.all()) this.lastSeq.set(r.name, r.last_seq);
    for (const r of this.q.lastRevs.all()) {
      this.lastRev.set(r.name, r.last_rev);
      this.revReserve.set(r.name, r.last_rev);
    }
  }

  /** The next sequence of a stream (or revision of a bucket), counted here (see `lastRev`). */
  private next(counters: Map<string, number>, name: string): number {
    const last = counters.get(name);
    if (last === undefined) throw new Error(`no stream or bucket "${name}"`);
    counters.set(name, last + 1);
    if (counters === this.lastRev && last + 1 > (this.revReserve.get(name) ?? 0)) {
      this.revReserve.set(name, last + KV_REVISION_BLOCK);
      this.reservesChanged.add(name);
    }
    return last + 1;
  }

  private writeCounters(): void {
    for (const name of this.reservesChanged) this.q.setRev.run(this.revReserve.get(name)!, name);
    this.reservesChanged.clear();
  }

  /** Rebuilds the duplicate window from the newest messages of each stream. */
  private rememberRecent(): void {
    this.recent.clear();
    const since = this.now() - this.windowMs;
    for (const { name } of this.q.lastSeqs.all()) {
      const newest: Array<{ seq: number; msg_id: string; at: number }> = [];
      for (const r of this.q.newestFirst.iterate(name)) {
        if (r.at < since) break; // appended in time order: everything older is outside too
        newest.push(r);
      }
      const ids = this.windowOf(name);
      for (let i = newest.length - 1; i >= 0; i--) ids.remember(newest[i]!.msg_id, newest[i]!.seq, newest[i]!.at);
    }
  }

  /** The stream's window. */
  private windowOf(stream: string): DuplicateWindow {
    let ids = this.recent.get(stream);
    if (!ids) this.recent.set(stream, (ids = new DuplicateWindow(this.windowMs, (seq) => this.q.storedId.get(stream, seq))));
    return ids;
  }

  /** How many message ids the stream's duplicate window holds in memory (up to a second past the window; for the tests). */
  duplicateIds(stream: string): number {
    return this.recent.get(stream)?.size ?? 0;
  }

  /** A write nobody waits for (an ack, a delivery mark): a crash that loses it only redelivers. */
  private writeLazily(fn: () => void): void {
    this.batches.write(fn).catch(() => undefined);
  }

  streams(): { name: string; subjects: string[] }[] {
    return this.q.streams.all().map((r) => ({ name: r.name, subjects: JSON.parse(r.subjects) as string[] }));
  }

  addStream(name: string, subjects: readonly string[]): void {
    this.q.addStream.run(name, JSON.stringify(subjects));
    this.lastSeq.set(name, 0);
  }

  /** Appends unless the stream stored `msgId` within the duplicate window; resolves once committed. */
  append(
    stream: string,
    subject: string,
    headers: Headers,
    data: string,
    msgId: string,
  ): Promise<{ seq: number; duplicate: boolean }> {
    return this.batches.write(
      () => {
        const now = this.now();
        const ids = this.windowOf(stream);
        const existing = ids.find(msgId, now);
        if (existing !== undefined) return { seq: existing, duplicate: true };
        const seq = this.next(this.lastSeq, stream);
        this.q.insertMsg.run(stream, seq, subject, JSON.stringify(headers), data, msgId, now);
        ids.remember(msgId, seq, now);
        return { seq, duplicate: false };
      },
      (r) => {
        if (!r.duplicate && r.seq > (this.visible.get(stream) ?? 0)) this.visible.set(stream, r.seq);
      },
    );
  }

  /**
   * Committed messages after `seq`, in order, as far as `limit` rows read: those `keep` accepts
   * (by subject and sequence; the headers of the others are never parsed), and the last sequence
   * read, where the next call starts.
   */
  msgsAfter(stream: string, seq: number, limit: number, keep?: (subject: string, seq: number) => boolean): { msgs: StoredMsg[]; lastSeq: number | undefined } {
    const visible = this.visible.get(stream) ?? 0;
    // Nothing committed after `seq`: no read. A durable consumer asks at every turn it is woken
    // (each held message, each ack), and embedded nearly nothing is stored (in-process.ts,
    // holdConsumed): the empty read was about 2% of a checkout's CPU on the main thread.
    if (visible <= seq) return { msgs: [], lastSeq: undefined };
    this.messageReads++;
    const rows = this.q.msgsAfter.all(stream, seq, visible, limit);
    const msgs: StoredMsg[] = [];
    for (const r of rows) {
      if (keep && !keep(r.subject, r.seq)) continue;
      msgs.push({ seq: r.seq, subject: r.subject, headers: JSON.parse(r.headers) as Headers, data: r.data });
    }
    return { msgs, lastSeq: rows[rows.length - 1]?.seq };
  }

  /** The durable consumers the stream has ever had, by name (opened in any run, this one or before). */
  durables(stream: string): string[] {
    return this.q.floors.all(stream).map((r) => r.durable);
  }

  /** Ack state of a durable: everything up to `ackFloor` is acked, plus `ackedAbove`. */
  openConsumer(
    stream: string,
    durable: string,
  ): { ackFloor: number; deliveredSeq: number; ackedAbove: Set<number> } {
    this.q.ensureConsumer.run(stream, durable);
    const row = this.q.consumer.get(stream, durable)!;
    // State not yet written (a consumer opened again within the same batch) counts as written.
    const c = this.consumerStates.get(consumerKey(stream, durable));
    const ackFloor = Math.max(row.ack_floor, c?.floor ?? 0);
    const ackedAbove = new Set(this.q.ackedAbove.all(stream, durable, ackFloor).map((r) => r.seq));
    for (const seq of c?.acks ?? []) if (seq > ackFloor) ackedAbove.add(seq);
    return { ackFloor, deliveredSeq: Math.max(row.delivered_seq, c?.delivered ?? 0), ackedAbove };
  }

  /**
   * Records an ack. Nothing is written now: the consumer's state (its floor, the acks above it, the
   * highest sequence delivered) is written once per batch, just before its commit, however many
   * acks the turn brought (each had been a savepoint and two or three statements of its own).
   */
  ack(stream: string, durable: string, seq: number, newFloor: number | undefined): void {
    const c = this.unwritten(stream, durable);
    if (newFloor !== undefined && newFloor > c.floor) c.floor = newFloor;
    if (seq > c.floor) c.acks.push(seq);
  }

  setDelivered(stream: string, durable: string, seq: number): void {
    const c = this.unwritten(stream, durable);
    if (seq > c.delivered) c.delivered = seq;
  }

  /** The consumer's state not yet written, creating it (and opening a batch to write it in). */
  private unwritten(stream: string, durable: string): ConsumerState {
    const key = consumerKey(stream, durable);
    let c = this.consumerStates.get(key);
    if (!c) {
      const row = this.q.consumer.get(stream, durable);
      c = { stream, durable, floor: row?.ack_floor ?? 0, delivered: row?.delivered_seq ?? 0, acks: [], written: { floor: row?.ack_floor ?? 0, delivered: row?.delivered_seq ?? 0 } };
      this.consumerStates.set(key, c);
    }
    if (!this.consumersQueued) {
      this.consumersQueued = true;
      // Written by the beforeCommit hook of a batch at least CONSUMER_WRITE_EVERY_MS after the last
      // write: this turn's, or one a timer opens then if no other write does.
      const wait = this.consumersWrittenAt + CONSUMER_WRITE_EVERY_MS - this.now();
      if (wait <= 0) this.writeLazily(() => undefined);
      else this.consumersTimer ??= setTimeout(() => {
        this.consumersTimer = undefined;
        if (this.consumersQueued && !this.batches.closed) this.writeLazily(() => undefined);
      }, wait).unref();
    }
    return c;
  }

  /** Writes what changed of each consumer's state, inside the batch that is about to commit. */
  private writeConsumers(): void {
    if (!this.consumersQueued) return;
    if (!this.consumersDue && this.now() < this.consumersWrittenAt + CONSUMER_WRITE_EVERY_MS) return;
    this.consumersQueued = false;
    this.consumersDue = false;
    this.consumersWrittenAt = this.now();
    for (const c of this.consumerStates.values()) {
      for (const seq of c.acks) if (seq > c.floor) this.q.insertAck.run(c.stream, c.durable, seq);
      c.acks.length = 0;
      if (c.floor > c.written.floor) {
        this.q.setFloor.run(c.floor, c.stream, c.durable);
        this.q.dropAcks.run(c.stream, c.durable, c.floor);
        c.written.floor = c.floor;
      }
      if (c.delivered > c.written.delivered) {
        this.q.setDelivered.run(c.delivered, c.stream, c.durable);
        c.written.delivered = c.delivered;
      }
    }
  }

  /**
   * Deletes the KV keys whose bucket's TTL has passed since their last write, and, per stream, the
   * oldest messages that are older than the retention and acked by every
   * consumer of the stream, at most PRUNE_CHUNK per stream; resolves with how many once committed.
   * An ack not yet written counts: it is written in this same batch (or lost with it). A stream
   * nobody consumes is pruned by age alone, as on NATS.
   */
  prune(): Promise<number> {
    return this.batches.write(() => {
      this.consumersDue = true;
      const cutoff = this.now() - this.retentionMs;
      const windowFrom = this.now() - this.windowMs;
      let deleted = 0;
      for (const [stream] of this.lastSeq) {
        const head = this.q.headSeq.get(stream);
        if (head === undefined) continue;
        const floor = this.lowestFloor(stream);
        const through = Math.min(floor, head + PRUNE_CHUNK - 1);
        if (through < head) continue;
        // Its sequence outlives the messages deleted (loadCounters): written before they go.
        this.q.setSeq.run(this.lastSeq.get(stream)!, stream);
        // A retention shorter than the window (tests only): the ids of those still within it stay.
        if (cutoff > windowFrom) for (const r of this.q.inWindow.iterate(stream, head, through, cutoff, windowFrom)) this.windowOf(stream).pruned(r.msg_id, r.seq, r.at);
        deleted += this.q.dropOld.run(stream, head, through, cutoff).changes;
      }
      for (const [bucket, ttl] of this.ttls) deleted += this.q.kvExpire.run(bucket, bucket, this.now() - ttl - this.kvAgeStepMs, PRUNE_CHUNK).changes;
      return deleted;
    });
  }

  /** The lowest ack floor of the stream's consumers; the stream's end if it has none. */
  private lowestFloor(stream: string): number {
    let lowest = this.visible.get(stream) ?? 0;
    for (const r of this.q.floors.all(stream)) {
      lowest = Math.min(lowest, Math.max(r.ack_floor, this.consumerStates.get(consumerKey(stream, r.durable))?.floor ?? 0));
    }
    return lowest;
  }

  /**
   * Creates the bucket if it is new; with `ttlMs`, its keys expire that long after their last write
   * (`prune`). A bucket whose stored keys were written under no TTL or another one (or before
   * migration 5) is brought in line here, once: given a TTL, its keys without a write time count as
   * written now (their age is unknown, as at migration 3); without one, its keys lose theirs and
   * their index entries.
   */
  ensureBucket(bucket: string, ttlMs?: number): void {
    this.q.ensureBucket.run(bucket);
    if (ttlMs === undefined) this.ttls.delete(bucket);
    else this.ttls.set(bucket, ttlMs);
    const ttl = ttlMs ?? 0;
    if (this.q.bucketTtl.get(bucket) !== ttl) {
      this.db.transaction(() => {
        if (ttl > 0) this.q.kvAgesNow.run(this.now(), bucket);
        else this.q.kvAgesCleared.run(bucket);
        this.q.setBucketTtl.run(ttl, bucket);
      })();
    }
    if (!this.lastRev.has(bucket)) {
      const reserve = this.q.lastRevs.all().find((r) => r.name === bucket)?.last_rev ?? 0;
      this.lastRev.set(bucket, reserve);
      this.revReserve.set(bucket, reserve);
    }
  }

  /**
   * For a bucket kept in memory (in-process kv.ts, MemoryEntries): the revision its stored reserve
   * stands at, above which it continues after a reopen (as a stored bucket does, `lastRev`).
   */
  kvReserve(bucket: string): number {
    this.q.ensureBucket.run(bucket);
    return this.q.lastRevs.all().find((r) => r.name === bucket)?.last_rev ?? 0;
  }

  /** Stores a bucket kept in memory's reserve: no revision up to `upTo` is handed out again after a reopen. Resolves once committed. */
  kvSetReserve(bucket: string, upTo: number): Promise<void> {
    return this.batches.write(() => {
      this.q.setRev.run(upTo, bucket);
    });
  }

  kvGet(bucket: string, key: string): KvRow | undefined {
    return this.q.kvGet.get(bucket, key);
  }

  kvAll(bucket: string): KvRow[] {
    return this.q.kvAll.all(bucket);
  }

  /** Resolves with the new revision once committed. */
  kvPut(bucket: string, key: string, value: string): Promise<number> {
    return this.batches.write(() => {
      const rev = this.next(this.lastRev, bucket);
      this.writeKey(bucket, key, value, rev);
      return rev;
    });
  }

  /**
   * Writes a key's value and revision; in a bucket with a TTL its write time (and so its
   * `kv_expiring` entry) only if it is new or its stored time is a step or more old
   * (KV_AGE_STEP_MS); in a bucket without one, no write time and no index entry.
   */
  private writeKey(bucket: string, key: string, value: string, rev: number): void {
    if (!this.ttls.has(bucket)) {
      if (this.q.kvRewriteAgeless.run(value, rev, bucket, key).changes === 0) this.q.kvPut.run(bucket, key, value, rev, null);
      return;
    }
    const now = this.now();
    if (this.q.kvRewrite.run(value, rev, bucket, key, now - this.kvAgeStepMs).changes === 0) this.q.kvPut.run(bucket, key, value, rev, now);
  }

  /** A new key's write time: none in a bucket without a TTL. */
  private writtenAt(bucket: string): number | null {
    return this.ttls.has(bucket) ? this.now() : null;
  }

  /** Inserts unless the key exists (uncommitted writes included); resolves once committed. */
  kvCreate(bucket: string, key: string, value: string): Promise<{ created: number } | { existing: KvRow }> {
    return this.batches.write((): { created: number } | { existing: KvRow } => {
      const existing = this.q.kvGet.get(bucket, key);
      if (existing) return { existing };
      const rev = this.next(this.lastRev, bucket);
      this.q.kvPut.run(bucket, key, value, rev, this.writtenAt(bucket));
      return { created: rev };
    });
  }

  /** Writes only if the key's revision is still `revision` (0: absent; uncommitted writes included); resolves with the new revision once committed, or undefined. */
  kvUpdate(bucket: string, key: string, value: string, revision: number): Promise<number | undefined> {
    return this.batches.write((): number | undefined => {
      if ((this.q.kvGet.get(bucket, key)?.revision ?? 0) !== revision) return undefined;
      const rev = this.next(this.lastRev, bucket);
      this.writeKey(bucket, key, value, rev);
      return rev;
    });
  }

  close(): Promise<void> {
    return this.batches.close();
  }
}

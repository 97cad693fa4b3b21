/**
 * The `Kv` contract for the in-process transport. Revisions count per bucket, like the stream
 * sequence behind a NATS bucket. A bucket's entries are kept in bus.db (`StoredEntries`), or, for
 * a bucket of derived documents (BucketInMemoryEmbedded), in memory (`MemoryEntries`); watches are
 * the same for both. SQLite calls are synchronous, so create's check-then-insert cannot interleave
 * with another caller in this process; in memory, the check and the write share one synchronous step.
 */
import { BucketInMemoryEmbedded, BucketTtlMs, type Bucket } from '../../../contracts/subjects.ts';
import { KV_REVISION_BLOCK, type BusStore, type KvRow } from './bus-store.ts';
import { assertPattern, subjectMatches } from './subject-match.ts';
import type { Closer, Kv, KvEntry, WatchOptions } from '../transport.ts';

interface Watcher {
  filter: string;
  onEntry: (e: KvEntry) => void;
  /** Entries not yet handed over; delivery is asynchronous so that callers never re-enter a put. */
  queue: KvEntry[];
  lastRevision: number;
  flushing: boolean;
  closed: boolean;
}

/** Where a bucket's entries are kept; each write resolves with its revision once it may be seen. */
export interface KvEntries {
  get(key: string): KvRow | undefined;
  /** Every entry, in revision order. */
  all(): KvRow[];
  put(key: string, value: string): Promise<number>;
  create(key: string, value: string): Promise<{ created: number } | { existing: KvRow }>;
  update(key: string, value: string, revision: number): Promise<number | undefined>;
}

/** The bucket's entries as `bucket` keeps them: in memory if it is one of BucketInMemoryEmbedded, else in bus.db. */
export function entriesOf(store: BusStore, bucket: string, now: () => number): KvEntries {
  const inMemory = BucketInMemoryEmbedded[bucket as Bucket];
  const ttlMs = BucketTtlMs[bucket as Bucket];
  // In memory too, the bucket's TTL is registered: rows a stored bucket of this name left in bus.db
  // (before it was kept in memory) expire by it.
  store.ensureBucket(bucket, ttlMs);
  return inMemory ? new MemoryEntries(store, bucket, { maxKeys: inMemory.maxKeys, ttlMs, now }) : new StoredEntries(store, bucket);
}

/** A bucket's entries in bus.db: each write resolves once committed. */
class StoredEntries implements KvEntries {
  constructor(
    private readonly store: BusStore,
    private readonly bucket: string,
  ) {}

  get(key: string): KvRow | undefined {
    return this.store.kvGet(this.bucket, key);
  }

  all(): KvRow[] {
    return this.store.kvAll(this.bucket);
  }

  put(key: string, value: string): Promise<number> {
    return this.store.kvPut(this.bucket, key, value);
  }

  create(key: string, value: string): Promise<{ created: number } | { existing: KvRow }> {
    return this.store.kvCreate(this.bucket, key, value);
  }

  update(key: string, value: string, revision: number): Promise<number | undefined> {
    return this.store.kvUpdate(this.bucket, key, value, revision);
  }
}

export interface MemoryBound {
  /** At most this many keys: a write beyond it drops the least recently written. */
  maxKeys: number;
  /** A key is gone this long after its last write (undefined: kept until evicted by count). */
  ttlMs: number | undefined;
  now: () => number;
}

/**
 * A bucket's entries in memory, bounded by `MemoryBound`; a restart empties it. A write is seen at
 * once (nothing to commit), except that its revision must never be handed out again, after a
 * restart either: revisions continue above the reserve stored in bus.db, and each write that would
 * pass it waits for a new reserve, KV_REVISION_BLOCK ahead, to commit (one bus.db write per block).
 * Writes are applied in the order they are called, with revisions in that order.
 */
export class MemoryEntries implements KvEntries {
  /** key -> entry and its write time, least recently written first (Map keeps insertion order). */
  private readonly entries = new Map<string, KvRow & { at: number }>();
  private last: number;
  private reserve: number;
  /** The reserve being stored, and the writes waiting for it, in call order. */
  private reserving: Promise<void> | undefined;
  private waiting = 0;

  constructor(
    private readonly store: BusStore,
    private readonly bucket: string,
    private readonly bound: MemoryBound,
  ) {
    this.last = this.reserve = store.kvReserve(bucket);
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): KvRow | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (this.expired(e, this.bound.now())) {
      this.entries.delete(key);
      return undefined;
    }
    return { key, value: e.value, revision: e.revision };
  }

  all(): KvRow[] {
    const now = this.bound.now();
    const rows: KvRow[] = [];
    for (const e of this.entries.values()) if (!this.expired(e, now)) rows.push({ key: e.key, value: e.value, revision: e.revision });
    return rows;
  }

  put(key: string, value: string): Promise<number> {
    return this.inTurn(() => this.write(key, value));
  }

  create(key: string, value: string): Promise<{ created: number } | { existing: KvRow }> {
    return this.inTurn(() => {
      const existing = this.get(key);
      return existing ? { existing } : { created: this.write(key, value) };
    });
  }

  update(key: string, value: string, revision: number): Promise<number | undefined> {
    return this.inTurn(() => ((this.get(key)?.revision ?? 0) === revision ? this.write(key, value) : undefined));
  }

  /**
   * Runs `step` (which writes at most one revision) at once if its revision is within the stored
   * reserve and no earlier write waits; else after the earlier ones, once a new reserve is stored.
   */
  private async inTurn<T>(step: () => T): Promise<T> {
    if (this.waiting === 0 && this.last < this.reserve) return step();
    this.waiting++;
    try {
      for (;;) {
        this.reserving ??= this.extend();
        await this.reserving;
        // Writes resumed before this one may have used the block up again.
        if (this.last < this.reserve) return step();
      }
    } finally {
      this.waiting--;
    }
  }

  private async extend(): Promise<void> {
    const upTo = this.last + KV_REVISION_BLOCK;
    try {
      await this.store.kvSetReserve(this.bucket, upTo);
      this.reserve = Math.max(this.reserve, upTo);
    } finally {
      this.reserving = undefined;
    }
  }

  private write(key: string, value: string): number {
    const revision = ++this.last;
    const now = this.bound.now();
    this.entries.delete(key);
    this.entries.set(key, { key, value, revision, at: now });
    for (const [k, e] of this.entries) {
      if (this.entries.size <= this.bound.maxKeys && !this.expired(e, now)) break;
      this.entries.delete(k);
    }
    return revision;
  }

  private expired(e: { at: number }, now: number): boolean {
    return this.bound.ttlMs !== undefined && e.at <= now - this.bound.ttlMs;
  }
}

export class InProcessKv implements Kv {
  private readonly watchers = new Set<Watcher>();

  constructor(
    private readonly entries: KvEntries,
    private readonly bucket: string,
    private readonly onError: (err: unknown, context: string) => void,
  ) {}

  /** One copy: every read is the latest, so GetOptions.fromLeader changes nothing. */
  async ping(): Promise<void> {}

  async get(key: string): Promise<KvEntry | undefined> {
    assertKey(key);
    return this.entries.get(key);
  }

  async put(key: string, value: string): Promise<number> {
    assertKey(key);
    const revision = await this.entries.put(key, value);
    this.publish({ key, value, revision });
    return revision;
  }

  async create(key: string, value: string): Promise<KvEntry | undefined> {
    assertKey(key);
    const r = await this.entries.create(key, value);
    if ('existing' in r) return r.existing;
    this.publish({ key, value, revision: r.created });
    return undefined;
  }

  async update(key: string, value: string, revision: number): Promise<number | undefined> {
    assertKey(key);
    const r = await this.entries.update(key, value, revision);
    if (r !== undefined) this.publish({ key, value, revision: r });
    return r;
  }

  async watch(filter: string, onEntry: (e: KvEntry) => void, opts: WatchOptions = {}): Promise<Closer> {
    assertPattern(filter);
    const w: Watcher = { filter, onEntry, queue: [], lastRevision: 0, flushing: false, closed: false };
    // Snapshot and registration happen in the same tick, so no update can fall between them.
    for (const row of opts.updatesOnly ? [] : this.entries.all()) {
      if (subjectMatches(filter, row.key)) w.queue.push(row);
    }
    this.watchers.add(w);
    this.flush(w);
    return {
      close: async () => {
        w.closed = true;
        this.watchers.delete(w);
      },
    };
  }

  closeWatchers(): void {
    for (const w of this.watchers) w.closed = true;
    this.watchers.clear();
  }

  private publish(e: KvEntry): void {
    for (const w of this.watchers) {
      if (!subjectMatches(w.filter, e.key)) continue;
      w.queue.push(e);
      this.flush(w);
    }
  }

  private flush(w: Watcher): void {
    if (w.flushing) return;
    w.flushing = true;
    queueMicrotask(() => {
      w.flushing = false;
      const batch = w.queue.splice(0);
      for (const e of batch) {
        if (w.closed) return;
        if (e.revision <= w.lastRevision) continue;
        w.lastRevision = e.revision;
        try {
          w.onEntry({ ...e });
        } catch (err) {
          this.onError(err, `kv watch ${this.bucket} ${w.filter}`);
        }
      }
    });
  }
}

/** The keys NATS KV accepts, so code that works here works on NATS too. */
function assertKey(key: string): void {
  if (!/^[-/=.\w]+$/.test(key) || key.startsWith('.') || key.endsWith('.')) {
    throw new Error(`invalid kv key "${key}"`);
  }
}

/**
 * The `Kv` contract for the in-process transport. Revisions count per bucket, like the stream
 * sequence behind a NATS bucket. SQLite calls are synchronous, so create's check-then-insert cannot
 * interleave with another caller in this process.
 */
import { BucketTtlMs, type Bucket } from '../../../contracts/subjects.ts';
import type { BusStore } from './bus-store.ts';
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

export class InProcessKv implements Kv {
  private readonly watchers = new Set<Watcher>();

  constructor(
    private readonly store: BusStore,
    private readonly bucket: string,
    private readonly onError: (err: unknown, context: string) => void,
  ) {
    store.ensureBucket(bucket, BucketTtlMs[bucket as Bucket]);
  }

  /** One copy: every read is the latest, so GetOptions.fromLeader changes nothing. */
  async ping(): Promise<void> {}

  async get(key: string): Promise<KvEntry | undefined> {
    assertKey(key);
    return this.store.kvGet(this.bucket, key);
  }

  async put(key: string, value: string): Promise<number> {
    assertKey(key);
    const revision = await this.store.kvPut(this.bucket, key, value);
    this.publish({ key, value, revision });
    return revision;
  }

  async create(key: string, value: string): Promise<KvEntry | undefined> {
    assertKey(key);
    const r = await this.store.kvCreate(this.bucket, key, value);
    if ('existing' in r) return r.existing;
    this.publish({ key, value, revision: r.created });
    return undefined;
  }

  async update(key: string, value: string, revision: number): Promise<number | undefined> {
    assertKey(key);
    const r = await this.store.kvUpdate(this.bucket, key, value, revision);
    if (r !== undefined) this.publish({ key, value, revision: r });
    return r;
  }

  async watch(filter: string, onEntry: (e: KvEntry) => void, opts: WatchOptions = {}): Promise<Closer> {
    assertPattern(filter);
    const w: Watcher = { filter, onEntry, queue: [], lastRevision: 0, flushing: false, closed: false };
    // Snapshot and registration happen in the same tick, so no update can fall between them.
    for (const row of opts.updatesOnly ? [] : this.store.kvAll(this.bucket)) {
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

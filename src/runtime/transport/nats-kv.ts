/**
 * The `Kv` contract over NATS KV (@nats-io/kv). A bucket is a JetStream stream `KV_<bucket>` whose
 * subjects are `$KV.<bucket>.<key>`; the revision of an entry is its stream sequence. Writes are
 * JetStream publishes to the key's subject sent by the transport itself (as nats.js's KV does, but
 * without its per-call `nc.request()`); reads, watches and bucket creation use @nats-io/kv.
 */
import { DeliverPolicy, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV, type KvEntry as NatsKvEntry } from '@nats-io/kv';
import { Header, type Headers } from '../../contracts/headers.ts';
import { BucketTtlMs, type Bucket } from '../../contracts/subjects.ts';
import { isDegraded } from './nats-jetstream.ts';
import { DIRECT_PAUSE_MS, isWrongLastSequence } from './nats-log.ts';
import type { Closer, GetOptions, Kv, KvEntry, PublishAck, WatchOptions } from './transport.ts';

/** Publishes to JetStream and resolves with its acknowledgement; a refusal rejects with JetStreamRefused. */
export type JsPublish = (subject: string, data: string, headers: Headers) => Promise<PublishAck>;

/**
 * Opens a bucket, creating it (file storage, one revision per key, `replicas` copies, its TTL from
 * BucketTtlMs) if it does not exist yet. An existing bucket keeps its configuration: a bucket made
 * before its TTL was stated keeps every key until an operator sets it (`nats kv edit` / `nats
 * stream edit KV_<bucket> --max-age`).
 */
export async function openNatsKv(
  js: JetStreamClient,
  bucket: string,
  publish: JsPublish,
  onError: (err: unknown, context: string) => void,
  replicas = 1,
  ping: () => Promise<void> = () => Promise.resolve(),
): Promise<NatsKv> {
  // `Kvm.open` only binds without checking, so a missing bucket would surface later as a
  // confusing publish error; `create` looks the stream up and adds it only when missing.
  const ttl = BucketTtlMs[bucket as Bucket];
  const kv = await new Kvm(js).create(bucket, { history: 1, storage: StorageType.File, replicas, ...(ttl !== undefined ? { ttl } : {}) });
  return new NatsKv(kv, js, bucket, publish, onError, ping);
}

const KV_OPERATION = 'KV-Operation';
const EXPECTED_LAST_SUBJECT_SEQUENCE = 'Nats-Expected-Last-Subject-Sequence';
/** nats.js's rule for keys: dot-separated tokens of these characters, no wildcards. */
const VALID_KEY = /^[-/=.\w]+$/;

export class NatsKv implements Kv {
  private readonly watchers = new Set<Closer>();
  private readonly stream: string;
  private jsm: Promise<JetStreamManager> | undefined;
  /** Gets ask only the stream's leader until then (epoch ms): a direct get went unanswered (see get). */
  private leaderOnlyUntil = 0;

  constructor(
    private readonly kv: KV,
    private readonly js: JetStreamClient,
    private readonly bucket: string,
    private readonly publish: JsPublish,
    private readonly onError: (err: unknown, context: string) => void,
    /** A round trip to this client's server (the connection's flush). */
    readonly ping: () => Promise<void> = () => Promise.resolve(),
  ) {
    this.stream = `KV_${bucket}`;
  }

  async get(key: string, opts: GetOptions = {}): Promise<KvEntry | undefined> {
    if (opts.fromLeader || Date.now() < this.leaderOnlyUntil) return this.leaderGet(key);
    try {
      return toEntry(await this.kv.get(key));
    } catch (err) {
      // nats.js's get is a direct get, which any replica may take, the one on a node cut off
      // silently too, which never answers (NatsLog.directGet): asked of the leader at once, and
      // only of the leader for DIRECT_PAUSE_MS after.
      if (!isDegraded(err)) throw err;
      if (Date.now() >= this.leaderOnlyUntil) this.onError(err, `kv ${this.bucket} get ${key}: a direct get unanswered; the leader answers gets for ${DIRECT_PAUSE_MS / 1_000} s`);
      this.leaderOnlyUntil = Date.now() + DIRECT_PAUSE_MS;
      return this.leaderGet(key);
    }
  }

  /** The key's entry as the stream's leader has it. */
  private async leaderGet(key: string): Promise<KvEntry | undefined> {
    // A direct get (the bucket allows them) is answered by any replica; STREAM.MSG.GET only by the leader.
    const subject = this.subjectOf(key);
    const m = await (await (this.jsm ??= this.js.jetstreamManager(false))).streams.getMessage(this.stream, { last_by_subj: subject });
    const op = m?.header?.get(KV_OPERATION);
    if (!m || op === 'DEL' || op === 'PURGE') return undefined;
    return { key, value: m.string(), revision: m.seq };
  }

  async put(key: string, value: string): Promise<number> {
    return (await this.publish(this.subjectOf(key), value, {})).seq;
  }

  private subjectOf(key: string): string {
    if (!VALID_KEY.test(key) || key.startsWith('.') || key.endsWith('.')) throw new Error(`invalid kv key "${key}"`);
    return `$KV.${this.bucket}.${key}`;
  }

  async create(key: string, value: string): Promise<KvEntry | undefined> {
    // The client's create is an expected-last-subject-sequence-0 publish: the server decides, so two
    // racing creators cannot both win. The loser reads the winner's entry; it retries only in the
    // unlikely case that the key was deleted between its failed create and its read.
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        // Stored only if the key's subject has no message yet: the server decides.
        await this.publish(this.subjectOf(key), value, { [EXPECTED_LAST_SUBJECT_SEQUENCE]: '0' });
        return undefined;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
      }
      const existing = await this.get(key);
      if (existing) return existing;
    }
    throw new Error(`kv create of ${key} kept conflicting with concurrent deletes`);
  }

  async update(key: string, value: string, revision: number): Promise<number | undefined> {
    // The message id names the key and the revision replaced: nats-server 2.9.10 (R3) checks the
    // expected revision against what its leader has applied, so two updates of one revision proposed
    // together both passed (each at its own revision: two processes both took a slot's lease,
    // tests/int/nats-cas.test.ts), while it checks ids against its proposals in flight as well.
    // A duplicate is a refusal: the caller reads the key to see whether the write was its own.
    const subject = this.subjectOf(key);
    try {
      const ack = await this.publish(subject, value, { [EXPECTED_LAST_SUBJECT_SEQUENCE]: String(revision), [Header.natsMsgId]: `${subject}@${revision}` });
      return ack.duplicate ? undefined : ack.seq;
    } catch (err) {
      if (isWrongLastSequence(err)) return undefined;
      throw err;
    }
  }

  async watch(filter: string, onEntry: (e: KvEntry) => void, opts: WatchOptions = {}): Promise<Closer> {
    // An ordered pull consumer over the bucket's stream rather than `KV.watch()` (an ordered push
    // consumer): no push subscription and no flow-control replies, so the gateway needs only
    // CONSUMER.CREATE and MSG.NEXT on the bucket. Buckets keep one revision per key, so delivering
    // the whole stream is "current values, then updates"; a watcher that falls behind skips values
    // already superseded and lands on the latest. (A bucket made elsewhere with more history would
    // replay older revisions first; values still converge.)
    // Updates only: from the sequence after the bucket's last one now, so a write committed after
    // this resolves is delivered however late the consumer itself is created.
    const prefix = `$KV.${this.bucket}.`;
    const from = opts.updatesOnly
      ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: (await this.kv.status()).streamInfo.state.last_seq + 1 }
      : { deliver_policy: DeliverPolicy.All };
    const consumer = await this.js.consumers.get(this.stream, { filter_subjects: `${prefix}${filter}`, ...from });
    // Revisions only grow; if the ordered consumer resets and replays, nothing is handed over twice.
    let last = 0;
    const messages = await consumer.consume({
      callback: (m) => {
        if (m.seq <= last) return;
        last = m.seq;
        // Deletes and purges are skipped: the contract has no tombstones, and a caller that needs
        // to notice removal can store an explicit status value instead.
        const op = m.headers?.get(KV_OPERATION);
        if (op === 'DEL' || op === 'PURGE') return;
        try {
          onEntry({ key: m.subject.slice(prefix.length), value: m.string(), revision: m.seq });
        } catch (err) {
          this.onError(err, `kv watch ${this.bucket} ${filter}`);
        }
      },
    });
    const closer: Closer = {
      close: async () => {
        this.watchers.delete(closer);
        await messages.close().catch(() => undefined);
      },
    };
    this.watchers.add(closer);
    return closer;
  }

  /** Stops every watcher; used by the transport's drain. */
  async closeWatchers(): Promise<void> {
    await Promise.allSettled([...this.watchers].map((w) => w.close()));
  }
}

function toEntry(e: NatsKvEntry | null): KvEntry | undefined {
  if (!e || e.operation !== 'PUT') return undefined;
  return { key: e.key, value: e.string(), revision: e.revision };
}

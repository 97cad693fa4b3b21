/**
 * A store's journal shipped to a replicated log (distributed mode): a JetStream stream `JOURNAL`,
 * one subject per store slot, `journal.<service>.<slot>` (R3 on a 3-node cluster).
 *
 * Order: SQLite's COMMIT first, then the stream (while the commit's WAL sync runs), then anyone is
 * told. A batch commits locally; its records are then appended to the slot's subject as ONE message
 * (a bounded number of them for a batch over `maxBytes`), sent at once, so the stream's round trip
 * overlaps the local fdatasync under FULL; only once the stream has acknowledged them AND the sync
 * has returned is the batch released (store.holdRelease): its writers resolve, replies go out, the
 * relay sends its effects, the scheduler arms its timers. So:
 *   - a crash before the local commit loses nothing anyone was told of;
 *   - a crash after the commit and before the ack leaves records that nobody heard of: a restart on
 *     the same disk re-ships the tail the stream lacks (at open, below), with the same message ids
 *     (JetStream drops a copy that did land); a machine lost with its disk takes them with it,
 *     which loses nothing acknowledged: the senders were not answered and try again;
 *   - a power loss after the ack and before the local sync returned may leave the stream ahead of
 *     the file: the restart finds the log's head beyond its journal (JournalDiverged, below) and
 *     the store is rebuilt from the stream (rebuild.ts); nobody had been told of those records;
 *   - a crash after both: the records are both here and in the stream; the relay resends above
 *     its watermark as after any restart.
 *
 * Fencing. Every append carries the sequence of the subject's last message as this writer knows it
 * (`Nats-Expected-Last-Subject-Sequence`). Another writer on the same subject (a new owner of the
 * slot) moves the subject on, and this writer's next append is refused: `LogFenced`. The store then
 * stops (its held batches are never released, so nobody hears of them) and the owner lets the slot go.
 *
 * Consecutive batches that wait for the stream together go out as one message (a group commit of
 * the replication), up to `maxBytes`.
 */
import { createHash, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { Headers } from '../contracts/headers.ts';
import { journalSubject } from '../contracts/subjects.ts';
import { checkpointImage } from './checkpoint-image.ts';
import type { Journal, ShippedRecord } from './journal.ts';
import type { ServiceRuntime } from './service.ts';
import { LogFenced, type LogEntry, type ReplicatedLog } from './transport/transport.ts';
import { TransportClosedError } from './transport/errors.ts';

/**
 * Headers of a journal message: the positions of its first and last record, and a hash of the
 * last record's JSON (so that a store can tell whether the log's head is its own). A checkpoint
 * marker also names its chunks (`checkpoint`: first-last sequence on `<subject>.checkpoint`); a
 * new owner's fence marker carries `fence`. Markers carry no records.
 *
 * A checkpoint marker's `to` and `head` are the position its image covers, which may be behind the
 * log: the records committed while the image was uploaded were shipped before the marker. So a
 * marker also carries the log's head as it stands after it (`logTo`, `logHead`: the last record
 * shipped before it), and whoever reads the log's last message to learn its head reads those
 * (logHeadOf). Taken for the head, a marker's `to` once made a new owner fence "after" it and ship
 * its rebuilt store's records above it a second time; every later rebuild then failed the gap
 * check (docs/benchmarks.md, "The cluster test's liveness failure").
 */
const gzip = promisify(gzipCb);

/**
 * When a slot's checkpoint is published while its journal moves: once `records` were appended since
 * the last one, and at least every `everyMs`. A rebuild reads and applies what came after the latest
 * checkpoint, so the count bounds a takeover's rebuild whatever the traffic. Each checkpoint uploads
 * the whole SQLite image, though, so the next waits at least `minGapMs`, and at least `costFactor`
 * times what the cheapest of its last three took (its image and upload; one that waited out an
 * election does not count alone, and a term's first three are spaced by `minGapMs` alone): an
 * owner spends at most about 1/costFactor of
 * its time checkpointing, however large its store grows. By time alone (every 30 s) a new owner
 * rebuilt 200-1,000 records, 0.5-4 s on a loaded machine (docs/benchmarks.md, "Failover in the
 * cluster test").
 */
export const CHECKPOINT_POLICY = { records: 64, minGapMs: 2_000, costFactor: 10, everyMs: 30_000 } as const;
export type CheckpointPolicy = { readonly records: number; readonly minGapMs: number; readonly costFactor: number; readonly everyMs: number };

/** How often the policy is checked (a comparison of two numbers). */
const CHECKPOINT_CHECK_MS = 250;

export const JournalHeader = {
  from: 'Journal-From',
  to: 'Journal-To',
  head: 'Journal-Head',
  logTo: 'Journal-Log-To',
  logHead: 'Journal-Log-Head',
  checkpoint: 'Journal-Checkpoint',
  fence: 'Journal-Fence',
  readFrom: 'Journal-Read-From',
  chunks: 'Journal-Chunks',
} as const;

/**
 * The log's head after `entry` (a slot's last message, say): the position of the last record
 * shipped up to it, and that record's hash. A records message or a fence says so in `to` and
 * `head`; a checkpoint marker in `logTo` and `logHead` (its `to` is what its image covers). A marker
 * written before markers carried them gives its `to`, as readers took it then.
 */
export function logHeadOf(entry: LogEntry): { pos: number; hash: string } {
  const h = entry.headers;
  return h[JournalHeader.logTo] !== undefined ? { pos: Number(h[JournalHeader.logTo]), hash: h[JournalHeader.logHead] ?? '' } : { pos: Number(h[JournalHeader.to] ?? 0), hash: h[JournalHeader.head] ?? '' };
}

/**
 * Where a slot's checkpoint images go: beside its journal, unfenced (only a fenced marker makes one
 * count). After each image's chunks and its marker comes a message without a body whose
 * `readFrom` header is the journal sequence a rebuild may start reading at (rebuild.ts), and whose
 * `chunks` header names the image's chunks as the marker does.
 */
export const checkpointSubject = (subject: string): string => `${subject}.checkpoint`;

/** The local store is behind its log, or has a tail the log does not have: it must be rebuilt from the log. */
export class JournalDiverged extends Error {
  override readonly name = 'JournalDiverged';
  constructor(
    message: string,
    /** The log's last message that showed it (a rebuild starts from what it knows). */
    readonly last?: LogEntry,
  ) {
    super(message);
  }
}

export interface ReplicatorOptions {
  log: ReplicatedLog;
  subject: string;
  /** Largest message body; a batch over it goes out in several. Default 512 KiB (nats-server's max_payload is 1 MiB). */
  maxBytes?: number;
  /** Called once when the log refused an append because another writer came in. */
  onFenced?: (err: LogFenced) => void;
  /** Called at each retry of an append the cluster could not take (a leader election, a lost node). */
  onRetry?: (err: unknown) => void;
}

interface Waiting {
  records: readonly ShippedRecord[];
  /** A marker instead of records: its headers (to, head, checkpoint or fence). */
  marker?: Headers;
  resolve: (seq: number) => void;
  reject: (err: unknown) => void;
}

/** The body of a journal message: `[[pos, record], ...]`, each record the JSON the journal stored. */
export const encodeRecords = (records: readonly ShippedRecord[]): string => `[${records.map(([pos, json]) => `[${pos},${json}]`).join(',')}]`;

/** The records of a journal message, with each record's JSON as the journal stored it. */
export function decodeRecords(body: string): ShippedRecord[] {
  return (JSON.parse(body) as Array<[number, unknown]>).map(([pos, record]) => [pos, JSON.stringify(record)] as const);
}

/** The hash a message carries of its last record: the JSON as stored ('' for none). */
export const recordHash = (json: string | undefined): string => (json === undefined ? '' : createHash('sha1').update(json).digest('base64url'));

/** What a checkpoint took: the image's size raw and as sent (gzipped, base64), and each step's ms (serializeMs: making the image, on the event loop; imageMs includes it and the gzip). */
export interface CheckpointCost {
  covered: number;
  bytes: number;
  sentBytes: number;
  serializeMs: number;
  imageMs: number;
  publishMs: number;
  trimMs: number;
  /** Whether its trims ran (not: left to a later checkpoint's, or the replicator had stopped). */
  trimmed: boolean;
}

/** A checkpoint published, its trims to do: what it cost so far, where its journal may be trimmed from, its first chunk, its number. */
interface PublishedCheckpoint {
  cost: Omit<CheckpointCost, 'trimMs' | 'trimmed'>;
  keepFrom: number;
  firstChunk: number;
  number: number;
}

export class JournalReplicator {
  private readonly waiting: Waiting[] = [];
  private pumping = false;
  private failed: Error | undefined;
  private readonly maxBytes: number;
  /** The messages this writer appended since its last checkpoint: [sequence, last position]. */
  private recent: Array<[seq: number, to: number]> = [];
  /** The log's head as this writer left it: the last record's position and hash (a marker carries them, logHeadOf). */
  private shippedTo = 0;
  private shippedHash = '';

  private constructor(
    private readonly journal: Journal,
    private readonly opts: ReplicatorOptions,
    /** The subject's last sequence as this writer knows it: what its next append expects. */
    private lastSeq: number,
  ) {
    this.maxBytes = opts.maxBytes ?? 512 * 1024;
  }

  /**
   * Opens the slot's log for this journal: re-ships the tail the log lacks (a crash between a
   * local commit and the stream's ack), then holds every later batch until it is shipped. Throws
   * `JournalDiverged` if the log is ahead of the local store or its head is not the store's record.
   * With `fence`, first appends a fence marker, so that a previous owner can append no more.
   * `known.last`: the subject's last message as a rebuild just read it (one round trip fewer; had
   * another writer appended since, the fence's append is refused, as it would be after a fresh read).
   */
  static async open(journal: Journal, opts: ReplicatorOptions, fence?: string, known?: { last: LogEntry | undefined }): Promise<JournalReplicator> {
    let last = known ? known.last : await opts.log.last(opts.subject);
    const r = new JournalReplicator(journal, opts, last?.seq ?? 0);
    if (fence !== undefined && last) {
      // The previous owner's last word is the log's: this store must hold exactly that head.
      r.check(last);
      const head = logHeadOf(last);
      const marker = { [JournalHeader.to]: String(head.pos), [JournalHeader.head]: head.hash, [JournalHeader.fence]: fence };
      r.lastSeq = await opts.log.append(opts.subject, '[]', marker, `${opts.subject}:fence:${fence}:${last.seq}`, last.seq);
      // The append took the place right after `last`, so the marker is the subject's last message
      // now (a writer after it would fence this one's next append): no need to ask again.
      last = { seq: r.lastSeq, headers: marker, data: '[]' };
    }
    const logHead = last ? r.check(last) : 0;
    r.shippedTo = logHead;
    r.shippedHash = last ? logHeadOf(last).hash : '';
    const tail = journal.recordsAfter(logHead);
    if (tail.length > 0) await r.ship(tail);
    journal.replicateWith((records) => r.ship(records));
    return r;
  }

  /** The log's head position, if the local store holds that record as it is in the log; else JournalDiverged. */
  private check(last: LogEntry): number {
    const { pos: logHead, hash } = logHeadOf(last);
    if (logHead > this.journal.head) throw new JournalDiverged(`${this.opts.subject} holds records up to ${logHead}, the local store up to ${this.journal.head}`, last);
    const ours = this.journal.recordJsonAt(logHead);
    if (logHead > 0 && ours !== undefined && recordHash(ours) !== hash) {
      throw new JournalDiverged(`${this.opts.subject}: record ${logHead} differs from the local store's`, last);
    }
    return logHead;
  }

  /** The subject's last sequence this writer appended (or found at open). */
  get sequence(): number {
    return this.lastSeq;
  }

  /** Resolves once `records` are in the log (after every batch shipped before them). */
  ship(records: readonly ShippedRecord[]): Promise<void> {
    return this.enqueue(records).then(() => undefined);
  }

  private enqueue(records: readonly ShippedRecord[], marker?: Headers): Promise<number> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiting.push({ records, resolve, reject, ...(marker ? { marker } : {}) });
      void this.pump();
    });
  }

  /**
   * Publishes a checkpoint: an image of the store (checkpoint-image.ts: every table, actors and the
   * services' own such as stock, reservations, payments, the order index, and of the journal the
   * records a new owner needs, not its history), gzipped at level 1 in chunks on
   * `<subject>.checkpoint`, then a fenced marker naming them and the position they cover, then
   * trims what the marker makes unneeded. A rebuild starts from the latest marker. Taken between
   * batches (no transaction open), so the image holds exactly the records up to the journal's head.
   * Level 1: on these images it cost a third to a half of level 6's CPU for 8-10% more bytes
   * (docs/benchmarks.md, "A checkpoint without the journal's history"). `imageOf` makes the image
   * (tests pass `fullImage`, what earlier releases published, to rebuild from one).
   */
  async checkpoint(imageOf: (journal: Journal) => Buffer = checkpointImage): Promise<CheckpointCost | undefined> {
    const published = await this.publishCheckpoint(imageOf);
    return published && this.trimAfter(published);
  }

  /**
   * A checkpoint's image, marker and `readFrom`, published; its trims not yet done (trimAfter). One
   * at a time, each after the one asked for before it is published: overlapping, a slow upload let a
   * later checkpoint's marker land first, and the earlier one's marker then came last with the lower
   * position and a `readFrom` past records its image does not hold (its list of messages already cut
   * by the later one), so a rebuild from the log found a gap (tests/unit/rebuild-gap.test.ts).
   */
  private publishCheckpoint(imageOf: (journal: Journal) => Buffer): Promise<PublishedCheckpoint | undefined> {
    const run = this.publishing.then(() => this.publishOne(imageOf));
    this.publishing = run.catch(() => undefined);
    return run;
  }

  /** The checkpoints being published, one after another (publishCheckpoint). */
  private publishing: Promise<unknown> = Promise.resolve();

  private async publishOne(imageOf: (journal: Journal) => Buffer): Promise<PublishedCheckpoint | undefined> {
    const store = this.journal.store;
    while (store.db.inTransaction) await new Promise((r) => setImmediate(r));
    if (store.closed) return undefined;
    const began = performance.now();
    const covered = this.journal.head;
    const head = recordHash(this.journal.recordJsonAt(covered));
    const raw = imageOf(this.journal);
    const serializeMs = performance.now() - began;
    const image = (await gzip(raw, { level: 1 })).toString('base64');
    const imagedAt = performance.now();
    // A replicator stopped meanwhile (its runtime killed, or fenced) publishes nothing more.
    if (this.failed !== undefined) return undefined;
    const chunkSubject = checkpointSubject(this.opts.subject);
    const id = `${covered}:${randomUUID()}`;
    let first = 0;
    let lastChunk = 0;
    for (let i = 0; i * this.maxBytes < image.length; i++) {
      if (this.failed !== undefined) return undefined;
      lastChunk = await this.opts.log.put(chunkSubject, image.slice(i * this.maxBytes, (i + 1) * this.maxBytes), { [JournalHeader.checkpoint]: id }, `${chunkSubject}:${id}:${i}`);
      first ||= lastChunk;
    }
    // Fenced and in position order after every batch shipped before it.
    const markerSeq = await this.enqueue([], { [JournalHeader.to]: String(covered), [JournalHeader.head]: head, [JournalHeader.checkpoint]: `${first}-${lastChunk}` });
    // What the marker covers goes: every message whose records are all at or below its position.
    const keepFrom = Math.min(markerSeq, ...this.recent.filter(([, to]) => to > covered).map(([seq]) => seq));
    this.recent = this.recent.filter(([seq]) => seq >= keepFrom);
    // Where a new owner starts reading, should the trims below not be done when it comes (they are
    // one delete per message on a cluster before 2.9.18, retried through elections, and die with
    // their process): every message with a record after `covered` is at `keepFrom` or above. Put
    // before the trims, so that the chunks' trim leaves this image's chunks and it, and the next
    // checkpoint's removes it.
    // It names the image's chunks too (as its marker does), so that a rebuild reads them while it reads the journal.
    await this.opts.log.put(chunkSubject, '', { [JournalHeader.checkpoint]: id, [JournalHeader.readFrom]: String(keepFrom), [JournalHeader.chunks]: `${first}-${lastChunk}` }, `${chunkSubject}:${id}:read-from`);
    const ms = (from: number, to: number) => Math.round(to - from);
    const cost = { covered, bytes: raw.length, sentBytes: image.length, serializeMs: Math.round(serializeMs), imageMs: ms(began, imagedAt), publishMs: ms(imagedAt, performance.now()) };
    return { cost, keepFrom, firstChunk: first, number: ++this.published };
  }

  /**
   * A published checkpoint's trims: what its marker made unneeded in the journal, and the earlier
   * images' chunks. One checkpoint's trims at a time, in order; a checkpoint's trims not started
   * when a later one was published are left to that one's (which remove at least as much), and a
   * stopped replicator (its runtime killed or fenced) trims nothing more. No read depends on them
   * (a rebuild reads from `readFrom`); they only keep the stream small.
   */
  private trimAfter(p: PublishedCheckpoint): Promise<CheckpointCost> {
    const run = this.trimming.then(async (): Promise<CheckpointCost> => {
      if (this.failed !== undefined || p.number < this.published) return { ...p.cost, trimMs: 0, trimmed: false };
      const began = performance.now();
      await this.opts.log.trim(this.opts.subject, p.keepFrom);
      await this.opts.log.trim(checkpointSubject(this.opts.subject), p.firstChunk);
      return { ...p.cost, trimMs: Math.round(performance.now() - began), trimmed: true };
    });
    this.trimming = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Checkpoints published by this writer so far. */
  private published = 0;
  /** The trims of the checkpoints published so far, one after another (trimAfter). */
  private trimming: Promise<void> = Promise.resolve();

  /**
   * Checkpoints from now on: the first at once, then as `policy` says while the journal moves,
   * until the store closes or the replicator stops. Resolves without waiting for the first: a
   * checkpoint only shortens a later rebuild (one without a marker starts from the seed and replays
   * the whole subject), while its chunks, marker and trim go through JetStream, which after a lost
   * node can take many seconds (the cluster test: a standby's trims retried for 5-22 s per slot).
   * A new owner opens its slots one after another, so waiting for each first checkpoint kept the
   * later slots unserved past the saga's 30 s step deadlines. A failed checkpoint is retried at the
   * next tick (the records are safe in the log meanwhile; only the rebuild's starting point is older).
   * `onDone` hears what each one cost. With `checkpointed` (the position the log's latest
   * checkpoint covers, known when the store was just rebuilt from it), the first waits for the
   * policy like any other: a new owner taking over several slots at once otherwise imaged and
   * uploaded each of them while the others were still opening, for a checkpoint at most `records`
   * newer than the one it had just read.
   */
  startCheckpoints(
    policy: CheckpointPolicy = CHECKPOINT_POLICY,
    onError: (err: unknown) => void = () => undefined,
    onDone: (cost: CheckpointCost) => void = () => undefined,
    checkpointed?: number,
  ): Promise<void> {
    let covered: number | undefined = checkpointed;
    let startedAt = checkpointed === undefined ? -Infinity : performance.now();
    let gapMs = policy.minGapMs;
    /** What the last few checkpoints took (image and upload), newest last. */
    const costs: number[] = [];
    let running = false;
    const tick = (): void => {
      const head = this.journal.head;
      if (running || head === covered || this.failed !== undefined || this.journal.store.closed) return;
      const since = performance.now() - startedAt;
      if (since < policy.everyMs && (since < gapMs || head - (covered ?? 0) < policy.records)) return;
      running = true;
      startedAt = performance.now();
      // The next may start once this one's marker and readFrom are out: its trims (one delete per
      // message on nats-server 2.9.10 in a cluster, 0.04-1.7 s each in the cluster test, retried
      // through elections) run behind it, and while they held this one running, a slot under load
      // went 10 s and more without a checkpoint, and a takeover applied 400 records.
      this.publishCheckpoint(checkpointImage)
        .then((published) => {
          covered = head;
          if (!published) return;
          // By the least of the last three, once three were measured: an upload that waited out a
          // leader election (3.3 s in the cluster test, its puts answered 'no responders' until
          // the stream had a leader) is not what a checkpoint costs, and spaced by it the next came
          // 30 s later, the first after a takeover: the slot's next takeover applied 633 records.
          // A store that grows costs more at every checkpoint; the least of three follows it a
          // little behind.
          costs.push(published.cost.imageMs + published.cost.publishMs);
          if (costs.length > 3) costs.shift();
          gapMs = costs.length < 3 ? policy.minGapMs : Math.max(policy.minGapMs, policy.costFactor * Math.min(...costs));
          this.trimAfter(published).then(onDone, onError);
        }, onError)
        .finally(() => void (running = false));
    };
    const timer = setInterval(tick, Math.min(CHECKPOINT_CHECK_MS, policy.minGapMs));
    timer.unref();
    this.stopCheckpoints = () => clearInterval(timer);
    this.journal.store.beforeClose(() => Promise.resolve(this.stopCheckpoints()));
    tick();
    return Promise.resolve();
  }

  private stopCheckpoints: () => void = () => undefined;

  /** Stops: what is still waiting is refused (nobody hears of it). */
  stop(): void {
    this.stopCheckpoints();
    this.fail(new TransportClosedError());
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.waiting.length > 0 && this.failed === undefined) {
        // A marker goes alone; else every batch waiting now, up to maxBytes (at least one), goes out together.
        const taken: Waiting[] = [];
        const records: ShippedRecord[] = [];
        let bytes = 0;
        while (this.waiting.length > 0 && !taken[0]?.marker) {
          const next = this.waiting[0]!;
          const size = next.records.reduce((n, [, json]) => n + json.length + 16, 0);
          if (taken.length > 0 && (next.marker || bytes + size > this.maxBytes)) break;
          taken.push(this.waiting.shift()!);
          records.push(...next.records);
          bytes += size;
        }
        let seq = 0;
        try {
          const marker = taken[0]!.marker;
          // Every batch queued before the marker is in the log now: the marker says where its head stands.
          if (marker) seq = await this.append('[]', { ...marker, [JournalHeader.logTo]: String(this.shippedTo), [JournalHeader.logHead]: this.shippedHash }, `${this.opts.subject}:marker:${marker[JournalHeader.to]}:${marker[JournalHeader.checkpoint]}`);
          for (const chunk of this.chunks(records)) seq = await this.appendRecords(chunk);
        } catch (err) {
          for (const w of taken) w.reject(err);
          this.fail(err);
          return;
        }
        for (const w of taken) w.resolve(seq);
      }
    } finally {
      this.pumping = false;
    }
  }

  private *chunks(records: readonly ShippedRecord[]): Iterable<ShippedRecord[]> {
    let chunk: ShippedRecord[] = [];
    let bytes = 0;
    for (const r of records) {
      if (chunk.length > 0 && bytes + r[1].length + 16 > this.maxBytes) {
        yield chunk;
        chunk = [];
        bytes = 0;
      }
      chunk.push(r);
      bytes += r[1].length + 16;
    }
    if (chunk.length > 0) yield chunk;
  }

  private async appendRecords(records: readonly ShippedRecord[]): Promise<number> {
    const from = records[0]![0];
    const to = records[records.length - 1]![0];
    const headers = { [JournalHeader.from]: String(from), [JournalHeader.to]: String(to), [JournalHeader.head]: recordHash(records[records.length - 1]![1]) };
    const seq = await this.append(encodeRecords(records), headers, `${this.opts.subject}:${from}-${to}`);
    this.recent.push([seq, to]);
    this.shippedTo = to;
    this.shippedHash = headers[JournalHeader.head];
    return seq;
  }

  /** One message, retried while the cluster cannot take it; refused for good only when fenced or closed. */
  private async append(body: string, headers: Headers, msgId: string): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      if (this.failed !== undefined) throw this.failed;
      try {
        this.lastSeq = await this.opts.log.append(this.opts.subject, body, headers, msgId, this.lastSeq);
        return this.lastSeq;
      } catch (err) {
        if (err instanceof LogFenced || err instanceof TransportClosedError) throw err;
        this.opts.onRetry?.(err);
        await new Promise((r) => setTimeout(r, Math.min(1_000, 50 * 2 ** Math.min(attempt, 5))));
      }
    }
  }

  private fail(err: unknown): void {
    if (this.failed !== undefined) return;
    this.failed = err instanceof Error ? err : new Error(String(err));
    for (const w of this.waiting.splice(0)) w.reject(err);
    if (err instanceof LogFenced) this.opts.onFenced?.(err);
  }
}

/**
 * Ships `rt`'s journal to `log` under its slot's subject from now on (distributed mode); with
 * `fence` (a new owner's name), first fences the slot so that a previous owner can append no more. If the
 * slot is fenced (another owner wrote to it), the service stops at once: nobody hears of what it
 * committed since, and its subscriptions close.
 */
export async function replicateJournal(rt: ServiceRuntime, log: ReplicatedLog, slot: string, fence?: string, known?: { last: LogEntry | undefined }): Promise<JournalReplicator> {
  const subject = journalSubject(rt.service, slot);
  const replicator = await JournalReplicator.open(rt.journal, {
    log,
    subject,
    onFenced: (err) => {
      rt.log.error({ err: err.message, subject }, 'journal fenced: another owner writes this slot; this one stops serving it');
      rt.kill();
    },
    onRetry: (err) => rt.log.warn({ err: err instanceof Error ? err.message : String(err), subject }, 'journal append not taken yet; retrying'),
  }, fence, known);
  rt.store.onReleaseFailed(() => replicator.stop());
  // A killed term (its lease lost, its process's slot handed on) ships, retries and trims no more.
  rt.store.onKill(() => replicator.stop());
  return replicator;
}

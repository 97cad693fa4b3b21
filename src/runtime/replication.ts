/**
 * A store's journal shipped to a replicated log (distributed mode): a JetStream stream `JOURNAL`,
 * one subject per store slot, `journal.<service>.<slot>` (R3 on a 3-node cluster).
 *
 * Order: SQLite first, then the stream, then anyone is told. A batch commits (and, under FULL, is
 * synced) locally; its records are then appended to the slot's subject as ONE message (a bounded
 * number of them for a batch over `maxBytes`), and only once the stream has acknowledged them is the
 * batch released (store.holdRelease): its writers resolve, replies go out, the relay sends its
 * effects, the scheduler arms its timers. So:
 *   - a crash before the local commit loses nothing anyone was told of;
 *   - a crash after the commit and before the ack leaves records that nobody heard of: a restart on
 *     the same disk re-ships the tail the stream lacks (at open, below), with the same message ids
 *     (JetStream drops a copy that did land); a machine lost with its disk takes them with it,
 *     which loses nothing acknowledged: the senders were not answered and try again;
 *   - a crash after the ack: the records are both here and in the stream; the relay resends above
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
import { journalSubject } from '../contracts/subjects.ts';
import type { Journal, ShippedRecord } from './journal.ts';
import type { ServiceRuntime } from './service.ts';
import { LogFenced, type ReplicatedLog } from './transport/transport.ts';
import { TransportClosedError } from './transport/errors.ts';

/** Headers of a journal message: the positions of its first and last record. */
export const JournalHeader = { from: 'Journal-From', to: 'Journal-To' } as const;

/** The local store is behind its log, or has a tail the log does not have: it must be rebuilt from the log. */
export class JournalDiverged extends Error {
  override readonly name = 'JournalDiverged';
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
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** The body of a journal message: `[[pos, record], ...]`, each record the JSON the journal stored. */
export const encodeRecords = (records: readonly ShippedRecord[]): string => `[${records.map(([pos, json]) => `[${pos},${json}]`).join(',')}]`;

/** The records of a journal message, with each record's JSON as the journal stored it. */
export function decodeRecords(body: string): ShippedRecord[] {
  return (JSON.parse(body) as Array<[number, unknown]>).map(([pos, record]) => [pos, JSON.stringify(record)] as const);
}

export class JournalReplicator {
  private readonly waiting: Waiting[] = [];
  private pumping = false;
  private failed: Error | undefined;
  private readonly maxBytes: number;

  private constructor(
    private readonly opts: ReplicatorOptions,
    /** The subject's last sequence as this writer knows it: what its next append expects. */
    private lastSeq: number,
  ) {
    this.maxBytes = opts.maxBytes ?? 512 * 1024;
  }

  /**
   * Opens the slot's log for this journal: re-ships the tail the log lacks (a crash between a
   * local commit and the stream's ack), then holds every later batch until it is shipped. Throws
   * `JournalDiverged` if the log is ahead of the local store or disagrees with it.
   */
  static async open(journal: Journal, opts: ReplicatorOptions): Promise<JournalReplicator> {
    const last = await opts.log.last(opts.subject);
    const r = new JournalReplicator(opts, last?.seq ?? 0);
    const logHead = last ? Number(last.headers[JournalHeader.to] ?? 0) : 0;
    if (logHead > journal.head) throw new JournalDiverged(`${opts.subject} holds records up to ${logHead}, the local store up to ${journal.head}`);
    if (last && logHead > 0) {
      const theirs = decodeRecords(last.data).find(([pos]) => pos === logHead)?.[1];
      const ours = journal.recordJsonAt(logHead);
      if (ours !== undefined && theirs !== ours) throw new JournalDiverged(`${opts.subject}: record ${logHead} differs from the local store's`);
    }
    const tail = journal.recordsAfter(logHead);
    if (tail.length > 0) await r.ship(tail);
    journal.replicateWith((records) => r.ship(records));
    return r;
  }

  /** The subject's last sequence this writer appended (or found at open). */
  get sequence(): number {
    return this.lastSeq;
  }

  /** Resolves once `records` are in the log (after every batch shipped before them). */
  ship(records: readonly ShippedRecord[]): Promise<void> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiting.push({ records, resolve, reject });
      void this.pump();
    });
  }

  /** Stops: what is still waiting is refused (nobody hears of it). */
  stop(): void {
    this.fail(new TransportClosedError());
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.waiting.length > 0 && this.failed === undefined) {
        // Every batch waiting now, up to maxBytes (at least one), goes out together.
        const taken: Waiting[] = [];
        const records: ShippedRecord[] = [];
        let bytes = 0;
        while (this.waiting.length > 0) {
          const next = this.waiting[0]!;
          const size = next.records.reduce((n, [, json]) => n + json.length + 16, 0);
          if (taken.length > 0 && bytes + size > this.maxBytes) break;
          taken.push(this.waiting.shift()!);
          records.push(...next.records);
          bytes += size;
        }
        try {
          for (const chunk of this.chunks(records)) await this.append(chunk);
        } catch (err) {
          for (const w of taken) w.reject(err);
          this.fail(err);
          return;
        }
        for (const w of taken) w.resolve();
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

  /** One message, retried while the cluster cannot take it; refused for good only when fenced or closed. */
  private async append(records: readonly ShippedRecord[]): Promise<void> {
    const from = records[0]![0];
    const to = records[records.length - 1]![0];
    const msgId = `${this.opts.subject}:${from}-${to}`;
    const headers = { [JournalHeader.from]: String(from), [JournalHeader.to]: String(to) };
    const body = encodeRecords(records);
    for (let attempt = 0; ; attempt++) {
      if (this.failed !== undefined) throw this.failed;
      try {
        this.lastSeq = await this.opts.log.append(this.opts.subject, body, headers, msgId, this.lastSeq);
        return;
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
 * Ships `rt`'s journal to `log` under its slot's subject from now on (distributed mode). If the
 * slot is fenced (another owner wrote to it), the service stops at once: nobody hears of what it
 * committed since, and its subscriptions close.
 */
export async function replicateJournal(rt: ServiceRuntime, log: ReplicatedLog, slot: string): Promise<JournalReplicator> {
  const subject = journalSubject(rt.service, slot);
  const replicator = await JournalReplicator.open(rt.journal, {
    log,
    subject,
    onFenced: (err) => {
      rt.log.error({ err: err.message, subject }, 'journal fenced: another owner writes this slot; this one stops serving it');
      rt.kill();
    },
    onRetry: (err) => rt.log.warn({ err: err instanceof Error ? err.message : String(err), subject }, 'journal append not taken yet; retrying'),
  });
  rt.store.onReleaseFailed(() => replicator.stop());
  return replicator;
}

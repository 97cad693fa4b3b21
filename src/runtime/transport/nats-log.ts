/**
 * The ReplicatedLog contract over a JetStream stream: an append is a publish carrying
 * `Nats-Expected-Last-Subject-Sequence` (the server refuses it if the subject moved on) and
 * `Nats-Msg-Id` (a repeat within the duplicate window is acknowledged with the first one's
 * sequence); the last message is a direct `last_by_subj` read; a read is an ordered consumer over
 * the subject from a sequence.
 *
 * Every call but the append waits out a degraded cluster (a stream just created whose leader is
 * still being elected, a lost node) for up to `patienceMs`, as provisioning does: a slot opened
 * while a cluster starts or fails over waits for it instead of failing its service's start. The
 * append is retried by its caller (the replicator), which knows whether it was fenced.
 */
import { DeliverPolicy, JetStreamApiCodes, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Header, type Headers } from '../../contracts/headers.ts';
import { retryWhileDegraded } from './nats-jetstream.ts';
import { fromNatsHeaders, JetStreamRefused } from './nats-mapping.ts';
import { LogFenced, type LogEntry, type PublishAck, type ReplicatedLog } from './transport.ts';

const EXPECTED_LAST_SUBJECT_SEQUENCE = 'Nats-Expected-Last-Subject-Sequence';

export class NatsLog implements ReplicatedLog {
  constructor(
    private readonly stream: string,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly publish: (subject: string, data: string, headers: Headers) => Promise<PublishAck>,
    private readonly onWait: (what: string, err: unknown) => void = () => undefined,
    private readonly patienceMs = 60_000,
  ) {}

  private patiently<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return retryWhileDegraded(`${this.stream} ${what}`, fn, this.patienceMs, this.onWait);
  }

  async append(subject: string, data: string, headers: Headers, msgId: string, expectLastSeq: number): Promise<number> {
    try {
      const ack = await this.publish(subject, data, { ...headers, [Header.natsMsgId]: msgId, [EXPECTED_LAST_SUBJECT_SEQUENCE]: String(expectLastSeq) });
      return ack.seq;
    } catch (err) {
      if (!isWrongLastSequence(err)) throw err;
    }
    // Refused: either another writer came in, or this very append was stored by an earlier try
    // whose acknowledgement was lost (and the server checked the sequence before its duplicate window).
    const last = await this.last(subject);
    if (last && last.headers[Header.natsMsgId] === msgId) return last.seq;
    throw new LogFenced(subject, expectLastSeq);
  }

  async put(subject: string, data: string, headers: Headers, msgId: string): Promise<number> {
    // A repeat after a lost acknowledgement is dropped by the duplicate window (same message id).
    return (await this.patiently(`put ${subject}`, () => this.publish(subject, data, { ...headers, [Header.natsMsgId]: msgId }))).seq;
  }

  async last(subject: string): Promise<LogEntry | undefined> {
    const m = await this.patiently(`last ${subject}`, () => this.jsm.streams.getMessage(this.stream, { last_by_subj: subject }));
    return m ? { seq: m.seq, headers: fromNatsHeaders(m.header), data: m.string() } : undefined;
  }

  async read(subject: string, afterSeq: number, throughSeq: number, onEntry: (e: LogEntry) => void): Promise<void> {
    if (throughSeq <= afterSeq) return;
    const consumer = await this.patiently(`read ${subject}`, () => this.js.consumers.get(this.stream, {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: afterSeq + 1,
    }));
    const messages = await consumer.consume({ max_messages: 256 });
    try {
      for await (const m of messages) {
        onEntry({ seq: m.seq, headers: fromNatsHeaders(m.headers), data: m.string() });
        if (m.seq >= throughSeq) break;
      }
    } finally {
      await messages.close().catch(() => undefined);
    }
  }

  async trim(subject: string, keepFromSeq: number): Promise<void> {
    await this.patiently(`trim ${subject}`, () => this.jsm.streams.purge(this.stream, { filter: subject, seq: keepFromSeq }));
  }
}

export function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamRefused &&
    (err.errCode === JetStreamApiCodes.StreamWrongLastSequence || err.errCode === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

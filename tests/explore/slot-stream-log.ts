/**
 * Layout B of the journal-index exploration (journal-index.test.ts): the ReplicatedLog contract
 * over ONE JetStream STREAM PER SUBJECT (per slot, and one more for its checkpoint's chunks),
 * instead of one shared JOURNAL stream with a subject per slot (nats-log.ts, layout A). What it
 * avoids: nats-server's per-subject index (`psim`). An append carries the stream-level
 * `Nats-Expected-Last-Sequence`, which nats-server 2.9.10 checks when it applies the message,
 * against the stream's last sequence (`mset.lseq`), not at the proposal against the index; the
 * last message is the stream's `last_seq` (stream info) and a get by that sequence; a read is gets
 * from a sequence. Only the first append to an empty stream uses the subject-level header
 * (`Nats-Expected-Last-Subject-Sequence: 0`): 2.9.10 takes a stream-level expectation of 0 as no
 * expectation at all.
 *
 * An exploration's tool, not the services' log: nothing in src uses it (docs/benchmarks.md, "The
 * journal's index fault, alone").
 */
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager, type MsgRequest } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Header, type Headers } from '../../src/contracts/headers.ts';
import { ensureNatsStream, retryWhileDegraded } from '../../src/runtime/transport/nats-jetstream.ts';
import { casAppend, isWrongLastSequence, spreadRead } from '../../src/runtime/transport/nats-log.ts';
import { fromNatsHeaders } from '../../src/runtime/transport/nats-headers.ts';
import { JetStreamRefused } from '../../src/runtime/transport/nats-mapping.ts';
import { LogIndexBroken, type LogEntry, type PublishAck, type ReplicatedLog } from '../../src/runtime/transport/transport.ts';

const EXPECTED_LAST_SEQUENCE = 'Nats-Expected-Last-Sequence';
const EXPECTED_LAST_SUBJECT_SEQUENCE = 'Nats-Expected-Last-Subject-Sequence';

/** The stream that holds `subject` alone: `journal.inventory.0` → `JOURNAL-inventory_0`. */
export const slotStream = (subject: string): string => `JOURNAL-${subject.replace(/^journal\./, '').replace(/\./g, '_')}`;

/** 2.9.10 refuses a stream-level expectation with code 400 and no err_code ("wrong last sequence: N"). */
function isWrongStreamSequence(err: unknown): boolean {
  return isWrongLastSequence(err) || (err instanceof JetStreamRefused && err.code === 400 && /wrong last sequence/.test(err.message));
}

export class SlotStreamLog implements ReplicatedLog {
  private readonly jsm: Promise<JetStreamManager>;
  private readonly ensured = new Map<string, Promise<unknown>>();

  constructor(
    nc: NatsConnection,
    private readonly publish: (subject: string, data: string, headers: Headers) => Promise<PublishAck>,
    private readonly replicas = 3,
    private readonly patienceMs = 60_000,
  ) {
    this.jsm = jetstreamManager(nc, { checkAPI: false, timeout: 2_000 });
  }

  private patiently<T>(what: string, fn: (jsm: JetStreamManager) => Promise<T>): Promise<T> {
    return retryWhileDegraded(what, async () => fn(await this.jsm), this.patienceMs);
  }

  /** Creates the subject's stream once per log (file storage, R3, the journal's duplicate window, direct gets). */
  ensure(subject: string): Promise<unknown> {
    let p = this.ensured.get(subject);
    if (!p) {
      p = this.patiently(`stream ${slotStream(subject)}`, (jsm) => ensureNatsStream(jsm, slotStream(subject), [subject], this.replicas, undefined, true));
      this.ensured.set(subject, p);
      p.catch(() => this.ensured.delete(subject));
    }
    return p;
  }

  async append(subject: string, data: string, headers: Headers, msgId: string, expectLastSeq: number): Promise<number> {
    await this.ensure(subject);
    return casAppend({ publish: this.publish, last: (s) => this.last(s), refused: isWrongStreamSequence }, subject, data, headers, msgId, expectLastSeq, {
      ...(expectLastSeq > 0 ? { [EXPECTED_LAST_SEQUENCE]: String(expectLastSeq) } : { [EXPECTED_LAST_SUBJECT_SEQUENCE]: '0' }),
    });
  }

  async put(subject: string, data: string, headers: Headers, msgId: string): Promise<number> {
    await this.ensure(subject);
    return (await this.patiently(`put ${subject}`, () => this.publish(subject, data, { ...headers, [Header.natsMsgId]: msgId }))).seq;
  }

  /** The stream's last sequence (its own state, not a per-subject index) and the message there. */
  async last(subject: string): Promise<LogEntry | undefined> {
    await this.ensure(subject);
    const state = await this.patiently(`last ${subject}`, async (jsm) => (await jsm.streams.info(slotStream(subject))).state);
    if (state.messages === 0) return undefined;
    const m = await this.get(`last ${subject}`, subject, { seq: state.last_seq });
    if (!m) throw new LogIndexBroken(subject, `counts ${state.messages} messages ending at ${state.last_seq}, yet has no message there`);
    return m;
  }

  async read(subject: string, afterSeq: number, throughSeq: number, onEntry: (e: LogEntry) => void): Promise<void> {
    await this.ensure(subject);
    // nats-server 2.9 takes `next_by_subj` with a `seq` (the first at or after it); nats.js types getMessage's query without it.
    const next = (seq: number) => this.get(`read ${subject}`, subject, { seq, next_by_subj: subject } as unknown as MsgRequest);
    for (const e of await spreadRead(next, afterSeq + 1, throughSeq)) onEntry(e);
  }

  /** Every sequence below `keepFromSeq` is this subject's (the stream holds nothing else): deleted one at a time, no scan. */
  async trim(subject: string, keepFromSeq: number): Promise<void> {
    await this.ensure(subject);
    const first = await this.patiently(`trim ${subject}`, async (jsm) => (await jsm.streams.info(slotStream(subject))).state.first_seq);
    for (let from = first; from < keepFromSeq; from += 64) {
      const seqs = Array.from({ length: Math.min(64, keepFromSeq - from) }, (_, k) => from + k);
      await Promise.all(seqs.map((seq) => this.patiently(`trim ${subject}`, (jsm) => jsm.streams.deleteMessage(slotStream(subject), seq, false)).catch(ignoreGone)));
    }
  }

  private async get(what: string, subject: string, query: MsgRequest): Promise<LogEntry | undefined> {
    const m = await this.patiently(what, (jsm) => jsm.streams.getMessage(slotStream(subject), query));
    if (!m) return undefined;
    if (m.subject !== subject) throw new LogIndexBroken(subject, `answered with message ${m.seq} of ${m.subject}`);
    return { seq: m.seq, headers: fromNatsHeaders(m.header), data: m.string() };
  }
}

function ignoreGone(err: unknown): boolean {
  if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound) return false;
  throw err;
}

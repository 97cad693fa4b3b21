/**
 * The ReplicatedLog contract over ONE JetStream STREAM PER SUBJECT (a slot's journal, and its
 * checkpoint's chunks in a stream of their own), instead of one shared JOURNAL stream with a
 * subject per slot (NatsLog). What it avoids: nats-server's per-subject state. After a node's silent
 * cut healed, nats-server 2.9.10's shared JOURNAL stream lost its per-subject index, its replicas
 * diverged and acknowledged appends went missing, where streams of one subject each stayed right
 * in the same runs (docs/benchmarks.md, "The journal's index fault, alone";
 * tests/explore/journal-index.test.ts). So:
 *
 *   - an append carries the stream-level `Nats-Expected-Last-Sequence`, which 2.9.10 checks when it
 *     applies the message, against the stream's last sequence, not against a per-subject index at
 *     the proposal. The message id names the subject and the expected sequence, as NatsLog's does
 *     (casAppend), so that of concurrent appends proposed at once only one is stored;
 *   - the last message is the stream's own `last_seq` and a get of that sequence;
 *   - a read is `next_by_subj` gets from a sequence (spreadRead), by direct gets where allowed;
 *   - a trim deletes every sequence below the one kept, one at a time, without a scan: the stream
 *     holds nothing else. Not a purge: 2.9.10 replays a purge on a recovering replica as a
 *     compaction up to the stream's last sequence then (nats-server#4196), which would take the
 *     messages kept too.
 *
 * Streams are created on first use, R`replicas`, file storage, the journal's duplicate window.
 * Not used by the services yet: what switching them would take is in docs/benchmarks.md.
 */
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager, type MsgRequest } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Header, type Headers } from '../../contracts/headers.ts';
import { ensureNatsStream, retryWhileDegraded } from './nats-jetstream.ts';
import { casAppend, isWrongLastSequence, LOG_REQUEST_TIMEOUTS_MS, ofSubject, spreadRead, storedHeaders } from './nats-log.ts';
import { fromNatsHeaders } from './nats-headers.ts';
import { LogIndexBroken, type LogEntry, type PublishAck, type ReplicatedLog } from './transport.ts';

const EXPECTED_LAST_SEQUENCE = 'Nats-Expected-Last-Sequence';

/** The stream that holds `subject` alone: `journal.inventory.0` → `JOURNAL-inventory_0`. */
export const slotStream = (subject: string): string => `JOURNAL-${subject.replace(/^journal\./, '').replace(/\./g, '_')}`;

/**
 * The header an append expecting `expectLastSeq` carries: the stream-level expectation, checked
 * when the message is applied against the stream's last sequence; 0 expects an empty stream
 * (nats-server 2.9.10 refuses it on one that is not: tests/int/nats-slot-log.test.ts).
 */
export function expectation(expectLastSeq: number): Headers {
  return { [EXPECTED_LAST_SEQUENCE]: String(expectLastSeq) };
}

export class NatsSlotLog implements ReplicatedLog {
  /** JetStream managers whose API requests time out after LOG_REQUEST_TIMEOUTS_MS, in that order (as NatsLog's). */
  private readonly apis: ReadonlyArray<Promise<JetStreamManager>>;
  /** Each subject's stream, once created or found: whether it answers direct gets. */
  private readonly ensured = new Map<string, Promise<{ allowDirect: boolean }>>();

  constructor(
    nc: NatsConnection,
    private readonly publish: (subject: string, data: string, headers: Headers) => Promise<PublishAck>,
    private readonly replicas = 1,
    private readonly onWait: (what: string, err: unknown) => void = () => undefined,
    private readonly patienceMs = 60_000,
  ) {
    this.apis = LOG_REQUEST_TIMEOUTS_MS.map((timeout) => jetstreamManager(nc, { checkAPI: false, timeout }));
  }

  /** Runs `fn` until the cluster answers, each try with a longer answer timeout than the one before. */
  private patiently<T>(what: string, fn: (jsm: JetStreamManager) => Promise<T>): Promise<T> {
    let attempt = 0;
    return retryWhileDegraded(what, async () => fn(await this.apis[Math.min(attempt++, this.apis.length - 1)]!), this.patienceMs, this.onWait);
  }

  /** Creates the subject's stream unless it exists (file storage, `replicas` copies, the journal's duplicate window, direct gets). */
  private ensure(subject: string): Promise<{ allowDirect: boolean }> {
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
    return casAppend({ publish: this.publish, last: (s) => this.last(s), refused: isWrongLastSequence }, subject, data, headers, msgId, expectLastSeq, expectation(expectLastSeq));
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

  /**
   * By direct gets where the stream allows them (any replica answers from its store), else the
   * leader's; a replica's "none" is asked again of the leader, as NatsLog.next does.
   */
  async read(subject: string, afterSeq: number, throughSeq: number, onEntry: (e: LogEntry) => void): Promise<void> {
    const { allowDirect } = await this.ensure(subject);
    const stream = slotStream(subject);
    const next = async (seq: number): Promise<LogEntry | undefined> => {
      // nats-server 2.9 takes `next_by_subj` with a `seq` (the first at or after it); nats.js types getMessage's query without it.
      const query = { seq, next_by_subj: subject } as unknown as MsgRequest;
      if (allowDirect) {
        const m = await this.patiently(`read ${subject}`, (jsm) => jsm.direct.getMessage(stream, query));
        if (m) return { seq: ofSubject(m, subject).seq, headers: storedHeaders(m.header), data: m.string() };
      }
      return this.get(`read ${subject}`, subject, query);
    };
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
    return m ? { seq: ofSubject(m, subject).seq, headers: fromNatsHeaders(m.header), data: m.string() } : undefined;
  }
}

/**
 * A message already gone is what a trim wants: deleted by an earlier try whose answer was lost
 * (nats-server 2.9.10 answered "no message found" and "sequence N not found", both seen in the journal-index runs).
 */
function ignoreGone(err: unknown): boolean {
  if (err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.NoMessageFound || /no message found|sequence \d+ not found/.test(err.message))) return false;
  throw err;
}

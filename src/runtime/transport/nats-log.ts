/**
 * The ReplicatedLog contract over a JetStream stream: an append is a publish carrying
 * `Nats-Expected-Last-Subject-Sequence` (the server refuses it if the subject moved on) and a
 * `Nats-Msg-Id` naming the subject and that expected sequence, `<subject>@<seq>`; the last message
 * is a `last_by_subj` get the stream's leader answers; a read is `next_by_subj` gets from a
 * sequence, several chains of them at once over disjoint ranges, direct gets any replica answers
 * where the stream allows them (the journal's does, since it is created so), else the leader's. A
 * read needs no consumer.
 *
 * Why the message id is the expected sequence, not the caller's id: nats-server 2.9.10 (R3) checks
 * the expected sequence against what the stream's leader has applied, so two appends proposed
 * before the first is applied both pass and both are stored (tests/int/nats-cas.test.ts: about half
 * of the rounds of three concurrent writers). It checks message ids against its proposals in flight
 * too, so only one append per expected sequence is ever stored. And a duplicate is not taken for
 * success: with the caller's id, derived from the records' positions, a fenced owner's late append
 * of positions the new owner had appended too was acknowledged as a repeat of the new owner's. The
 * caller's id travels as `Journal-Append-Id`, to recognise this writer's own append after a lost
 * acknowledgement.
 *
 * Why no consumer for a read (it was an ordered consumer): nats.js creates an ordered consumer
 * with one replica, and nats-server before 2.9.12 places a consumer with fewer replicas than its
 * stream on a random peer of the stream, dead or alive (nats-server#3791, fixed by #3820). With one
 * node of three down, a third of the creations went to the dead node and were never answered: the
 * client waited its whole request timeout (5 s), then tried again, so a new owner's rebuild after a
 * lost node stalled in 5 s steps. A consumer creation also goes through the meta leader, which may
 * itself be the lost node being replaced; a get needs only the stream's leader.
 *
 * Every call but the append waits out a degraded cluster (a stream just created whose leader is
 * still being elected, a lost node) for up to `patienceMs`, as provisioning does: a slot opened
 * while a cluster starts or fails over waits for it instead of failing its service's start. Each
 * try waits a short time for its answer (1 s, then 2 s, then 5 s: nats.js's default for every
 * JetStream API call is 5 s), so that a request that fell into a leader election is asked again
 * soon after the new leader is up. The append is retried by its caller (the replicator), which
 * knows whether it was fenced.
 */
import {
  DeliverPolicy,
  DirectMsgHeaders,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type MsgRequest,
  type StoredMsg,
} from '@nats-io/jetstream';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { Header, type Headers } from '../../contracts/headers.ts';
import { isDegraded, retryWhileDegraded } from './nats-jetstream.ts';
import { JetStreamRefused } from './nats-mapping.ts';
import { fromNatsHeaders } from './nats-headers.ts';
import { LogFenced, LogIndexBroken, type LogEntry, type PublishAck, type ReplicatedLog } from './transport.ts';

const EXPECTED_LAST_SUBJECT_SEQUENCE = 'Nats-Expected-Last-Subject-Sequence';
/** The caller's id of an append (its records' positions, or its marker's), stored with it. */
export const APPEND_ID = 'Journal-Append-Id';

/** How many chains of gets a read runs at once, over disjoint ranges of sequences (NatsLog.read). */
export const READ_CHAINS = 32;

/** How long reads ask only the stream's leader after a direct get went unanswered (NatsLog.directGet). */
export const DIRECT_PAUSE_MS = 30_000;

/** How long each try of a log read waits for its answer, by attempt (the last one for every later attempt). */
export const LOG_REQUEST_TIMEOUTS_MS = [1_000, 2_000, 5_000] as const;

export class NatsLog implements ReplicatedLog {
  /** JetStream contexts whose API requests time out after LOG_REQUEST_TIMEOUTS_MS, in that order. */
  private readonly apis: ReadonlyArray<{ js: JetStreamClient; jsm: Promise<JetStreamManager> }>;
  /** Reads ask only the stream's leader until then (epoch ms): a direct get went unanswered (see directGet). */
  private leaderOnlyUntil = 0;

  constructor(
    private readonly stream: string,
    nc: NatsConnection,
    private readonly publish: (subject: string, data: string, headers: Headers) => Promise<PublishAck>,
    private readonly onWait: (what: string, err: unknown) => void = () => undefined,
    private readonly patienceMs = 60_000,
    /** Whether a filtered purge is applied as asked (see trim); by default from the server's INFO. */
    private readonly purgeIsSafe: () => boolean = () => filteredPurgeIsSafe(nc.info),
    /** Whether the stream answers direct gets (`allow_direct`): a read's gets then go to any replica (see read). */
    private readonly direct = false,
  ) {
    this.apis = LOG_REQUEST_TIMEOUTS_MS.map((timeout) => ({ js: jetstream(nc, { checkAPI: false, timeout }), jsm: jetstreamManager(nc, { checkAPI: false, timeout }) }));
  }

  /** Runs `fn` until the cluster answers, each try with a longer answer timeout than the one before. */
  private patiently<T>(what: string, fn: (api: { js: JetStreamClient; jsm: JetStreamManager }) => Promise<T>): Promise<T> {
    let attempt = 0;
    return retryWhileDegraded(
      `${this.stream} ${what}`,
      async () => {
        const api = this.apis[Math.min(attempt++, this.apis.length - 1)]!;
        return fn({ js: api.js, jsm: await api.jsm });
      },
      this.patienceMs,
      this.onWait,
    );
  }

  async append(subject: string, data: string, headers: Headers, msgId: string, expectLastSeq: number): Promise<number> {
    return casAppend({ publish: this.publish, last: (s) => this.last(s), refused: isWrongLastSequence }, subject, data, headers, msgId, expectLastSeq, {
      [EXPECTED_LAST_SUBJECT_SEQUENCE]: String(expectLastSeq),
    });
  }

  async put(subject: string, data: string, headers: Headers, msgId: string): Promise<number> {
    // A repeat after a lost acknowledgement is dropped by the duplicate window (same message id).
    return (await this.patiently(`put ${subject}`, () => this.publish(subject, data, { ...headers, [Header.natsMsgId]: msgId }))).seq;
  }

  /**
   * The subject's last message, from the stream's leader, checked against the server's other ways
   * of finding it: "none" is believed only when the stream's own count of the subject's messages is
   * 0 too, and a message only when the next one of the subject after it (`next_by_subj`, which scans
   * the blocks rather than the per-subject index) is none. One request more either way; `last` is
   * asked at an opening and after a refused append, never per commit (a trim asks the index only).
   * nats-server 2.9.10, after a node's silent cut healed, answered "no message" for a journal
   * subject holding 13 messages, and named as a subject's last a message that a consumer of the
   * subject never delivered (docs/benchmarks.md, "The journal's index lost"). Its compare-and-set
   * reads the same index: an append expecting the real last sequence is refused, and one expecting
   * what the index says is taken, so a new owner that believed it would write a second history
   * over the first. LogIndexBroken instead.
   */
  async last(subject: string): Promise<LogEntry | undefined> {
    let found = await this.lastByIndex(subject);
    // A message found after the named last may be one appended in between (another writer): the
    // index is asked again, and only one that still names an earlier message is broken.
    for (let asked = 1; found; asked++) {
      // nats-server 2.9 takes `next_by_subj` with a `seq` (the first at or after it); nats.js types getMessage's query without it.
      const after = await this.get(`after last ${subject}`, subject, { seq: found.seq + 1, next_by_subj: subject } as unknown as MsgRequest);
      if (!after) return found;
      const again = await this.lastByIndex(subject);
      if (!again || again.seq < after.seq || asked >= 3) throw new LogIndexBroken(subject, `names ${again?.seq ?? 'none'} as the last message, yet finds ${after.seq} after ${found.seq}`);
      found = again;
    }
    const held = await this.patiently(`count ${subject}`, async ({ jsm }) => (await jsm.streams.info(this.stream, { subjects_filter: subject })).state.subjects?.[subject] ?? 0);
    if (held > 0) throw new LogIndexBroken(subject, `finds no last message, yet counts ${held} on the subject`);
    return undefined;
  }

  /** The subject's last message as the leader's per-subject index has it (unchecked: see last). */
  private lastByIndex(subject: string): Promise<LogEntry | undefined> {
    return this.get(`last ${subject}`, subject, { last_by_subj: subject });
  }

  /**
   * The subject's messages after `afterSeq` up to `throughSeq`, in order, one get each (see above:
   * no consumer). A get answers one message, and the next one's sequence is known only from it, so
   * a single chain of gets costs a round trip per message (on a loaded 2-core machine 10-30 ms
   * each, and 100-300 ms while a survivor opens five slots at once: a new owner's rebuild of 120
   * messages took 2.4 s). So the range is cut into READ_CHAINS parts by sequence, each read by its
   * own chain of `next_by_subj` gets, all at once; a chain that finds the end of its part takes the
   * upper half of the part with the most sequences left (a chain's messages are as many as the
   * slot appended in its part, so fixed parts left one chain with 9-10 gets in a row while the
   * others were done). Every message is read exactly once: a part only shrinks from the top, past
   * its chain's cursor, and a message a chain finds above its part's end (after a split) is
   * dropped, its new owner finds it. Each chain costs one get more than its messages.
   */
  async read(subject: string, afterSeq: number, throughSeq: number, onEntry: (e: LogEntry) => void): Promise<void> {
    for (const e of await spreadRead((seq) => this.next(subject, seq), afterSeq + 1, throughSeq)) onEntry(e);
  }

  /**
   * The subject's first message at or after `seq`. By a direct get where the stream allows them: any
   * replica answers it from its own store, without the JetStream API's leader round (a read no longer
   * queues behind every other request the leader serves). A replica may be behind the leader, but
   * its store is a prefix of the leader's (it applies the same committed entries in order), so a
   * message it returns is the right one: it holds everything before it. What it may lack is the
   * newest messages, and a read never asks past its `throughSeq`, a message the leader had, so
   * 'none' is never the right answer in a read: it is asked again of the leader, which is exact.
   * (Messages a trim removed on the leader and not yet on that replica may come back too: they hold
   * only records a later checkpoint covers, which a rebuild skips, as it does when a trim lags.)
   */
  private async next(subject: string, seq: number): Promise<LogEntry | undefined> {
    // nats-server 2.9 takes `next_by_subj` with a `seq` (the first at or after it); nats.js types getMessage's query without it.
    const query = { seq, next_by_subj: subject } as unknown as MsgRequest;
    if (this.direct && Date.now() >= this.leaderOnlyUntil) {
      const m = await this.directGet(subject, query);
      if (m) return { seq: ofSubject(m, subject).seq, headers: storedHeaders(m.header), data: m.string() };
    }
    return this.get(`read ${subject}`, subject, query);
  }

  /**
   * One direct get, asked once (its answer within the first request timeout): a replica's answer, or
   * undefined to ask the leader instead, when it was none or was not answered in time. Any replica may
   * take a direct get, the one on a node cut off silently from the others too (its routes up, its
   * packets dropped: the server still counts it in the queue group), and such a get is never answered:
   * asked again and again with a longer timeout each time, as the other calls are, a third of the gets
   * of a new owner's rebuild on the majority each waited 1-8 s, and the rebuild outlasted an 11 s cut
   * (docs/benchmarks.md, "Direct gets into a silent cut"). So a direct get unanswered is asked of the
   * leader at once, and the log asks only the leader for DIRECT_PAUSE_MS after; the leader is on the
   * majority whenever the stream can answer at all.
   */
  private async directGet(subject: string, query: MsgRequest): Promise<StoredMsg | null> {
    try {
      return await (await this.apis[0]!.jsm).direct.getMessage(this.stream, query);
    } catch (err) {
      if (!isDegraded(err)) throw err;
      // Told once, not by every chain whose get was in flight with it.
      const first = Date.now() >= this.leaderOnlyUntil;
      this.leaderOnlyUntil = Date.now() + DIRECT_PAUSE_MS;
      if (first) this.onWait(`${this.stream} read ${subject} (a direct get unanswered: the leader answers reads for ${DIRECT_PAUSE_MS / 1_000} s)`, err);
      return null;
    }
  }

  /** The leader's answer to a get about `subject`: none, or a message of that subject (else LogIndexBroken). */
  private async get(what: string, subject: string, query: MsgRequest): Promise<LogEntry | undefined> {
    const m = await this.patiently(what, ({ jsm }) => jsm.streams.getMessage(this.stream, query));
    return m ? { seq: ofSubject(m, subject).seq, headers: fromNatsHeaders(m.header), data: m.string() } : undefined;
  }

  /**
   * Removes the subject's messages below `keepFromSeq`. On a server that replicates nothing (no
   * cluster) or has the fix below (2.9.18 on), with ONE filtered purge; else one delete at a time,
   * NOT with a filtered purge: nats-server 2.9 applies a purge that a replica replays while
   * recovering (a restarted node, a stream just created) as a compaction of the WHOLE stream up to
   * its last sequence then (nats-server#4196, fixed in 2.9.18), which wiped other slots' journals
   * and this slot's checkpoint (seen on a 3-node cluster: a checkpoint's chunk gone right after the
   * first trim). A message delete is applied by sequence on every replica, recovering or not. A
   * standalone server has no replicas and no Raft log to replay, and one delete per message cost
   * 40-60 us of the server's CPU and 90-220 us of the caller's (the scan included), where a purge
   * of 1,000 costs about 2 ms in all: every journal message of every slot is trimmed once, 2-9 per
   * checkout (docs/benchmarks.md, "The NATS path").
   */
  async trim(subject: string, keepFromSeq: number): Promise<void> {
    if (this.purgeIsSafe()) {
      // Nothing lies below sequence 1, and nats-server 2.9.10 takes a purge with `seq` 1 (or 0) as
      // having no bound: it would remove every message of the subject (measured: 3 of 3).
      if (keepFromSeq <= 1) return;
      await this.patiently(`trim ${subject}`, ({ jsm }) => jsm.streams.purge(this.stream, { filter: subject, seq: keepFromSeq }));
      return;
    }
    const doomed: number[] = [];
    // An ordered consumer (headers only: the scan needs sequences, not bodies), so its creation may
    // wait on a dead node as described above; a trim runs in the background (replication.ts), and
    // each try's short timeout bounds the wait.
    const consumer = await this.patiently(`trim ${subject}`, ({ js }) =>
      js.consumers.get(this.stream, { filter_subjects: subject, deliver_policy: DeliverPolicy.All, headers_only: true }),
    );
    // The caller keeps a message of this subject at or above keepFromSeq, so the scan ends there;
    // a subject with nothing pending ends it at once.
    if ((await this.lastByIndex(subject)) === undefined) return;
    const messages = await consumer.consume({ max_messages: 1_024 });
    try {
      for await (const m of messages) {
        if (m.seq >= keepFromSeq) break;
        // Deleted by sequence, so a message of another subject (a server whose index of the
        // subject is broken, as `last` guards against) would be another slot's record lost.
        doomed.push(ofSubject(m, subject).seq);
        if (m.info.pending === 0) break;
      }
    } finally {
      await messages.close().catch(() => undefined);
    }
    for (let i = 0; i < doomed.length; i += 64) {
      await Promise.all(doomed.slice(i, i + 64).map((seq) => this.patiently(`trim ${subject}`, ({ jsm }) => jsm.streams.deleteMessage(this.stream, seq, false)).catch(ignoreGone)));
    }
  }
}

/**
 * A compare-and-set append (ReplicatedLog.append): a publish carrying `expectation` (the headers
 * the server checks the expected last sequence by), a `Nats-Msg-Id` naming the subject and that
 * sequence, and the caller's id (`APPEND_ID`). Refused, or taken as a duplicate: either another
 * writer appended after the same sequence, or this very append was stored by an earlier try whose
 * acknowledgement was lost; the log's last message tells which.
 */
export async function casAppend(
  log: { publish: (subject: string, data: string, headers: Headers) => Promise<PublishAck>; last: (subject: string) => Promise<LogEntry | undefined>; refused: (err: unknown) => boolean },
  subject: string,
  data: string,
  headers: Headers,
  msgId: string,
  expectLastSeq: number,
  expectation: Headers,
): Promise<number> {
  let how: 'refused' | 'repeat' = 'repeat';
  try {
    const ack = await log.publish(subject, data, { ...headers, [APPEND_ID]: msgId, [Header.natsMsgId]: `${subject}@${expectLastSeq}`, ...expectation });
    if (!ack.duplicate) return ack.seq;
  } catch (err) {
    if (!log.refused(err)) throw err;
    how = 'refused';
  }
  let last: LogEntry | undefined;
  try {
    last = await log.last(subject);
  } catch (err) {
    // The server's index of the subject is broken (LogIndexBroken): this writer stops, as fenced;
    // the next opening finds the same and waits for the server to agree with itself.
    if (err instanceof LogIndexBroken) throw new LogFenced(subject, expectLastSeq, { last: undefined, how });
    throw err;
  }
  if (last && last.headers[APPEND_ID] === msgId && last.data === data) return last.seq;
  throw new LogFenced(subject, expectLastSeq, { last: last?.seq, how });
}

/**
 * A subject's messages from `fromSeq` through `throughSeq`, in order, by up to `chains` chains of
 * `next` calls at once (`next(seq)`: the subject's first message at or after `seq`), sharing the
 * range as NatsLog.read says: fixed parts at first, then a chain done with its part takes the upper
 * half of the part with the most sequences left.
 */
export async function spreadRead(next: (seq: number) => Promise<LogEntry | undefined>, fromSeq: number, throughSeq: number, chains = READ_CHAINS): Promise<LogEntry[]> {
  const span = throughSeq - fromSeq + 1;
  if (span <= 0) return [];
  const count = Math.min(chains, span);
  const step = Math.ceil(span / count);
  type Part = { next: number; to: number };
  /** Each part's cursor (the sequence its chain asks from next) and its last sequence. */
  const parts: Part[] = Array.from({ length: count }, (_, i) => ({ next: fromSeq + i * step, to: Math.min(throughSeq, fromSeq + (i + 1) * step - 1) })).filter((p) => p.next <= p.to);
  const found: LogEntry[] = [];
  /** The upper half of the part with the most sequences left, taken from it (none left: undefined). */
  const split = (): Part | undefined => {
    let widest: Part | undefined;
    for (const p of parts) if (p.to > p.next && (!widest || p.to - p.next > widest.to - widest.next)) widest = p;
    if (!widest) return undefined;
    // Strictly above the cursor: a call in flight from `next` answers a message below the split, or none of this part's.
    const upper = { next: widest.next + Math.ceil((widest.to - widest.next + 1) / 2), to: widest.to };
    widest.to = upper.next - 1;
    parts.push(upper);
    return upper;
  };
  const chain = async (first: Part): Promise<void> => {
    for (let part: Part | undefined = first; part; part = split()) {
      while (part.next <= part.to) {
        const asked = part.next;
        const e = await next(asked);
        // No message of the subject lies in [asked, e.seq): every part whose cursor is in there
        // skips to e (an empty stretch costs one get, not one for each part or half in it). A
        // chain with a call in flight from such a cursor gets e too.
        const upTo = e?.seq ?? Infinity;
        for (const p of parts) if (p.next >= asked && p.next < upTo) p.next = Math.min(upTo, p.to + 1);
        if (!e || e.seq > part.to) break;
        found.push(e);
        part.next = e.seq + 1;
      }
    }
  };
  await Promise.all([...parts].map(chain));
  return found.sort((x, y) => x.seq - y.seq);
}

/**
 * `m`, if it is a message of `subject`. After a node's silent cut healed, a new JOURNAL leader
 * (nats-server 2.9.10) answered `last_by_subj` for one journal's subject with the last message of
 * another's: a rebuild or a fence must never take it for this slot's.
 */
export function ofSubject<M extends { subject: string; seq: number }>(m: M, subject: string): M {
  if (m.subject !== subject) throw new LogIndexBroken(subject, `answered with message ${m.seq} of ${m.subject}`);
  return m;
}

/** A direct get's answer carries the message's own headers and these (stream, subject, sequence, time), which a leader's get gives as fields. */
const DIRECT_GET_HEADERS: ReadonlySet<string> = new Set(Object.values(DirectMsgHeaders));

/** The headers a message was stored with, from a direct get's answer. */
export function storedHeaders(h: MsgHdrs | undefined): Headers {
  const all = fromNatsHeaders(h);
  for (const k of DIRECT_GET_HEADERS) delete all[k];
  return all;
}

/**
 * A filtered purge removes only its subject's messages: always on a server outside a cluster (no
 * replica replays it), and in a cluster from nats-server 2.9.18 on (nats-server#4196, see trim).
 */
export function filteredPurgeIsSafe(info: { cluster?: string | undefined; version: string } | undefined): boolean {
  if (!info) return false;
  if (info.cluster === undefined || info.cluster === '') return true;
  const [major = 0, minor = 0, patch = 0] = info.version.split(/[.-]/).map(Number);
  return major > 2 || (major === 2 && (minor > 9 || (minor === 9 && patch >= 18)));
}

/** nats-server's code for a message delete that failed (`JSStreamMsgDeleteFailedF`); its description says why. */
const MSG_DELETE_FAILED = 10057;

/**
 * A message already gone (deleted by an earlier trim that was retried, or by another trim of the
 * same subject at once) is what a trim wants. nats-server 2.9.10 answers the delete of a message
 * already deleted with 10057, "no message found" (tests/int/nats-log-trim.test.ts), not the 10037
 * that nats.js names NoMessageFound; 10057 for any other reason ("stream store EOF": a sequence
 * past the stream's end) is a failure.
 */
function ignoreGone(err: unknown): boolean {
  if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound) return false;
  if (err instanceof JetStreamApiError && err.code === MSG_DELETE_FAILED && /no message found/i.test(err.message)) return false;
  throw err;
}

export function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamRefused &&
    (err.errCode === JetStreamApiCodes.StreamWrongLastSequence || err.errCode === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

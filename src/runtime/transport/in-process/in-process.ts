/**
 * The embedded transport: the whole system in one process, no server. It keeps NATS semantics so
 * that services behave the same on both (the conformance suite checks): requests go to every plain
 * subscriber and to one member of each queue group, the first reply wins, a subject nobody listens
 * on fails fast with NoRespondersError. Streams, consumer ack state and KV live in SQLite
 * (`bus-store.ts`), so unacked events survive a restart.
 *
 * Differences from NATS, all on the safe side: a restart forgets exact delivery counts (see
 * `durable.ts`); one process owns the database file at a time. De-duplication by message id
 * lasts JetStream's window (DUPLICATE_WINDOW_MS, the same constant nats-jetstream.ts configures);
 * a stream keeps a message EVENT_RETENTION_MS, as its `max_age` on NATS, and here also until every
 * consumer acked it.
 *
 * With `storeOnlyConsumed` (embedded, system.ts), a stream stores only the subjects some durable
 * consumer reads: the consumers the system declares (`consumedEvents`), and any created since the
 * transport opened. The rest (inventory-reserved, payment-authorized, order-created, …: 4 of a
 * checkout's 5 events) reach live subscribers and are not written: in one process nobody could read
 * them later. A durable consumer created later reads from its creation on, not the 24 hours
 * JetStream would have kept.
 *
 * With `holdConsumed` as well (embedded, system.ts), a publication of a declared consumed subject
 * is not stored either, when every durable consumer the stream has ever had is consuming now: it is
 * handed to them (DurableGroup.hold) and the publish resolves once each of them acked it. Its
 * publisher is a service's relay, whose journal already holds the event (the record that produced
 * it is committed) and whose watermark does not pass it before the publish resolves, so the
 * journal keeps it until its consumers have committed what it caused, and resends it after a crash
 * (the consumers' inboxes drop a copy they handled). It saves the event log's append, about two of
 * its writes per checkout. Otherwise (a consumer not started yet, or stopping) it is stored as
 * before. De-duplication by id covers a held message only while it is held.
 */
import { Header, type Headers } from '../../../contracts/headers.ts';
import { DEFAULT_MAX_ACK_PENDING, singleFilter } from '../consumer-policy.ts';
import { NoRespondersError, RequestTimeoutError, TransportClosedError } from '../errors.ts';
import { InFlight, stopIntake } from '../in-flight.ts';
import { DurableGroup, ExclusiveConsumerTaken } from './durable.ts';
import { entriesOf, InProcessKv } from './kv.ts';
import { BusStore } from './bus-store.ts';
import type { Locking } from '../../store.ts';
import { answer, checkReply } from '../reply.ts';
import { assertLiteralSubject, assertPattern, subjectMatches } from './subject-match.ts';
import type {
  Closer,
  ConsumeOptions,
  EventHandler,
  Kv,
  Message,
  PublishAck,
  RequestOptions,
  Responder,
  RespondOptions,
  Transport,
} from '../transport.ts';

export interface InProcessOptions {
  /** better-sqlite3 database file; `':memory:'` for a throwaway one. */
  path: string;
  /** Where failures that nobody awaits go (responder crashes, tap errors). Defaults to console.error. */
  onError?: (err: unknown, context: string) => void;
  /** How long a published message id is remembered for de-duplication (default two minutes, as JetStream). */
  duplicateWindowMs?: number;
  /** How long a stream keeps a message every consumer acked (default EVENT_RETENTION_MS, as `max_age` on NATS). */
  retentionMs?: number;
  /** SQLite locking of the event log's file, as the services' stores (default exclusive). */
  locking?: Locking;
  /** The clock of that window and of the retention. */
  now?: () => number;
  /**
   * Store only what some durable consumer reads: the subjects given here (the system's declared
   * consumers, `consumedEvents`) and those matching the filter of any durable consumer created on
   * this transport since it opened. A publication of any other subject reaches the live
   * subscribers (taps) and is acknowledged without a write. Unset: every publication is stored,
   * as JetStream stores it.
   */
  storeOnlyConsumed?: readonly string[];
  /**
   * With `storeOnlyConsumed`: a publication of one of its subjects is held by its publisher instead
   * of stored, when every durable consumer of its stream is consuming (see the file's comment). Only
   * for publishers that keep what they publish until the publish resolves (a service's relay).
   */
  holdConsumed?: boolean;
}

/** How often the event log deletes what its retention no longer keeps. */
const PRUNE_EVERY_MS = 60_000;

/**
 * Literal subjects whose matching subscriptions and stream are remembered (`matchingSubs`,
 * `streamOf`); past it the memory starts again. A system has a few dozen subjects (commands per
 * partition, events); reply subjects are never remembered.
 */
const SUBJECTS_REMEMBERED = 4_096;

interface Sub {
  pattern: string;
  queue: string | undefined;
  /** A responder answers; a tap only listens (and, as on NATS, still counts as someone listening). */
  responder: Responder | undefined;
  tap: ((m: Message) => void) | undefined;
  inflight: InFlight;
}

interface StreamDef {
  name: string;
  subjects: string[];
}

const INBOX_PREFIX = '_INBOX.in-process';

export class InProcessTransport implements Transport {
  private readonly store: BusStore;
  private readonly onError: (err: unknown, context: string) => void;
  private readonly now: () => number;
  private readonly subs: Sub[] = [];
  /**
   * Per literal subject, the subscriptions matching it (responders and taps), checked valid once:
   * every request and publication looked for them among all subscriptions and split its subject
   * twice to check it. Forgotten whenever a subscription comes or goes.
   */
  private readonly subsBySubject = new Map<string, Sub[]>();
  /** Per literal subject, the stream that stores it (or null: none); forgotten when a stream is added. */
  private readonly streamBySubject = new Map<string, StreamDef | null>();
  /** Subscriptions that only listen (`subscribeAll`): with none, a reply is offered to nobody. */
  private taps = 0;
  private readonly queueTurns = new Map<string, number>();
  private readonly inflight = new InFlight();
  private streams: StreamDef[];
  private readonly groups = new Map<string, DurableGroup>();
  private readonly consumerClosers = new Set<Closer>();
  private readonly subClosers = new Set<Closer>();
  private readonly kvs = new Map<string, InProcessKv>();
  private readonly pendingRequests = new Set<OpenRequest>();
  private nextReplyId = 0;
  private draining: Promise<void> | undefined;
  private closed = false;
  private readonly pruning: NodeJS.Timeout;
  /** With `storeOnlyConsumed`: the filters whose subjects are stored (undefined: store everything). */
  private readonly storedFilters: string[] | undefined;
  /** Whether a subject is stored, by subject; cleared when a filter is added. */
  private readonly storedBySubject = new Map<string, boolean>();
  /** With `holdConsumed`: the subjects that may be held (the declared ones); undefined: none. */
  private readonly heldFilters: readonly string[] | undefined;
  /** Per stream, the durables it has ever had (read from the store once, then kept). */
  private readonly durablesOf = new Map<string, Set<string>>();
  /** Held publications by message id, while held: a second publish of one gets the first's ack. */
  private readonly heldById = new Map<string, Promise<PublishAck>>();

  constructor(opts: InProcessOptions) {
    this.now = opts.now ?? Date.now;
    this.store = new BusStore(opts.path, { duplicateWindowMs: opts.duplicateWindowMs, retentionMs: opts.retentionMs, now: opts.now, ...(opts.locking ? { locking: opts.locking } : {}) });
    this.onError =
      opts.onError ?? ((err, context) => console.error(`[in-process transport] ${context}:`, err));
    this.streams = this.store.streams();
    this.storedFilters = opts.storeOnlyConsumed ? [...opts.storeOnlyConsumed] : undefined;
    this.heldFilters = opts.holdConsumed && opts.storeOnlyConsumed ? [...opts.storeOnlyConsumed] : undefined;
    this.pruning = setInterval(() => {
      this.prune().catch((err: unknown) => this.onError(err, 'pruning the event log'));
    }, PRUNE_EVERY_MS).unref();
  }

  /**
   * Deletes the messages the streams' retention no longer keeps (run every minute), in batches
   * until none is left; resolves with how many.
   */
  async prune(): Promise<number> {
    let total = 0;
    for (;;) {
      if (this.closed) return total;
      const deleted = await this.store.prune();
      if (deleted === 0) return total;
      total += deleted;
    }
  }

  async request(subject: string, data: string, opts: RequestOptions): Promise<Message> {
    if (this.closed) throw new TransportClosedError();
    const matching = this.matchingSubs(subject);
    // Functions made per request are passed, not named: tsx's keepNames names a `const f = () => …`
    // at every call (docs/benchmarks.md, "Closures named at run time").
    this.tap(matching, () => ({ subject, headers: { ...opts.headers }, data }));
    const responders = this.pickResponders(matching);
    if (matching.length === 0) {
      // NATS reports no responders after a round trip, never synchronously.
      await new Promise((r) => setImmediate(r));
      throw new NoRespondersError(subject);
    }
    const replySubject = `${INBOX_PREFIX}.${(this.nextReplyId++).toString(36)}`;
    return new Promise<Message>((resolve, reject) => {
      const call = new OpenRequest(this.pendingRequests, reject, subject, opts.timeoutMs);
      for (const sub of responders) {
        const responder = sub.responder!;
        const p = new Promise((r) => setImmediate(r))
          .then(() => answer(responder, { subject, headers: { ...opts.headers }, data }, (err) => this.onError(err, `responder ${sub.pattern}`)))
          .then((reply) => {
            const headers: Headers = { ...reply.headers };
            if (this.taps > 0) {
              this.tap(
                this.subs.filter((s) => s.tap && subjectMatches(s.pattern, replySubject)),
                () => ({
                  subject: replySubject,
                  headers: { ...headers },
                  data: reply.data,
                }),
              );
            }
            call.finish(() => {
              try {
                checkReply(subject, headers, reply.data);
                resolve({ subject, headers, data: reply.data });
              } catch (err) {
                reject(err instanceof Error ? err : new Error(String(err)));
              }
            });
          })
          .catch((err: unknown) => this.onError(err, `reply on ${subject}`));
        sub.inflight.track(p);
        this.inflight.track(p);
      }
    });
  }

  /** The subscriptions matching a literal subject (throws for a subject that is not one); the caller must not change the list. */
  private matchingSubs(subject: string): Sub[] {
    let matching = this.subsBySubject.get(subject);
    if (matching === undefined) {
      assertLiteralSubject(subject);
      matching = this.subs.filter((s) => subjectMatches(s.pattern, subject));
      if (this.subsBySubject.size >= SUBJECTS_REMEMBERED) this.subsBySubject.clear();
      this.subsBySubject.set(subject, matching);
    }
    return matching;
  }

  /** The stream that stores a literal subject, if any. */
  private streamOf(subject: string): StreamDef | undefined {
    let stream = this.streamBySubject.get(subject);
    if (stream === undefined) {
      stream = this.streams.find((s) => s.subjects.some((p) => subjectMatches(p, subject))) ?? null;
      if (this.streamBySubject.size >= SUBJECTS_REMEMBERED) this.streamBySubject.clear();
      this.streamBySubject.set(subject, stream);
    }
    return stream ?? undefined;
  }

  /** Every plain responder, plus one member per queue group, taken in turn. */
  private pickResponders(matching: Sub[]): Sub[] {
    const chosen: Sub[] = [];
    const groups = new Map<string, Sub[]>();
    for (const s of matching) {
      if (!s.responder) continue;
      if (s.queue === undefined) chosen.push(s);
      else groups.set(s.queue, [...(groups.get(s.queue) ?? []), s]);
    }
    for (const [queue, members] of groups) {
      const turn = this.queueTurns.get(queue) ?? 0;
      this.queueTurns.set(queue, turn + 1);
      chosen.push(members[turn % members.length]!);
    }
    return chosen;
  }

  private tap(matching: Sub[], message: () => Message): void {
    for (const s of matching) {
      const onMsg = s.tap;
      if (!onMsg) continue;
      const m = message();
      queueMicrotask(() => {
        try {
          onMsg(m);
        } catch (err) {
          this.onError(err, `subscriber ${s.pattern}`);
        }
      });
    }
  }

  async respond(subject: string, responder: Responder, opts: RespondOptions = {}): Promise<Closer> {
    return this.addSub({
      pattern: subject,
      queue: opts.queue,
      responder,
      tap: undefined,
      inflight: new InFlight(),
    });
  }

  async subscribeAll(subject: string, onMsg: (m: Message) => void): Promise<Closer> {
    return this.addSub({
      pattern: subject,
      queue: undefined,
      responder: undefined,
      tap: onMsg,
      inflight: new InFlight(),
    });
  }

  private addSub(sub: Sub): Closer {
    if (this.draining) throw new TransportClosedError();
    assertPattern(sub.pattern);
    this.subs.push(sub);
    this.subsBySubject.clear();
    if (sub.tap) this.taps++;
    const closer: Closer = {
      close: async () => {
        this.subClosers.delete(closer);
        const i = this.subs.indexOf(sub);
        if (i >= 0) {
          this.subs.splice(i, 1);
          this.subsBySubject.clear();
          if (sub.tap) this.taps--;
        }
        await sub.inflight.settled();
      },
    };
    this.subClosers.add(closer);
    return closer;
  }

  async publish(subject: string, data: string, headers: Headers, msgId: string): Promise<PublishAck> {
    if (this.closed) throw new TransportClosedError();
    const matching = this.matchingSubs(subject);
    const stream = this.streamOf(subject);
    if (!stream) {
      await new Promise((r) => setImmediate(r));
      throw new NoRespondersError(subject);
    }
    // Stored as NATS stores it: the id travels with the message as the Nats-Msg-Id header.
    const stored: Headers = { ...headers, [Header.natsMsgId]: msgId };
    if (!this.isStored(subject)) {
      // No durable consumer reads it: the live subscribers get it, and nothing is written.
      this.tap(matching, () => ({ subject, headers: { ...stored }, data }));
      return { stream: stream.name, seq: 0, duplicate: false };
    }
    const held = this.heldById.get(msgId) ?? this.hold(stream.name, subject, stored, data, msgId);
    if (held) return held;
    const { seq, duplicate } = await this.store.append(stream.name, subject, stored, data, msgId); // once committed
    // Matched again: subscriptions may have come or gone while it was written.
    this.tap(this.matchingSubs(subject), () => ({ subject, headers: { ...stored }, data }));
    if (!duplicate) {
      for (const g of this.groups.values()) if (g.stream === stream.name) g.notify();
    }
    return { stream: stream.name, seq, duplicate };
  }

  /**
   * Hands the message to the stream's consumers if it may be held and all of them are consuming:
   * resolves once every consumer that reads it acked it. Undefined: it is to be stored.
   */
  private hold(stream: string, subject: string, headers: Headers, data: string, msgId: string): Promise<PublishAck> | undefined {
    if (!this.heldFilters?.some((f) => subjectMatches(f, subject))) return undefined;
    let durables = this.durablesOf.get(stream);
    if (!durables) {
      durables = new Set(this.store.durables(stream));
      this.durablesOf.set(stream, durables);
    }
    const readers: DurableGroup[] = [];
    for (const durable of durables) {
      const g = this.groups.get(`${stream}\u0000${durable}`);
      if (!g?.consuming) return undefined;
      if (g.reads(subject)) readers.push(g);
    }
    if (readers.length === 0) return undefined;
    this.tap(this.matchingSubs(subject), () => ({ subject, headers: { ...headers }, data }));
    const acked = Promise.all(readers.map((g) => g.hold({ subject, headers, data })))
      .then((): PublishAck => ({ stream, seq: 0, duplicate: false }))
      .finally(() => this.heldById.delete(msgId));
    const again = acked.then((a) => ({ ...a, duplicate: true }));
    again.catch(() => undefined); // a copy's publisher hears of the rejection; none may be waiting
    this.heldById.set(msgId, again);
    return acked;
  }

  private isStored(subject: string): boolean {
    if (!this.storedFilters) return true;
    let stored = this.storedBySubject.get(subject);
    if (stored === undefined) {
      stored = this.storedFilters.some((f) => subjectMatches(f, subject));
      this.storedBySubject.set(subject, stored);
    }
    return stored;
  }

  async consume(opts: ConsumeOptions, handler: EventHandler): Promise<Closer> {
    if (this.draining) throw new TransportClosedError();
    const filter = singleFilter(opts.durable, opts.filterSubjects);
    const streamDef = this.streams.find((s) => s.name === opts.stream);
    if (!streamDef) throw new Error(`stream ${opts.stream} not found`);
    if (this.storedFilters) {
      // From now on what this consumer reads is stored (what was published before is not there).
      for (const f of filter === undefined ? streamDef.subjects : [filter]) if (!this.storedFilters.includes(f)) this.storedFilters.push(f);
      this.storedBySubject.clear();
    }
    const cfg = {
      filter,
      ackWaitMs: opts.ackWaitMs,
      maxAckPending: opts.maxAckPending ?? DEFAULT_MAX_ACK_PENDING,
    };
    const key = `${opts.stream}\u0000${opts.durable}`;
    let group = this.groups.get(key);
    // Refused before the refused consumer's settings are taken (addMember checks again).
    if (group?.refuses(opts.exclusive ?? false)) throw new ExclusiveConsumerTaken(opts.durable);
    if (group) group.configure(cfg);
    else {
      group = new DurableGroup(
        this.store,
        opts.stream,
        opts.durable,
        cfg,
        (p) => this.inflight.track(p),
        this.onError,
      );
      this.groups.set(key, group);
      this.durablesOf.get(opts.stream)?.add(opts.durable);
    }
    const g = group;
    const member = g.addMember(handler, opts.exclusive ?? false);
    const closer: Closer = {
      close: async () => {
        this.consumerClosers.delete(closer);
        await g.removeMember(member);
      },
    };
    this.consumerClosers.add(closer);
    return closer;
  }

  async ensureStream(name: string, subjects: readonly string[]): Promise<void> {
    if (this.closed) throw new TransportClosedError();
    const existing = this.streams.find((s) => s.name === name);
    if (existing) {
      if ([...existing.subjects].sort().join(' ') !== [...subjects].sort().join(' ')) {
        throw new Error(
          `stream ${name} exists with subjects [${existing.subjects.join(', ')}], expected [${subjects.join(', ')}]`,
        );
      }
      return;
    }
    for (const p of subjects) assertPattern(p);
    // nats-server refuses a stream whose subjects overlap another's; refusing here keeps code portable.
    const clash = this.streams.find((s) =>
      s.subjects.some((a) => subjects.some((b) => subjectMatches(a, b) || subjectMatches(b, a))),
    );
    if (clash) throw new Error(`stream ${name}: subjects overlap with stream ${clash.name}`);
    this.store.addStream(name, subjects);
    this.streams = this.store.streams();
    this.streamBySubject.clear();
  }

  async kv(bucket: string): Promise<Kv> {
    if (this.closed) throw new TransportClosedError();
    if (!/^[-\w]+$/.test(bucket)) throw new Error(`invalid bucket name "${bucket}"`);
    let kv = this.kvs.get(bucket);
    if (!kv) {
      kv = new InProcessKv(entriesOf(this.store, bucket, this.now), bucket, this.onError);
      this.kvs.set(bucket, kv);
    }
    return kv;
  }

  drain(): Promise<void> {
    this.draining ??= this.doDrain();
    return this.draining;
  }

  private async doDrain(): Promise<void> {
    await stopIntake(this.consumerClosers, this.subClosers, this.inflight);
    this.closed = true;
    clearInterval(this.pruning);
    for (const call of [...this.pendingRequests]) call.abort();
    for (const g of this.groups.values()) g.stop();
    for (const kv of this.kvs.values()) kv.closeWatchers();
    await this.store.close();
  }
}

/** A request waiting for its first reply, its deadline or the transport's close: whichever comes first settles it. */
class OpenRequest {
  private done = false;
  private readonly timer: ReturnType<typeof setTimeout>;

  constructor(
    private readonly open: Set<OpenRequest>,
    private readonly reject: (err: Error) => void,
    subject: string,
    timeoutMs: number,
  ) {
    this.timer = setTimeout(() => this.finish(() => reject(new RequestTimeoutError(subject, timeoutMs))), timeoutMs);
    open.add(this);
  }

  /** Runs `settle` if nothing settled the request before. */
  finish(settle: () => void): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.open.delete(this);
    settle();
  }

  abort(): void {
    this.finish(() => this.reject(new TransportClosedError()));
  }
}

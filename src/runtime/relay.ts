/**
 * The relay: after a commit, sends what the journal's records say to send (journal.ts).
 *  - publications go to JetStream with their derived message id, so a re-send after a crash is a
 *    duplicate that the stream drops;
 *  - requests are commands: the reply (or a non-transient error reply) is delivered to the actor
 *    that asked as a new journal record of that actor, which finishes the request. Transient
 *    failures (timeout, no responders, UNAVAILABLE) are retried with capped exponential backoff and
 *    the same idempotency key, until the actor abandons the request (its deadline passed);
 *  - KV writes (status documents).
 * An actor's publications and KV writes are sent one at a time, in journal order; its requests,
 * and different actors' messages, go concurrently.
 *
 * The relay hears of new records when their batch is durable, and keeps what it has to do in
 * memory. Its progress is a *watermark*, checkpointed with the journal: every publication and KV
 * write in a record at or below it was sent. A restart resends those above it (JetStream's
 * duplicate window and the consumers' inboxes drop what was already sent) and every request still
 * pending in the journal. Sending marks nothing durable: no write per message sent.
 */
import { headersToMeta, type Headers } from '../contracts/headers.ts';
import { noReply, type ActorHost, type RequestOutcome } from './actor-host.ts';
import { deferOn, setTimerOn, type Clock } from './clock.ts';
import { isBroken } from './broken.ts';
import { actorKey, Journal, type Committed, type Outbound, type PendingRequest } from './journal.ts';
import { effectHeaders, type OutboundEffect } from './journal-record.ts';
import { stepDuration } from './metrics.ts';
import { serviceNameOf, SpanKind, startSpan, traceparentOf, tracingOn, type Span } from './tracing.ts';
import type { Store } from './store.ts';
import { SimulatedCrash } from './store.ts';
import { isTransient, RemoteError } from './transport/errors.ts';
import type { Kv, Transport } from './transport/transport.ts';

/** A publication or KV write the relay has still to send. */
interface Unsent extends Outbound {
  pos: number;
  actor: string;
}

export interface RelayOptions {
  /** First retry delay; doubles per attempt up to `maxBackoffMs`. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  maxInFlight?: number;
  log?: (msg: string, err?: unknown) => void;
  /** Uniform in [0, 1), for the retry jitter; the simulator passes its seeded source. Default Math.random. */
  random?: () => number;
}

/** How a message the relay knows of stands, for the explorer. */
export interface SendStatus {
  status: 'pending';
  attempts: number;
  nextAttemptAt: number;
  lastError: string | undefined;
}

export class OutboxRelay {
  /** Keyed by message id. */
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Requests waiting to go (not in flight); the journal's pending requests are the truth. */
  private readonly requests = new Set<PendingRequest>();
  /** Per actor, its unsent publications and KV writes in journal order; only the head may go. */
  private readonly chains = new Map<string, Unsent[]>();
  private scheduled = false;
  private cancelRetry: (() => void) | undefined;
  private stopped = false;
  private readonly kvs = new Map<string, Promise<Kv>>();
  private readonly opts: Required<RelayOptions>;
  private readonly journal: Journal;

  constructor(
    private readonly store: Store,
    private readonly transport: Transport,
    private readonly hosts: ReadonlyMap<string, ActorHost>,
    private readonly clock: Clock,
    opts: RelayOptions = {},
  ) {
    this.opts = {
      baseBackoffMs: opts.baseBackoffMs ?? 100,
      maxBackoffMs: opts.maxBackoffMs ?? 5_000,
      maxInFlight: opts.maxInFlight ?? 512,
      log: opts.log ?? (() => undefined),
      random: opts.random ?? Math.random,
    };
    this.journal = Journal.of(store, { clock });
    this.journal.onCommitted((records) => this.take(records));
    this.journal.trackWatermark(() => this.watermark());
    // A rolled-back batch reloaded the journal: start again from what it holds.
    store.onRollback(() => this.rescan());
    this.load();
  }

  /** Something was committed: look for work soon. */
  kick(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    deferOn(this.clock, () => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** Forgets what it knew and starts from the journal again, as a restarted relay does. */
  rescan(): void {
    this.requests.clear();
    this.chains.clear();
    if (!this.store.closed) this.load();
    this.kick();
  }

  /** Everything above the persisted watermark, and every pending request. */
  private load(): void {
    this.take(this.journal.effectsAfter(this.journal.relayWatermark));
    for (const reqs of this.journal.requests.values()) for (const r of reqs.values()) this.requests.add(r);
  }

  /** Records just committed (or found after the watermark at start). */
  private take(records: Committed[]): void {
    for (const { pos, record } of records) {
      if (!record.effects) continue;
      const actor = actorKey(record.kind, record.id);
      for (const effect of record.effects) {
        if (effect.mode === 'request') {
          const pending = effect.slot ? this.journal.pendingRequest(record.kind, record.id, effect.slot) : undefined;
          if (pending?.effect.messageId === effect.messageId) this.requests.add(pending);
          continue;
        }
        const u: Unsent = { pos, actor, kind: record.kind, effect, headers: effectHeaders(record, effect), at: record.at, attempts: 0, nextAttemptAt: record.at };
        const chain = this.chains.get(actor);
        if (chain) chain.push(u);
        else this.chains.set(actor, [u]);
      }
    }
  }

  /** Every publication and KV write at or below this position is sent. */
  private watermark(): number {
    let lowest = Infinity;
    for (const chain of this.chains.values()) if (chain[0] && chain[0].pos < lowest) lowest = chain[0].pos;
    return lowest === Infinity ? this.journal.announced : lowest - 1;
  }

  /** Sends what is due. Exposed so tests can drive the relay step by step. */
  pump(): void {
    if (this.stopped || this.store.closed) return;
    const now = this.clock.now();
    let earliest = Infinity;
    for (const req of this.requests) {
      if (this.inFlight.size >= this.opts.maxInFlight) break;
      if (!this.stillPending(req)) {
        this.requests.delete(req);
        continue;
      }
      if (this.inFlight.has(req.effect.messageId)) continue;
      if (req.nextAttemptAt > now) {
        earliest = Math.min(earliest, req.nextAttemptAt);
        continue;
      }
      this.requests.delete(req);
      this.dispatch(req.effect.messageId, () => this.request(req), (pending) => pending && this.stillPending(req) && this.requests.add(req));
    }
    for (const [actor, chain] of this.chains) {
      if (this.inFlight.size >= this.opts.maxInFlight) break;
      const head = chain[0]!;
      if (this.inFlight.has(head.effect.messageId)) continue;
      if (head.nextAttemptAt > now) {
        earliest = Math.min(earliest, head.nextAttemptAt);
        continue;
      }
      this.dispatch(head.effect.messageId, () => this.sendUnsent(head), (pending) => {
        if (pending || chain[0] !== head) return;
        chain.shift();
        if (chain.length === 0 && this.chains.get(actor) === chain) this.chains.delete(actor);
      });
    }
    if (earliest !== Infinity) this.wakeAt(earliest);
  }

  private stillPending(req: PendingRequest): boolean {
    return this.journal.pendingRequest(req.kind, req.id, req.effect.slot ?? '') === req;
  }

  /** Runs one send; `done(stillPending)` when it is settled (finished, or waiting for a retry). */
  private dispatch(messageId: string, send: () => Promise<boolean>, done: (stillPending: boolean) => void): void {
    const p = send()
      .catch((err: unknown): boolean => {
        if (err instanceof SimulatedCrash) {
          this.stop();
          this.store.kill();
        } else this.opts.log('relay send failed', err);
        return false;
      })
      .then((finished) => {
        this.inFlight.delete(messageId);
        if (this.store.closed) return;
        done(!finished);
        this.kick();
      });
    this.inFlight.set(messageId, p);
  }

  private wakeAt(at: number): void {
    this.cancelRetry?.();
    this.cancelRetry = setTimerOn(this.clock, () => this.kick(), Math.max(0, at - this.clock.now()));
  }

  /** The span of one attempt to send, when tracing is on; the message then carries its context. */
  private sendSpan(effect: OutboundEffect, kind: string, headers: Headers): Span | undefined {
    if (!tracingOn()) return undefined;
    const service = serviceNameOf(headers['ce-source'] ?? kind);
    const spanKind = effect.mode === 'request' ? SpanKind.CLIENT : SpanKind.PRODUCER;
    const span = startSpan(service, `send ${headers['ce-type'] ?? effect.subject}`, spanKind, headers.traceparent, {
      'messaging.system': 'nats',
      'messaging.destination.name': effect.subject,
      'messaging.message.id': effect.messageId,
      'messaging.operation.type': effect.mode,
    });
    if (span && effect.mode !== 'kv') headers.traceparent = traceparentOf(span);
    return span;
  }

  /** One attempt, in its span: true when done, false when it waits for a retry. */
  private async attempt(item: Outbound & { id?: string }, send: (headers: Headers) => Promise<void>): Promise<boolean> {
    const headers = { ...item.headers };
    const span = this.sendSpan(item.effect, item.kind, headers);
    try {
      await send(headers);
      return true;
    } catch (err) {
      if (err instanceof SimulatedCrash) throw err;
      span?.setStatus({ code: 2, message: 'will retry' });
      this.retryLater(item, err);
      return false;
    } finally {
      span?.end();
    }
  }

  /** A publication or KV write: true when sent, false when it waits for a retry. */
  private sendUnsent(u: Unsent): Promise<boolean> {
    return this.attempt(u, async (headers) => {
      if (u.effect.mode === 'kv') {
        const slash = u.effect.subject.indexOf('/');
        const kv = await this.kv(u.effect.subject.slice(0, slash));
        await kv.put(u.effect.subject.slice(slash + 1), u.effect.data);
        return;
      }
      if (isBroken('relayMarksSentFirst')) {
        // Broken on purpose: the message counts as sent before it is, so a crash here loses it.
        this.markSentFirst(u);
      }
      await this.transport.publish(u.effect.subject, u.effect.data, headers, u.effect.messageId);
      this.store.faults?.('afterPublish');
    });
  }

  /** Broken variant (broken.ts): persists a watermark past the message before sending it. */
  private markSentFirst(u: Unsent): void {
    const chain = this.chains.get(u.actor);
    if (chain?.[0] === u) chain.shift();
    if (chain?.length === 0) this.chains.delete(u.actor);
    void this.journal.checkpointNow().catch(() => undefined);
  }

  /** A request: true when finished (answered, or abandoned by its actor), false when it waits for a retry. */
  private request(req: PendingRequest): Promise<boolean> {
    return this.attempt(req, (headers) => this.requestOnce(req, headers));
  }

  private async requestOnce(req: PendingRequest, headers: Headers): Promise<void> {
    const e = req.effect;
    let outcome: RequestOutcome;
    try {
      const reply = await this.transport.request(e.subject, e.data, { timeoutMs: e.timeoutMs ?? 5_000, headers });
      let meta;
      try {
        meta = headersToMeta(reply.headers);
      } catch {
        meta = undefined;
      }
      outcome = { ok: true, type: meta?.type ?? '', data: reply.data, meta };
    } catch (err) {
      if (isTransient(err) || !(err instanceof RemoteError)) throw err;
      outcome = { ok: false, code: err.code, message: err.message };
    }
    this.store.faults?.('afterPublish');
    const host = this.hosts.get(req.kind);
    const slot = e.slot!;
    const event = host?.def.onReply?.(slot, outcome);
    if (!host) return;
    await host.exclusive(req.id, async () => {
      const meta = outcome.ok ? outcome.meta : undefined;
      // The actor handling the reply is a span of its own, the child of the participant's.
      const span = meta && tracingOn() ? startSpan(serviceNameOf(headers['ce-source'] ?? host.kind), `handle ${meta.type}`, SpanKind.CONSUMER, meta.traceparent, { 'messaging.system': 'nats', 'messaging.message.id': meta.id }) : undefined;
      // The host delivers it only if the request is still pending, and finishes it in the same record.
      const ended = await host.deliver(req.id, event ?? { type: 'xstate.relay.no-reply-event' }, {
        cause: span && meta ? { ...meta, traceparent: traceparentOf(span) } : meta,
        replyTo: { slot, messageId: e.messageId },
        reply: noReply,
      });
      span?.end();
      if (ended.changed) stepDuration.observe({ kind: host.kind, step: slot, outcome: outcome.ok ? outcome.type : outcome.code }, (this.clock.now() - req.at) / 1000);
    });
  }

  /**
   * Capped exponential backoff with jitter. A request whose actor has armed a deadline under the
   * request's own slot (the saga names a step's deadline timer after the step) waits at most a
   * quarter of the time left before it: near the deadline the relay retries more often, not less,
   * so an outage shorter than about half the deadline never costs the step (tests/int/outage.test.ts).
   */
  private retryLater(item: Outbound & { id?: string }, err: unknown): void {
    const now = this.clock.now();
    let delay = Math.min(this.opts.maxBackoffMs, this.opts.baseBackoffMs * 2 ** Math.min(item.attempts, 16));
    const deadline = item.effect.slot && item.id !== undefined ? this.journal.armedTimer(item.kind, item.id, item.effect.slot)?.dueAt : undefined;
    // Only before the deadline, and never below the first retry's delay: an overdue deadline (its
    // timer not yet fired) must not turn the retries into a tight loop.
    if (deadline !== undefined && deadline > now) delay = Math.min(delay, Math.max(this.opts.baseBackoffMs, (deadline - now) / 4));
    const jittered = delay / 2 + this.opts.random() * (delay / 2);
    const at = now + jittered;
    if (!isTransient(err)) this.opts.log(`relay ${item.effect.mode} ${item.effect.subject} failed`, err);
    item.attempts++;
    item.nextAttemptAt = at;
    item.lastError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    this.wakeAt(at);
  }

  /**
   * The bucket's handle, opened once. A failed open (JetStream unavailable during an election) is
   * forgotten, so the write's retry opens it again: kept, it failed every later write to the
   * bucket for the runtime's life, and the shopper's status document stood still.
   */
  private kv(bucket: string): Promise<Kv> {
    let kv = this.kvs.get(bucket);
    if (!kv) {
      const opening = this.transport.kv(bucket);
      opening.catch(() => {
        if (this.kvs.get(bucket) === opening) this.kvs.delete(bucket);
      });
      this.kvs.set(bucket, opening);
      kv = opening;
    }
    return kv;
  }

  /** How a message stands if the relay still has to send it (or a request still waits for its reply). */
  pendingStatus(messageId: string): SendStatus | undefined {
    for (const chain of this.chains.values()) {
      for (const u of chain) if (u.effect.messageId === messageId) return { status: 'pending', attempts: u.attempts, nextAttemptAt: u.nextAttemptAt, lastError: u.lastError };
    }
    for (const reqs of this.journal.requests.values()) {
      for (const r of reqs.values()) if (r.effect.messageId === messageId) return { status: 'pending', attempts: r.attempts, nextAttemptAt: r.nextAttemptAt, lastError: r.lastError };
    }
    return undefined;
  }

  /** Publications and KV writes not yet sent. */
  unsent(): number {
    let n = 0;
    for (const chain of this.chains.values()) n += chain.length;
    return n;
  }

  /** Messages not yet sent, and requests not yet answered. */
  backlog(): number {
    let n = 0;
    for (const chain of this.chains.values()) n += chain.length;
    for (const reqs of this.journal.requests.values()) n += reqs.size;
    return n;
  }

  /** Milliseconds the oldest message not yet sent (or answered) has waited (0 when none waits). */
  lagMs(): number {
    let oldest = Infinity;
    for (const chain of this.chains.values()) if (chain[0] && chain[0].at < oldest) oldest = chain[0].at;
    for (const reqs of this.journal.requests.values()) for (const r of reqs.values()) if (r.at < oldest) oldest = r.at;
    return oldest === Infinity ? 0 : Math.max(0, this.clock.now() - oldest);
  }

  /** Waits for what is in flight. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.values()]);
  }

  stop(): void {
    this.stopped = true;
    this.cancelRetry?.();
  }
}

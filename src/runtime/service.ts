/**
 * A service process's runtime: its store and journal, its actor hosts, the relay and the timer
 * scheduler, and its subscriptions. `start()` resumes whatever was in flight (unsent messages,
 * pending requests, due timers); `stop()` stops taking work, lets handlers finish, gives the relay a
 * grace period, and closes the store (with a last journal checkpoint).
 */
import type { AnyStateMachine, EventFrom } from 'xstate';
import type { ZodType } from 'zod';
import { Header, headersToMeta, metaToHeaders, type MessageMeta } from '../contracts/headers.ts';
import { MessageType } from '../contracts/index.ts';
import { partitionDurable, partitionKeyOf, partitionOf, pingSubject, servedSubject, type Partitions, type Service } from '../contracts/subjects.ts';
import { ActorHost, type ActorDefinition, type Transitioned } from './actor-host.ts';
import { parseMessage } from './inbound.ts';
import { isBroken } from './broken.ts';
import { answer, errorReply } from './transport/reply.ts';
import { systemClock, type Clock } from './clock.ts';
import { ServiceClient } from './client.ts';
import { newId } from './ids.ts';
import { childTraceparent, endWith, serviceNameOf, SpanKind, startSpan, traceparentOf, tracingOn } from './tracing.ts';
import { OutboxRelay, type RelayOptions } from './relay.ts';
import { TimerScheduler } from './scheduler.ts';
import type { Store } from './store.ts';
import { Journal } from './journal.ts';
import { LogFenced, type Closer, type ConsumeOptions, type EventHandler, type Message, type Reply, type Responder, type Transport } from './transport/transport.ts';
import { ErrorCode, RemoteError, TransportClosedError } from './transport/errors.ts';

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** The request's metadata, or none when its headers are too broken to read (the error says so). */
function causeOf(request: Message): MessageMeta | undefined {
  try {
    return headersToMeta(request.headers);
  } catch {
    return undefined;
  }
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export interface CommandSpec<T, M extends AnyStateMachine> {
  subject: string;
  type: string | readonly string[];
  schema: ZodType<T>;
  host: ActorHost<M>;
  actorId(payload: T): string;
  /**
   * The event for the actor. Runs in the actor's mailbox, so it may await (ask another service)
   * without racing other messages to the same actor. Facts read from shared tables (stock) must be
   * read by a *synchronous* toEvent, which is delivered in the same tick. Throw `RemoteError` to
   * refuse before the machine is consulted (an unknown product, a processor outage).
   */
  toEvent(payload: T, meta: MessageMeta, id: string): EventFrom<M> | Promise<EventFrom<M>>;
  /** Builds the reply inside the transaction, from the transition's outcome; undefined: `{}` if accepted, CONFLICT if not. */
  reply(t: Transitioned, payload: T, meta: MessageMeta): Reply | undefined;
}

export interface ServiceRuntimeOptions {
  service: Service;
  /** CloudEvents source, e.g. `urn:acme:fulfilment:inventory-service`. */
  source: string;
  store: Store;
  transport: Transport;
  clock?: Clock;
  log?: Logger;
  relay?: RelayOptions;
  /** How many partitions each service has (the deployment's PARTITIONS): this runtime's own calls are routed by it. */
  partitions?: Partitions;
  /** The partition this runtime serves, of how many; unset: the service's only one. */
  partition?: Partition;
  /**
   * Distributed, the slot's lease (SlotLease.answerable): every answer waits for it before it
   * leaves, and is not sent if it rejects (the caller is told to retry). Unset: answers leave at once.
   */
  answerGate?: AnswerGate;
}

/** Resolves (or returns undefined) once an answer computed now may leave; rejects if it may not. */
export type AnswerGate = () => Promise<void> | undefined;

/** One partition of a partitioned service (src/contracts/subjects.ts). */
export interface Partition {
  index: number;
  count: number;
}

export class ServiceRuntime {
  readonly service: Service;
  readonly source: string;
  readonly store: Store;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly log: Logger;
  readonly hosts = new Map<string, ActorHost>();
  readonly journal: Journal;
  readonly relay: OutboxRelay;
  readonly scheduler: TimerScheduler;
  readonly client: ServiceClient;
  readonly partition: Partition;
  /** How many partitions each service of the deployment has. */
  readonly partitions: Partitions;
  private readonly closers: Closer[] = [];
  /** Subscriptions and consumers asked for and not yet confirmed by the transport: start() waits for them. */
  private readonly subscribing: Promise<void>[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();
  private stopping = false;
  private killed = false;
  private readonly answerGate: AnswerGate | undefined;

  constructor(opts: ServiceRuntimeOptions) {
    this.service = opts.service;
    this.source = opts.source;
    this.store = opts.store;
    this.transport = opts.transport;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
    const logErr = (msg: string, err?: unknown) => this.log.error({ err, service: this.service }, msg);
    // Opened first: it loads the checkpoint and the journal's tail, which the relay and the scheduler resume from.
    this.journal = Journal.of(this.store, { clock: this.clock });
    this.relay = new OutboxRelay(this.store, this.transport, this.hosts, this.clock, { log: logErr, ...opts.relay });
    this.scheduler = new TimerScheduler(this.store, this.hosts, this.clock, logErr);
    this.partition = opts.partition ?? { index: 0, count: 1 };
    this.partitions = opts.partitions ?? {};
    this.answerGate = opts.answerGate;
    // The relay's source of jitter serves the client's retries too (the simulator's seeded one).
    this.client = new ServiceClient(this.transport, this.source, this.clock, this.partitions, opts.relay?.random);
  }

  /** Whether this runtime's partition owns an entity's key (always, unpartitioned). */
  owns(key: string): boolean {
    return this.partition.count <= 1 || partitionOf(key.toLowerCase(), this.partition.count) === this.partition.index;
  }

  host<M extends AnyStateMachine>(def: ActorDefinition<M>): ActorHost<M> {
    const host = new ActorHost(def, {
      store: this.store,
      source: this.source,
      clock: this.clock,
      onEffects: () => {
        this.relay.kick();
        this.scheduler.arm();
      },
    });
    this.hosts.set(def.kind, host);
    return host;
  }

  /**
   * Answers requests on `subject` in this service's queue group. Error replies leave here as
   * CloudEvents like any other message (`ce-type: error`, the request's correlation id and a child
   * `traceparent`), so a refusal stays in its saga's trace.
   */
  respond(subject: string, responder: Responder): Promise<void> {
    const onInternal = (err: unknown) => this.log.error({ err, service: this.service, subject }, 'request handler failed');
    // A runtime killed mid-request (its slot's lease lost, its journal fenced) must not say "failed":
    // nothing it did was released, so the caller is told to retry (another owner will answer).
    const guarded: Responder = async (msg) => {
      let reply: Reply;
      try {
        reply = await responder(msg);
      } catch (err) {
        if (this.store.closed || err instanceof LogFenced || err instanceof TransportClosedError) throw this.handingOver();
        // A refusal is an answer too: from an owner that lost its slot, a stale one ("cart not found").
        const vouching = err instanceof RemoteError ? this.vouching() : undefined;
        if (vouching) await vouching;
        throw err;
      }
      const vouching = this.vouching();
      if (vouching) await vouching;
      return reply;
    };
    const stamped = async (msg: Message): Promise<Reply> => this.asCloudEvent(await answer(guarded, msg, onInternal), msg);
    const tracked: Responder = (msg) => this.track(tracingOn() ? this.traced(msg, SpanKind.SERVER, stamped) : stamped(msg));
    // A partitioned subject is answered per partition: `<subject>.<partition>` (subjects.ts).
    const served = servedSubject(subject, this.partition.index, this.partition.count);
    this.subscribe(this.transport.respond(served, tracked, { queue: this.service }));
    return Promise.resolve();
  }

  /**
   * Takes a subscription (or a consumer) the transport is making, without waiting for the transport
   * to confirm it: a NATS subscription is confirmed by a flush (a round trip), a consumer by its
   * durable's lookup, and a service that waited for each in turn before asking for the next took
   * 1.0-1.3 s to start on a loaded survivor (the cluster test's `servicesMs`, docs/benchmarks.md,
   * "Failover: one round trip for a service's subscriptions"). They are asked for at once (each
   * subscription is sent to the server as it is asked for, in order) and {@link start} waits for all
   * of them, so a failure still fails the start. One that comes after a kill or stop is closed.
   */
  private subscribe(made: Promise<Closer>): void {
    const taken = made.then((c) => {
      if (this.killed || this.stopping) void c.close().catch(() => undefined);
      else this.closers.push(c);
    });
    taken.catch(() => undefined); // awaited by start() (or dropped with a runtime that never starts)
    this.subscribing.push(taken);
  }

  /**
   * Closes `c` when this runtime stops or is killed (at once if it already has): a service's own
   * timers, such as the orchestrator's registration refresh (src/actors/checkout/instances.ts).
   */
  closeOnStop(c: Closer): void {
    this.subscribe(Promise.resolve(c));
  }

  /** Waits until every subscription and consumer asked for so far is confirmed (the first failure rejects). */
  private async subscribed(): Promise<void> {
    while (this.subscribing.length > 0) await Promise.all(this.subscribing.splice(0));
  }

  private handingOver(): RemoteError {
    return new RemoteError(ErrorCode.unavailable, `${this.service} is handing its slot over; retry`);
  }

  /**
   * Waits until every batch committed so far is released: durable here and, distributed, in the
   * replicated log. A stored reply replayed to a repeat waits for it as its original does, so that
   * nobody hears of a change a crash or a lost machine could undo.
   */
  private async released(): Promise<void> {
    if (!this.store.inBatch) return;
    try {
      await this.store.flushed();
    } catch {
      throw this.handingOver();
    }
  }

  /**
   * Undefined if an answer computed now may leave at once (no lease, or the lease vouches for it:
   * the usual case, checked without a promise); else what to wait for (ServiceRuntimeOptions.answerGate).
   */
  private vouching(): Promise<void> | undefined {
    return this.answerGate?.()?.catch(() => {
      throw this.handingOver();
    });
  }

  /** An error reply with the CloudEvents headers of {@link reply}; any other reply unchanged. */
  private asCloudEvent(r: Reply, request: Message): Reply {
    const code = r.headers?.[Header.errorCode];
    if (code === undefined || r.headers?.[Header.type]) return r;
    return { headers: { ...this.reply(MessageType.error, null, causeOf(request)).headers, ...r.headers }, data: r.data };
  }

  /**
   * Serves a command addressed to one actor: parse, dedupe on the idempotency key (replaying the
   * stored reply), then, inside the actor's mailbox, build the event (which may await another
   * service) and deliver it durably. The reply is stored with the change.
   */
  async command<T, M extends AnyStateMachine>(spec: CommandSpec<T, M>): Promise<void> {
    const types = typeof spec.type === 'string' ? [spec.type] : spec.type;
    await this.respond(spec.subject, async (msg) => {
      const { meta, payload } = parseMessage(msg, spec.schema, types);
      const id = spec.actorId(payload);
      const key = partitionKeyOf(spec.subject, payload);
      if (key !== undefined && !this.owns(key)) {
        throw new RemoteError(ErrorCode.badRequest, `${key} belongs to partition ${partitionOf(key, this.partition.count)} of ${this.service}, not ${this.partition.index}`);
      }
      // A test-only broken variant (broken.ts) forgets the key: the command is handled as if new.
      const inboxKey = isBroken('inboxForgets') ? undefined : `${spec.subject}/${meta.idempotencyKey ?? meta.id}`;
      // A stored reply's record may not be released yet (the original's batch still syncing, or its
      // journal append on its way): the repeat is answered when it is, as the original is.
      const stored = inboxKey && spec.host.storedReply(inboxKey);
      if (stored) {
        await this.released();
        return stored;
      }
      return spec.host.exclusive(id, async () => {
        // Again in the mailbox: a re-send that queued behind its original must get the original's reply.
        const replay = inboxKey && spec.host.storedReply(inboxKey);
        if (replay) {
          await this.released();
          return replay;
        }
        // A synchronous toEvent is delivered in the same tick: facts it read (stock, say) cannot go stale.
        const made = spec.toEvent(payload, meta, id);
        const event = made instanceof Promise ? await made : made;
        // `reply` a method, not an arrow property: tsx's keepNames would name it at every message
        // (docs/benchmarks.md, "Closures named at run time").
        const r = await spec.host.deliver(id, event, { inboxKey, cause: meta, reply(t) { return spec.reply(t, payload, meta); } });
        return r.reply ?? errorReply('INTERNAL', 'no reply');
      });
    });
  }

  /** Serves a read-only query. */
  async query<T>(subject: string, type: string, schema: ZodType<T>, answer: (payload: T, meta: MessageMeta) => Reply | Promise<Reply>): Promise<void> {
    await this.respond(subject, async (msg) => {
      const { meta, payload } = parseMessage(msg, schema, type);
      await this.store.flushed();
      return answer(payload, meta);
    });
  }

  /**
   * A durable consumer. A partition has its own (`<durable>-p<k>`) over the whole subject: its
   * handler acts only on the keys the partition owns ({@link owns}) and acks the others, so one
   * entity's events reach its partition in order.
   */
  consume(opts: ConsumeOptions, handler: EventHandler): Promise<void> {
    const own = { ...opts, durable: partitionDurable(opts.durable, this.partition.index, this.partition.count) };
    this.subscribe(this.transport.consume(own, (d) => this.track(tracingOn() ? this.traced(d, SpanKind.CONSUMER, handler) : handler(d))));
    return Promise.resolve();
  }

  /**
   * Handles one message inside its own span, the child of the span that sent it; what the
   * handler sends in turn is parented on this span (the message it sees carries its context).
   */
  private traced<T extends Message, R>(msg: T, kind: SpanKind, handle: (m: T) => Promise<R> | R): Promise<R> {
    const type = msg.headers['ce-type'] ?? msg.subject;
    const span = startSpan(serviceNameOf(this.source), `handle ${type}`, kind, msg.headers.traceparent, {
      'messaging.system': 'nats',
      'messaging.destination.name': msg.subject,
      'messaging.message.id': msg.headers['ce-id'] ?? '',
    });
    const seen = span ? { ...msg, headers: { ...msg.headers, traceparent: traceparentOf(span) } } : msg;
    return endWith(span, Promise.resolve().then(() => handle(seen)));
  }

  /** A reply carrying a typed message, with headers derived from the request it answers. */
  reply(type: string, payload: unknown, cause?: MessageMeta): Reply {
    return {
      headers: metaToHeaders({
        id: newId(),
        type,
        source: this.source,
        time: new Date(this.clock.now()).toISOString(),
        correlationId: cause?.correlationId ?? cause?.id ?? newId(),
        causationId: cause?.id,
        traceparent: childTraceparent(cause?.traceparent),
      }),
      data: JSON.stringify(payload),
    };
  }

  /**
   * Answers readiness pings, and once every subscription and consumer is confirmed, resumes what was
   * in flight. The ping's subscription is sent after every other one on the same connection, and a
   * server takes a connection's subscriptions in order, so a service that answers a ping answers its
   * commands; the two are confirmed by one round trip (0.3-0.5 s each for a survivor at load 20).
   */
  async start(): Promise<void> {
    await this.respond(pingSubject(this.service), () => ({ data: JSON.stringify({ service: this.service, ok: true }) }));
    await this.subscribed();
    this.relay.kick();
    this.scheduler.arm();
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p)).catch(() => undefined);
    return p;
  }

  /** Graceful stop: no new work, finish handlers, give the outbox `graceMs` to drain, close. */
  async stop(graceMs = 2_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await Promise.allSettled(this.subscribing.splice(0));
    await Promise.allSettled(this.closers.map((c) => c.close()));
    await Promise.allSettled([...this.inFlight]);
    const deadline = Date.now() + graceMs;
    while (this.relay.backlog() > 0 && Date.now() < deadline) {
      this.relay.kick();
      await new Promise((r) => setTimeout(r, 20));
    }
    this.relay.stop();
    this.scheduler.stop();
    await this.relay.idle();
    await this.store.close();
  }

  /** Abrupt stop, as a crash: nothing is flushed. */
  kill(): void {
    this.killed = true;
    this.relay.stop();
    this.scheduler.stop();
    this.store.kill();
    void Promise.allSettled(this.closers.map((c) => c.close()));
  }
}

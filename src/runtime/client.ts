/**
 * Calling another service outside an actor (the gateway, the cart asking for a discount): builds the
 * CloudEvents headers, carries correlation and trace context on, and parses the typed reply. A call
 * has one deadline (`timeoutMs`); an UNAVAILABLE answer or nobody listening (a slot handing over) is
 * asked again within it, with the same message id and idempotency key (call-retry.ts).
 */
import type { ZodType } from 'zod';
import { metaToHeaders, headersToMeta, type Headers, type MessageMeta } from '../contracts/headers.ts';
import { routeTo, type Partitions } from '../contracts/subjects.ts';
import { CALL_RETRY, retryDelay, retryReason, type RetryPolicy } from './call-retry.ts';
import { setTimerOn, type Clock } from './clock.ts';
import { newId } from './ids.ts';
import { childTraceparent, endWith, serviceNameOf, SpanKind, startSpan, traceparentOf } from './tracing.ts';
import { parseBody } from './inbound.ts';
import { clientRetries } from './metrics.ts';
import type { Message, Transport } from './transport/transport.ts';

export interface CallOptions {
  /** The request's deadline, from now: every attempt, retries included, ends within it. */
  timeoutMs: number;
  /** The message this call is caused by, for correlation and trace context. */
  cause?: Pick<MessageMeta, 'id' | 'correlationId' | 'traceparent'> | undefined;
  idempotencyKey?: string | undefined;
  messageId?: string | undefined;
  /** How UNAVAILABLE and "no responders" are asked again (default CALL_RETRY); false: one attempt (a readiness ping). */
  retry?: RetryPolicy | false;
}

export interface CallResult<T> {
  meta: MessageMeta | undefined;
  payload: T;
}

export class ServiceClient {
  constructor(
    private readonly transport: Transport,
    private readonly source: string,
    private readonly clock: Clock,
    /** How many partitions each service has: a keyed request goes to the one owning its key. */
    private readonly partitions: Partitions = {},
    /** Uniform in [0, 1), for the retries' jitter; the simulator passes its seeded source. */
    private readonly random: () => number = Math.random,
  ) {}

  async call<T>(plainSubject: string, type: string, payload: unknown, replySchema: ZodType<T>, opts: CallOptions): Promise<CallResult<T>> {
    const subject = routeTo(plainSubject, payload, this.partitions);
    const id = opts.messageId ?? newId();
    const headers = metaToHeaders({
      id,
      type,
      source: this.source,
      time: new Date(this.clock.now()).toISOString(),
      correlationId: opts.cause?.correlationId ?? id,
      causationId: opts.cause?.id,
      idempotencyKey: opts.idempotencyKey,
      traceparent: childTraceparent(opts.cause?.traceparent),
    });
    const span = startSpan(serviceNameOf(this.source), `send ${type}`, SpanKind.CLIENT, headers.traceparent, { 'messaging.system': 'nats', 'messaging.destination.name': subject, 'messaging.message.id': id });
    if (span) headers.traceparent = traceparentOf(span);
    const reply = await endWith(span, this.attempts(subject, type, JSON.stringify(payload), headers, opts));
    let meta: MessageMeta | undefined;
    try {
      meta = headersToMeta(reply.headers);
    } catch {
      meta = undefined;
    }
    return { meta, payload: parseBody(replySchema, reply.data) };
  }

  /** The request, asked again (same headers: same message id and key) while call-retry.ts says so and the deadline allows. */
  private async attempts(subject: string, type: string, data: string, headers: Headers, opts: CallOptions): Promise<Message> {
    const policy = opts.retry ?? CALL_RETRY;
    const deadline = this.now() + opts.timeoutMs;
    for (let retry = 0; ; retry++) {
      try {
        return await this.transport.request(subject, data, { timeoutMs: Math.max(1, deadline - this.now()), headers });
      } catch (err) {
        const reason = policy === false ? undefined : retryReason(err);
        const delay = reason === undefined || policy === false ? undefined : retryDelay(retry, deadline - this.now(), this.random(), policy);
        if (delay === undefined) throw err;
        clientRetries.inc({ type, reason });
        await new Promise<void>((resolve) => setTimerOn(this.clock, resolve, delay));
      }
    }
  }

  /**
   * The time a deadline runs on: the clock that runs the pauses, so the simulator's, or else real
   * time (a test's hand-moved clock would never reach a deadline).
   */
  private now(): number {
    return this.clock.setTimer ? this.clock.now() : performance.now();
  }
}

/**
 * Calling another service outside an actor (the gateway, the cart asking for a discount): builds the
 * CloudEvents headers, carries correlation and trace context on, and parses the typed reply.
 */
import type { ZodType } from 'zod';
import { metaToHeaders, headersToMeta, type MessageMeta } from '../contracts/headers.ts';
import { routeTo, type Partitions } from '../contracts/subjects.ts';
import type { Clock } from './clock.ts';
import { newId } from './ids.ts';
import { childTraceparent, endWith, serviceNameOf, SpanKind, startSpan, traceparentOf } from './tracing.ts';
import { parseBody } from './inbound.ts';
import type { Transport } from './transport/transport.ts';

export interface CallOptions {
  timeoutMs: number;
  /** The message this call is caused by, for correlation and trace context. */
  cause?: Pick<MessageMeta, 'id' | 'correlationId' | 'traceparent'> | undefined;
  idempotencyKey?: string | undefined;
  messageId?: string | undefined;
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
    const reply = await endWith(span, this.transport.request(subject, JSON.stringify(payload), { timeoutMs: opts.timeoutMs, headers }));
    let meta: MessageMeta | undefined;
    try {
      meta = headersToMeta(reply.headers);
    } catch {
      meta = undefined;
    }
    return { meta, payload: parseBody(replySchema, reply.data) };
  }
}

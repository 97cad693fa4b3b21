/**
 * A command handler with no actor behind it, held to the same rules as one: the reply (the inbox)
 * and the events it publishes (the outbox) are ONE journal record (runtime/journal.ts), appended in
 * one transaction. A repeat of the idempotency key within the inbox window gets the stored reply and
 * publishes nothing; the relay sends the record's events after the commit, with message ids the
 * handler derives, so a re-send is a JetStream duplicate. A repeat after the window is decided
 * again, and must decide the same: the handler is a function of the request (promotion/service.ts).
 */
import type { ZodType } from 'zod';
import type { MessageMeta } from '../../contracts/headers.ts';
import { parseMessage } from '../../runtime/inbound.ts';
import { childTraceparent } from '../../runtime/tracing.ts';
import type { ServiceRuntime } from '../../runtime/service.ts';
import type { Db } from '../../runtime/store.ts';
import { Journal } from '../../runtime/journal.ts';
import type { OutboundEffect } from '../../runtime/journal-record.ts';
import type { Reply } from '../../runtime/transport/transport.ts';

export interface StatelessPublication {
  subject: string;
  type: string;
  payload: unknown;
  /** Derived by the handler, so that a replay of the same request re-sends the same message. */
  messageId: string;
}

export interface StatelessOutcome {
  reply: { type: string; payload: unknown };
  publish: StatelessPublication[];
}

export interface StatelessContext {
  db: Db;
  now: number;
  /** The request's idempotency key, or its message id when it has none. */
  key: string;
}

export interface StatelessSpec<T> {
  subject: string;
  type: string;
  schema: ZodType<T>;
  /** Narrows the inbox key (e.g. to a cart), so that two callers' keys can never collide. */
  scope(payload: T): string;
  /** Decides inside the transaction; it must not await. */
  handle(payload: T, meta: MessageMeta, ctx: StatelessContext): StatelessOutcome;
}

/** Serves `spec.subject` in the service's queue group, exactly once per idempotency key. */
export async function serveStateless<T>(rt: ServiceRuntime, spec: StatelessSpec<T>): Promise<void> {
  const journal = Journal.of(rt.store, { clock: rt.clock });

  await rt.respond(spec.subject, async (msg) => {
    const { meta, payload } = parseMessage(msg, spec.schema, spec.type);
    const key = meta.idempotencyKey ?? meta.id;
    const scope = spec.scope(payload);
    const inboxKey = `${spec.subject}/${scope}/${key}`;
    let published = false;
    return rt.store.write(
      (tx): Reply => {
        // Checked inside the transaction: two copies of one request racing each other serialise here.
        const stored = journal.storedReply(inboxKey);
        if (stored) return stored;
        const now = rt.clock.now();
        const outcome = spec.handle(payload, meta, { db: tx, now, key });
        const effects: OutboundEffect[] = [];
        for (const p of outcome.publish) {
          // Messages of one scope are relayed in order; different scopes go concurrently. Their
          // headers follow from the record (runtime/journal-record.ts, effectHeaders).
          effects.push({ messageId: p.messageId, mode: 'publish', subject: p.subject, type: p.type, traceparent: childTraceparent(meta.traceparent), data: JSON.stringify(p.payload) });
          published = true;
        }
        const reply = rt.reply(outcome.reply.type, outcome.reply.payload, meta);
        journal.append(
          {
            kind: rt.service, id: scope, seq: 0, at: now,
            ...(effects.length ? { effects, source: rt.source, correlationId: meta.correlationId, messageId: meta.id } : {}),
            inbox: { key: inboxKey, reply },
          },
          undefined,
        );
        return reply;
      },
      () => {
        if (published) rt.relay.kick();
      },
    );
  });
}

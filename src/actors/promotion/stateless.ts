/**
 * A command handler with no actor behind it, held to the same rules as one: the reply is stored in
 * the inbox, and the events it publishes are written to the outbox, in ONE transaction. A repeat of
 * the idempotency key gets the stored reply and publishes nothing; the relay sends the outbox rows
 * after the commit, with message ids the handler derives, so a re-send is a JetStream duplicate.
 * Inbox and outbox are written through the same statements the actor host uses (runtime/tables.ts).
 */
import type { ZodType } from 'zod';
import { metaToHeaders, type MessageMeta } from '../../contracts/headers.ts';
import { parseMessage } from '../../runtime/inbound.ts';
import { childTraceparent } from '../../runtime/tracing.ts';
import type { ServiceRuntime } from '../../runtime/service.ts';
import type { Db } from '../../runtime/store.ts';
import { RuntimeTables } from '../../runtime/tables.ts';
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
  const tables = RuntimeTables.of(rt.store.db);

  await rt.respond(spec.subject, async (msg) => {
    const { meta, payload } = parseMessage(msg, spec.schema, spec.type);
    const key = meta.idempotencyKey ?? meta.id;
    const scope = spec.scope(payload);
    const inboxKey = `${spec.subject}/${scope}/${key}`;
    let published = false;
    return rt.store.write(
      (tx): Reply => {
        // Checked inside the transaction: two copies of one request racing each other serialise here.
        const stored = tables.storedReply(inboxKey);
        if (stored) return stored;
        const now = rt.clock.now();
        const outcome = spec.handle(payload, meta, { db: tx, now, key });
        for (const p of outcome.publish) {
          const headers = metaToHeaders({
            id: p.messageId,
            type: p.type,
            source: rt.source,
            time: new Date(now).toISOString(),
            correlationId: meta.correlationId,
            causationId: meta.id,
            traceparent: childTraceparent(meta.traceparent),
            subject: scope,
          });
          tables.enqueue({
            messageId: p.messageId,
            mode: 'publish',
            subject: p.subject,
            headers,
            data: JSON.stringify(p.payload),
            // Rows of one scope are relayed in order; different scopes go concurrently.
            actorKind: rt.service,
            actorId: scope,
            now,
          });
          published = true;
        }
        const reply = rt.reply(outcome.reply.type, outcome.reply.payload, meta);
        tables.recordReply(inboxKey, reply, now);
        return reply;
      },
      () => {
        if (published) rt.relay.kick();
      },
    );
  });
}

/**
 * A command handler with no actor behind it, held to the same rules as one: the reply is stored in
 * the inbox, and the events it publishes are written to the outbox, in ONE transaction. A repeat of
 * the idempotency key gets the stored reply and publishes nothing; the relay sends the outbox rows
 * after the commit, with message ids the handler derives, so a re-send is a JetStream duplicate.
 *
 * The outbox row is written with the same columns `ActorHost` writes (src/runtime/actor-host.ts);
 * a runtime helper exporting that insert would remove the duplication.
 */
import type { ZodType } from 'zod';
import { metaToHeaders, type MessageMeta } from '../../contracts/headers.ts';
import { parseMessage } from '../../runtime/inbound.ts';
import { traceparent } from '../../runtime/ids.ts';
import type { ServiceRuntime } from '../../runtime/service.ts';
import type { Db } from '../../runtime/store.ts';
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
  const db = rt.store.db;
  const stmt = {
    inboxGet: db.prepare('SELECT reply_headers, reply FROM inbox WHERE key = ?'),
    inboxPut: db.prepare('INSERT INTO inbox (key, reply_headers, reply, at) VALUES (?, ?, ?, ?)'),
    outbox:
      db.prepare(`INSERT INTO outbox (message_id, mode, subject, headers, data, actor_kind, actor_id, slot, timeout_ms, next_attempt_at, created_at)
      VALUES (@messageId, 'publish', @subject, @headers, @data, @actorKind, @actorId, NULL, NULL, @now, @now)
      ON CONFLICT (message_id) DO NOTHING`),
  };

  await rt.respond(spec.subject, async (msg) => {
    const { meta, payload } = parseMessage(msg, spec.schema, spec.type);
    const key = meta.idempotencyKey ?? meta.id;
    const scope = spec.scope(payload);
    const inboxKey = `${spec.subject}/${scope}/${key}`;
    let published = false;
    return rt.store.write(
      (tx): Reply => {
        // Checked inside the transaction: two copies of one request racing each other serialise here.
        const stored = stmt.inboxGet.get(inboxKey) as
          { reply_headers: string | null; reply: string | null } | undefined;
        if (stored) {
          const headers = stored.reply_headers
            ? (JSON.parse(stored.reply_headers) as Record<string, string>)
            : {};
          return { headers, data: stored.reply ?? '{}' };
        }
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
            traceparent: traceparent(meta.traceparent),
            subject: scope,
          });
          stmt.outbox.run({
            messageId: p.messageId,
            subject: p.subject,
            headers: JSON.stringify(headers),
            data: JSON.stringify(p.payload),
            // Rows of one scope are relayed in order; different scopes go concurrently.
            actorKind: rt.service,
            actorId: scope,
            now,
          });
          published = true;
        }
        const reply = rt.reply(outcome.reply.type, outcome.reply.payload, meta);
        stmt.inboxPut.run(inboxKey, reply.headers ? JSON.stringify(reply.headers) : null, reply.data, now);
        return reply;
      },
      () => {
        if (published) rt.relay.kick();
      },
    );
  });
}

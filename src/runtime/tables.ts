/**
 * The inbox and outbox of a store (schema.ts), behind one set of statements prepared once per
 * connection. Everything that handles a message durably writes them the same way: the actor host
 * for every delivery, and handlers with no actor behind them (src/actors/promotion/stateless.ts).
 */
import type { Headers } from '../contracts/headers.ts';
import type { Db } from './store.ts';
import type { Reply } from './transport/transport.ts';

export interface OutboxEntry {
  messageId: string;
  mode: 'publish' | 'request' | 'kv';
  /** A subject, or `bucket/key` for a KV write. */
  subject: string;
  headers: Headers;
  data: string;
  /** The actor the row belongs to: its publications are relayed in order, a request's reply comes back to it. */
  actorKind: string;
  actorId: string;
  /** Names an outstanding request, so that its actor can cancel it. */
  slot?: string;
  timeoutMs?: number;
  now: number;
}

export class RuntimeTables {
  private static readonly byDb = new WeakMap<Db, RuntimeTables>();

  /** The tables of this connection, their statements prepared on first use. */
  static of(db: Db): RuntimeTables {
    let tables = RuntimeTables.byDb.get(db);
    if (!tables) {
      tables = new RuntimeTables(db);
      RuntimeTables.byDb.set(db, tables);
    }
    return tables;
  }

  private readonly inboxGet;
  private readonly inboxPut;
  private readonly outboxPut;

  private constructor(db: Db) {
    this.inboxGet = db.prepare('SELECT reply_headers, reply FROM inbox WHERE key = ?');
    this.inboxPut = db.prepare('INSERT INTO inbox (key, reply_headers, reply, at) VALUES (?, ?, ?, ?)');
    this.outboxPut = db.prepare(`INSERT INTO outbox (message_id, mode, subject, headers, data, actor_kind, actor_id, slot, timeout_ms, next_attempt_at, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  }

  /** The reply stored for a handled message key, if it was handled. */
  storedReply(key: string): Reply | undefined {
    const row = this.inboxGet.get(key) as { reply_headers: string | null; reply: string | null } | undefined;
    if (!row) return undefined;
    return { data: row.reply ?? '{}', headers: row.reply_headers ? (JSON.parse(row.reply_headers) as Headers) : {} };
  }

  /** Records a message key as handled, with the reply a repeat of it gets. */
  recordReply(key: string, reply: Reply | undefined, now: number): void {
    this.inboxPut.run(key, reply?.headers ? JSON.stringify(reply.headers) : null, reply?.data ?? null, now);
  }

  /** Writes a message to send after the commit (schema.ts, version 2: why ids are not checked for uniqueness here). */
  enqueue(e: OutboxEntry): void {
    this.outboxPut.run(
      e.messageId, e.mode, e.subject, JSON.stringify(e.headers), e.data, e.actorKind, e.actorId,
      e.slot ?? null, e.timeoutMs ?? null, e.now, e.now,
    );
  }
}

/**
 * Read-only queries over the actor host's tables (actors, journal, timers, outbox) of ONE service
 * store. They run inside the service that owns the store, answering the explorer's queries over
 * the transport: the gateway never opens a service's database.
 *
 * Filtering by state uses the stored JSON of the state value, which for a machine without
 * parallel states is a single path: `"authorizingPayment"`, `{"compensating":{"next":…}}`.
 */
import type { Statement } from 'better-sqlite3';
import type { EventObject, StateValue } from 'xstate';
import { Header } from '../contracts/headers.ts';
import type { Db } from './store.ts';

export interface RecordedAction {
  type: string;
  params?: unknown;
}

/** One journal row, as stored by the actor host. */
export interface JournalEntry {
  seq: number;
  event: EventObject;
  /** Null for the event that created the actor. */
  from: StateValue | null;
  to: StateValue;
  actions: RecordedAction[];
  messageId: string | null;
  causationId: string | null;
  at: number;
}

/** `compensating.voidingPayment.trying` for `{compensating: {voidingPayment: 'trying'}}`; one path per region. */
export function statePaths(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => {
    const inner = statePaths(v);
    return inner.length ? inner.map((p) => `${k}.${p}`) : [k];
  });
}

export interface ActorListFilter {
  /** A dotted state path; matches that state and everything inside it. */
  state?: string | undefined;
  /** Only actors whose machine has not reached a final state. */
  inFlight?: boolean | undefined;
  limit: number;
  /** Opaque cursor from a previous page. */
  cursor?: string | undefined;
}

export interface ActorSummaryRow {
  id: string;
  state: string;
  stateValue: unknown;
  status: string;
  seq: number;
  machineVersion: string;
  createdAt: number;
  updatedAt: number;
  context: Record<string, unknown>;
}

export interface ActorListPage {
  rows: ActorSummaryRow[];
  nextCursor: string | undefined;
  facets: Array<{ state: string; status: string; count: number }>;
}

export interface TimerRow {
  name: string;
  dueAt: number;
  event: unknown;
  armedAtSeq: number;
}

export interface OutboxEntry {
  seq: number;
  messageId: string;
  mode: string;
  subject: string;
  type: string | undefined;
  idempotencyKey: string | undefined;
  slot: string | undefined;
  status: string;
  attempts: number;
  nextAttemptAt: number;
  lastError: string | undefined;
  createdAt: number;
  sentAt: number | undefined;
  payload: unknown;
}

export interface ActorTraceRows {
  summary: ActorSummaryRow;
  journal: JournalEntry[];
  journalTruncated: boolean;
  timers: TimerRow[];
  outbox: OutboxEntry[];
}

const JOURNAL_LIMIT = 1_000;

/** Prepared once per connection: these run often (every viewer re-reads its saga). */
const prepared = new WeakMap<Db, Map<string, Statement<unknown[]>>>();
function prep(db: Db, sql: string): Statement<unknown[]> {
  let cache = prepared.get(db);
  if (!cache) prepared.set(db, (cache = new Map<string, Statement<unknown[]>>()));
  let stmt = cache.get(sql);
  if (!stmt) cache.set(sql, (stmt = db.prepare(sql)));
  return stmt;
}

interface ActorRow {
  id: string;
  state: string;
  status: string;
  seq: number;
  machine_version: string;
  created_at: number;
  updated_at: number;
  snapshot: string;
}

const parse = (s: string | null): unknown => {
  if (s === null) return undefined;
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
};

function summary(row: ActorRow): ActorSummaryRow {
  const stateValue = parse(row.state);
  const snapshot = parse(row.snapshot) as { context?: Record<string, unknown> } | undefined;
  return {
    id: row.id,
    state: statePaths(stateValue).join(' | '),
    stateValue,
    status: row.status,
    seq: row.seq,
    machineVersion: row.machine_version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    context: snapshot?.context ?? {},
  };
}

/** SQL LIKE patterns matching the stored JSON of `path` or any state inside it. */
export function statePatterns(path: string): { exact: string; inside: string } {
  const segments = path.split('.').filter(Boolean);
  const esc = (s: string) => JSON.stringify(s).replace(/[\\%_]/g, (c) => `\\${c}`);
  const opens = segments.slice(0, -1).map((s) => `{${esc(s)}:`).join('');
  const last = esc(segments[segments.length - 1] ?? '');
  return { exact: `${opens}${last}${'}'.repeat(segments.length - 1)}`, inside: `${opens}{${last}:%` };
}

/** A position in the newest-first order of actors: after (updatedAt, id). */
export const encodeCursor = (updatedAt: number, id: string): string => Buffer.from(JSON.stringify([updatedAt, id])).toString('base64url');

function decodeCursor(cursor: string): [number, string] | undefined {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    return Array.isArray(v) && typeof v[0] === 'number' && typeof v[1] === 'string' ? [v[0], v[1]] : undefined;
  } catch {
    return undefined;
  }
}

const STATUSES = ['active', 'done', 'error', 'stopped'] as const;

/**
 * Most recently updated first; keyset-paginated so a page is stable while actors move. These run
 * on the service's own connection, between its transactions, so each must stay cheap on a big
 * store: one walk down the (kind, status, updated_at) index per status, merged here, and facets
 * counted over in-flight actors only.
 */
export function listActors(db: Db, kind: string, filter: ActorListFilter): ActorListPage {
  const where = ['kind = @kind', 'status = @status'];
  const params: Record<string, unknown> = { kind, limit: filter.limit + 1 };
  if (filter.state) {
    where.push(`(state LIKE @exact ESCAPE '\\' OR state LIKE @inside ESCAPE '\\')`);
    Object.assign(params, statePatterns(filter.state));
  }
  const after = filter.cursor ? decodeCursor(filter.cursor) : undefined;
  if (after) {
    where.push('(updated_at < @cu OR (updated_at = @cu AND id < @ci))');
    Object.assign(params, { cu: after[0], ci: after[1] });
  }
  const query = prep(db, `SELECT id, state, status, seq, machine_version, created_at, updated_at, snapshot FROM actors
    WHERE ${where.join(' AND ')} ORDER BY updated_at DESC, id DESC LIMIT @limit`);
  const rows = (filter.inFlight ? ['active'] : STATUSES)
    .flatMap((status) => query.all({ ...params, status }) as ActorRow[])
    .sort((a, b) => b.updated_at - a.updated_at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const page = rows.slice(0, filter.limit).map(summary);
  const last = page[page.length - 1];
  const facets = (prep(db, `SELECT state, count(*) AS n FROM actors WHERE kind = ? AND status = 'active' GROUP BY state ORDER BY n DESC`).all(kind) as Array<{ state: string; n: number }>)
    .map((f) => ({ state: statePaths(parse(f.state)).join(' | '), status: 'active', count: f.n }));
  return { rows: page, nextCursor: rows.length > filter.limit && last ? encodeCursor(last.updatedAt, last.id) : undefined, facets };
}

/**
 * The outbox has no index by actor, but its rows are written only inside the actor's own
 * transitions, in `seq` order, stamped with the clock: so an actor's rows lie between the first
 * row written at its creation and the last at its latest transition. Binary search on the primary
 * key finds that window (with a minute's slack for clock steps); only the window is scanned.
 */
export function outboxWindow(db: Db, from: number, to: number): [number, number] {
  const next = prep(db, 'SELECT seq, created_at FROM outbox WHERE seq >= ? ORDER BY seq LIMIT 1');
  const bounds = prep(db, 'SELECT min(seq) AS lo, max(seq) AS hi FROM outbox').get() as { lo: number | null; hi: number | null };
  if (bounds.lo === null || bounds.hi === null) return [0, -1];
  const firstAtOrAfter = (t: number): number => {
    let lo = bounds.lo!;
    let hi = bounds.hi! + 1;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const row = next.get(mid) as { seq: number; created_at: number } | undefined;
      if (!row || row.created_at >= t) hi = mid;
      else lo = row.seq + 1;
    }
    return lo;
  };
  const slack = 60_000;
  return [firstAtOrAfter(from - slack), firstAtOrAfter(to + slack + 1) - 1];
}

export function actorTrace(db: Db, kind: string, id: string): ActorTraceRows | undefined {
  const row = prep(db, 'SELECT id, state, status, seq, machine_version, created_at, updated_at, snapshot FROM actors WHERE kind = ? AND id = ?')
    .get(kind, id) as ActorRow | undefined;
  if (!row) return undefined;
  const journalRows = prep(db, `SELECT seq, event, from_state, to_state, actions, message_id, causation_id, at FROM journal
      WHERE kind = ? AND id = ? ORDER BY seq LIMIT ?`)
    .all(kind, id, JOURNAL_LIMIT + 1) as Array<{ seq: number; event: string; from_state: string | null; to_state: string; actions: string; message_id: string | null; causation_id: string | null; at: number }>;
  const journal = journalRows.slice(0, JOURNAL_LIMIT).map((j) => ({
    seq: j.seq,
    event: parse(j.event) as JournalEntry['event'],
    from: (parse(j.from_state) ?? null) as JournalEntry['from'],
    to: parse(j.to_state) as JournalEntry['to'],
    actions: (parse(j.actions) ?? []) as JournalEntry['actions'],
    messageId: j.message_id,
    causationId: j.causation_id,
    at: j.at,
  }));
  const timers = (prep(db, 'SELECT name, due_at, event, armed_at_seq FROM timers WHERE kind = ? AND id = ? ORDER BY due_at').all(kind, id) as Array<{ name: string; due_at: number; event: string; armed_at_seq: number }>)
    .map((t) => ({ name: t.name, dueAt: t.due_at, event: parse(t.event), armedAtSeq: t.armed_at_seq }));
  const [lo, hi] = outboxWindow(db, row.created_at, row.updated_at);
  const outbox = (prep(db, `SELECT seq, message_id, mode, subject, headers, data, slot, status, attempts, next_attempt_at, last_error, created_at, sent_at
      FROM outbox WHERE seq BETWEEN ? AND ? AND actor_kind = ? AND actor_id = ? ORDER BY seq`).all(lo, hi, kind, id) as Array<{
    seq: number; message_id: string; mode: string; subject: string; headers: string; data: string; slot: string | null; status: string;
    attempts: number; next_attempt_at: number; last_error: string | null; created_at: number; sent_at: number | null;
  }>).map((o) => {
    const headers = (parse(o.headers) ?? {}) as Record<string, string>;
    return {
      seq: o.seq,
      messageId: o.message_id,
      mode: o.mode,
      subject: o.subject,
      type: headers[Header.type],
      idempotencyKey: headers[Header.idempotencyKey],
      slot: o.slot ?? undefined,
      status: o.status,
      attempts: o.attempts,
      nextAttemptAt: o.next_attempt_at,
      lastError: o.last_error ?? undefined,
      createdAt: o.created_at,
      sentAt: o.sent_at ?? undefined,
      payload: parse(o.data),
    };
  });
  return { summary: summary(row), journal, journalTruncated: journalRows.length > JOURNAL_LIMIT, timers, outbox };
}

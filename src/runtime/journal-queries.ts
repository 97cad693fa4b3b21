/**
 * Read-only queries over ONE service store's journal and its checkpoint (`actors`). They run inside
 * the service that owns the store, answering the explorer's queries over the transport (the
 * gateway never opens a service's database), or in `npm run replay` beside a stopped service.
 * Inside the service, `live` gives what only memory knows: armed timers and what the relay has
 * still to send; outside, the checkpoint's copy of the timers and the relay's watermark stand in.
 *
 * Filtering by state uses the stored JSON of the state value, which for a machine without
 * parallel states is a single path: `"authorizingPayment"`, `{"compensating":{"next":…}}`.
 */
import type { Statement } from 'better-sqlite3';
import type { EventObject, StateValue } from 'xstate';
import { Header } from '../contracts/headers.ts';
import type { Db } from './store.ts';
import { effectHeaders, type JournalRecord } from './journal-record.ts';
import type { Journal } from './journal.ts';
import { latestAfterCheckpoint, needsReplay, type KindReplay, type ReplayBase } from './record-replay.ts';
import type { SendStatus } from './relay.ts';

/** What the owning process knows beyond the tables. */
export interface TraceLive {
  journal: Journal;
  relay?: { pendingStatus(messageId: string): SendStatus | undefined };
}

export interface RecordedAction {
  type: string;
  params?: unknown;
}

/** One transition of an actor, from its journal record. */
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
  /**
   * Only actors matching any of these: the actor's id, or a context field equal to a value or in
   * [from, to). A search scans the kind's rows (no index on context), bounded by `limit`.
   */
  match?: ActorMatch[] | undefined;
}

export type ActorMatch =
  | { id: string }
  | { field: string; equals: string }
  | { field: string; from: string; to: string }
  /** The field's characters from `at` (0-based) equal `equals`, e.g. the hash digits an order number stands for. */
  | { field: string; at: number; equals: string };

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
  if (filter.match?.length) {
    const any = filter.match.map((m, i) => {
      if ('id' in m) return (params[`m${i}`] = m.id), `id = @m${i}`;
      if (!/^[A-Za-z][A-Za-z0-9]*$/.test(m.field)) throw new Error(`not a context field: ${m.field}`);
      const field = `json_extract(snapshot, '$.context.${m.field}')`;
      if ('at' in m) return Object.assign(params, { [`m${i}`]: m.equals, [`n${i}`]: m.at + 1, [`l${i}`]: m.equals.length }), `substr(${field}, @n${i}, @l${i}) = @m${i}`;
      if ('equals' in m) return (params[`m${i}`] = m.equals), `${field} = @m${i}`;
      Object.assign(params, { [`m${i}`]: m.from, [`n${i}`]: m.to });
      return `(${field} >= @m${i} AND ${field} < @n${i})`;
    });
    where.push(`(${any.join(' OR ')})`);
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

interface ActorRowFull extends ActorRow {
  pos: number;
  pending: string | null;
}

/** The newest record of an actor written after the checkpoint, if any (the tail is short: one checkpoint interval). */
function tailRecord(db: Db, kind: string, id: string): { pos: number; record: JournalRecord } | undefined {
  const checkpoint = Number(prep(db, `SELECT value FROM meta WHERE key = 'journal_checkpoint'`).pluck().get() ?? 0);
  const r = prep(db, 'SELECT pos, record FROM journal WHERE pos > ? AND kind = ? AND id = ? ORDER BY pos DESC LIMIT 1').get(checkpoint, kind, id) as
    | { pos: number; record: string }
    | undefined;
  return r ? { pos: r.pos, record: JSON.parse(r.record) as JournalRecord } : undefined;
}

/** The actor's records, oldest first, found by walking each record's link to the previous one. */
function actorRecords(db: Db, from: number, max: number): Array<{ pos: number; record: JournalRecord }> {
  const one = prep(db, 'SELECT pos, prev, record FROM journal WHERE pos = ?');
  const out: Array<{ pos: number; record: JournalRecord }> = [];
  let pos: number | null = from;
  while (pos !== null && out.length < max) {
    const r = one.get(pos) as { pos: number; prev: number | null; record: string } | undefined;
    if (!r) break; // truncated (journal.ts, retention)
    out.push({ pos: r.pos, record: JSON.parse(r.record) as JournalRecord });
    pos = r.prev;
  }
  return out.reverse();
}

/**
 * An actor's trace. Its newest snapshot: the owning journal's (`live`), else the row overlaid with
 * the records written after it, a record's stored snapshot (format 1) or its event replayed
 * (format 2, by `replay`; without it such records are not shown in the summary).
 */
export function actorTrace(db: Db, kind: string, id: string, live?: TraceLive, replay?: KindReplay): ActorTraceRows | undefined {
  const row = prep(db, 'SELECT id, state, status, seq, machine_version, created_at, updated_at, snapshot, pos, pending FROM actors WHERE kind = ? AND id = ?')
    .get(kind, id) as ActorRowFull | undefined;
  const tail = tailRecord(db, kind, id);
  if (!row && !tail) return undefined;
  const latestPos = Math.max(row?.pos ?? 0, tail?.pos ?? 0);
  const records = actorRecords(db, latestPos, 20 * JOURNAL_LIMIT);
  let base: ReplayBase | undefined = row && { persisted: JSON.parse(row.snapshot) as ReplayBase['persisted'], version: row.machine_version };
  let newest: ActorRowFull | undefined = row;
  const inMemory = live?.journal.latest(kind, id);
  for (const { pos, record: r } of records) {
    if (row && pos <= row.pos) continue;
    if (inMemory && pos < inMemory.pos) continue; // the owning journal has the newer state: nothing to replay
    if (inMemory?.pos === pos) base = { persisted: inMemory.persisted, version: inMemory.version };
    else if (r.snapshot) base = { persisted: r.snapshot, version: r.version ?? row?.machine_version ?? '' };
    else if (needsReplay(r) && replay) base = replay.replay(base, r);
    else continue;
    newest = {
      id, state: JSON.stringify(base.persisted.value), status: base.persisted.status ?? 'active', seq: r.seq,
      machine_version: base.version, created_at: row?.created_at ?? records[0]!.record.at,
      updated_at: r.at, snapshot: JSON.stringify(base.persisted), pos, pending: row?.pending ?? null,
    };
  }
  if (!newest) return undefined;
  const transitions = records.filter((r) => r.record.event !== undefined);
  const journal = transitions.slice(0, JOURNAL_LIMIT).map(({ record: j }) => ({
    seq: j.seq,
    event: j.event!,
    from: j.from ?? null,
    to: j.to as JournalEntry['to'],
    actions: j.actions ?? [],
    messageId: j.messageId ?? null,
    causationId: j.causationId ?? null,
    at: j.at,
  }));
  const armed = live
    ? live.journal.armedTimersOf(kind, id).map((t) => ({ name: t.name, dueAt: t.dueAt, event: t.event, armedAtSeq: t.seq }))
    : Object.entries((parse(newest.pending) as { timers?: Record<string, { dueAt: number; event: unknown; seq: number }> } | undefined)?.timers ?? {}).map(
        ([name, t]) => ({ name, dueAt: t.dueAt, event: t.event, armedAtSeq: t.seq }),
      );
  const timers = armed.sort((a, b) => a.dueAt - b.dueAt);
  const pendingRequests = live
    ? new Set([...(live.journal.requests.get(`${kind}/${id}`)?.values() ?? [])].map((r) => r.effect.messageId))
    : new Set(Object.values((parse(newest.pending) as { requests?: Record<string, { effect: { messageId: string } }> } | undefined)?.requests ?? {}).map((r) => r.effect.messageId));
  const watermark = Number(prep(db, `SELECT value FROM meta WHERE key = 'relay_watermark'`).pluck().get() ?? 0);
  const outbox: OutboxEntry[] = [];
  records.forEach(({ pos, record }, i) => {
    for (const e of record.effects ?? []) {
      const headers = effectHeaders(record, e);
      const sending = live?.relay?.pendingStatus(e.messageId);
      let status: string;
      let sentAt: number | undefined;
      if (e.mode === 'request') {
        // Finished by a later record: answered, or abandoned (cancelled) by the actor.
        const finisher = records.slice(i + 1).find((r) => r.record.answered === e.slot || r.record.done?.includes(e.slot ?? ''));
        const replaced = records.slice(i + 1).some((r) => r.record.effects?.some((x) => x.mode === 'request' && x.slot === e.slot));
        if (pendingRequests.has(e.messageId)) status = 'pending';
        else if (finisher && finisher.record.answered === e.slot) {
          status = 'sent';
          sentAt = finisher.record.at;
        } else status = finisher || replaced ? 'cancelled' : 'sent';
      } else {
        status = (live ? sending !== undefined : pos > watermark) ? 'pending' : 'sent';
        if (status === 'sent') sentAt = record.at;
      }
      outbox.push({
        seq: pos,
        messageId: e.messageId,
        mode: e.mode,
        subject: e.subject,
        type: headers[Header.type],
        idempotencyKey: headers[Header.idempotencyKey],
        slot: e.slot,
        status,
        attempts: sending?.attempts ?? (status === 'pending' ? 0 : 1),
        nextAttemptAt: sending?.nextAttemptAt ?? record.at,
        lastError: sending?.lastError,
        createdAt: record.at,
        sentAt,
        payload: parse(e.data),
      });
    }
  });
  return { summary: summary(newest), journal, journalTruncated: transitions.length > JOURNAL_LIMIT, timers, outbox };
}

/**
 * Every actor of `kind` as it stands now, from outside the owning process too: the checkpointed
 * rows overlaid with the snapshots of the records written after the checkpoint (journal.ts). What
 * a reader of `actors` alone would miss is at most one checkpoint interval of changes.
 */
export function latestActors(db: Db, kind: string, replay?: KindReplay): Array<{ id: string; state: unknown; snapshot: { value: unknown; context: Record<string, unknown> }; seq: number }> {
  const out = new Map<string, { id: string; state: unknown; snapshot: { value: unknown; context: Record<string, unknown> }; seq: number }>();
  for (const r of prep(db, 'SELECT id, snapshot, seq, pos FROM actors WHERE kind = ?').iterate(kind) as IterableIterator<{ id: string; snapshot: string; seq: number; pos: number }>) {
    const snapshot = JSON.parse(r.snapshot) as { value: unknown; context: Record<string, unknown> };
    out.set(r.id, { id: r.id, state: snapshot.value, snapshot, seq: r.seq });
  }
  for (const a of latestAfterCheckpoint(db, new Map(replay ? [[kind, replay]] : []), kind).values()) {
    const snapshot = a.persisted as { value: unknown; context: Record<string, unknown> };
    out.set(a.id, { id: a.id, state: snapshot.value, snapshot, seq: a.seq });
  }
  return [...out.values()];
}

/**
 * One record of a store's journal: everything one handled message (or timer firing, or request
 * reply) did, appended in ONE insert. It is the commit: the event that made the actor's new
 * snapshot (format 2; format 1 stored the snapshot itself, record-replay.ts), the messages to
 * send (with their derived ids and headers), the timers armed and cancelled, the requests finished,
 * and the inbox key with the reply a repeat gets. Nothing else is written per message; snapshots,
 * timers and pending requests are materialised from these records in memory and checkpointed
 * (journal.ts).
 *
 * The record is plain JSON and names nothing local to the store (no row numbers): it can be
 * shipped elsewhere unchanged (a JetStream subject per store, say) and applied there by the same
 * `apply` rules journal.ts uses at open.
 */
import type { EventObject, StateValue } from 'xstate';
import { metaToHeaders, type Headers } from '../contracts/headers.ts';
import type { Reply } from './transport/transport.ts';
import type { PersistedSnapshot } from './versioning.ts';

/**
 * A message to send after the commit. Its id is derived from the actor, its sequence and the
 * effect's position. Its CloudEvents headers are not stored: they follow from the record (source,
 * time, correlation and causation, the actor as subject) and the few fields here, and are built
 * when it is sent (`effectHeaders`). Records converted from a version-2 store carry them whole.
 */
export interface OutboundEffect {
  messageId: string;
  mode: 'publish' | 'request' | 'kv';
  /** A subject, or `bucket/key` for a KV write. */
  subject: string;
  /** The message type (`ce-type`); absent for a KV write. */
  type?: string;
  idempotencyKey?: string;
  traceparent?: string;
  /** Whole headers, for records converted from version 2 only. */
  headers?: Headers;
  data: string;
  /** Requests only: names the outstanding request within its actor, so that it can be cancelled. */
  slot?: string;
  timeoutMs?: number;
}

/** A timer armed (with `dueAt` and `event`) or cancelled (without), in the order the transition did it. */
export interface TimerOp {
  name: string;
  dueAt?: number;
  event?: EventObject;
}

export interface RecordedAction {
  type: string;
  params?: unknown;
}

export interface JournalRecord {
  /** The actor's kind, or the service name for a handler with no actor behind it. */
  kind: string;
  id: string;
  /** The actor's sequence after this record (events applied); unchanged by a bookkeeping record. */
  seq: number;
  at: number;
  /** The event applied; absent for a bookkeeping record (a stale timer, a refused reply, a stateless handler). */
  event?: EventObject;
  from?: StateValue | null;
  to?: StateValue;
  actions?: RecordedAction[];
  /**
   * Format 2 (RECORD_FORMAT): no snapshot; replaying `event` through the machine of `version` from
   * the actor's previous snapshot rebuilds it (record-replay.ts). Absent: format 1.
   */
  format?: number;
  /** Format 1 only: the snapshot after the transition, as `getPersistedSnapshot` gives it. */
  snapshot?: PersistedSnapshot;
  /** The machine version that made the transition. */
  version?: string;
  /** Messages to send after the commit (requests become pending under their slot). */
  effects?: OutboundEffect[];
  timers?: TimerOp[];
  /** Request slots abandoned by the actor, finished before this record's effects. */
  done?: string[];
  /** The request slot whose reply this record handled (finished, whether or not the machine accepted it). */
  answered?: string;
  /** The handled message's key and the reply a repeat of it gets. */
  inbox?: { key: string; reply?: Reply | undefined };
  /** The handled message's id and its own cause's: the effects' causation, and the explorer's trail. */
  messageId?: string;
  causationId?: string;
  /** CloudEvents source and correlation id of the effects (the service's source; the saga's correlation). */
  source?: string;
  correlationId?: string;
}

/** The headers an effect is sent with: stored whole, or built from the record. */
export function effectHeaders(record: JournalRecord, e: OutboundEffect): Headers {
  if (e.headers) return e.headers;
  if (e.mode === 'kv' || !e.type) return {};
  return metaToHeaders({
    id: e.messageId,
    type: e.type,
    source: record.source ?? '',
    time: new Date(record.at).toISOString(),
    correlationId: record.correlationId ?? record.id,
    causationId: record.messageId,
    idempotencyKey: e.idempotencyKey,
    traceparent: e.traceparent,
    subject: record.id,
  });
}

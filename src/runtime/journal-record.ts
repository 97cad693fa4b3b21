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
import { Header, metaToHeaders, type Headers } from '../contracts/headers.ts';
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
  /** The handled message's key and the reply a repeat of it gets (packed when its record gives most of it: `packReply`). */
  inbox?: { key: string; reply?: Reply | PackedReply | undefined };
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

/**
 * A stored reply whose CloudEvents headers follow from its record and `ce`, as `metaToHeaders`
 * builds them: its id, type and traceparent are its own; its source, time, correlation and
 * causation are the record's (`source`, `at`, `correlationId`, `messageId`) unless `ce` names
 * others. Its body is `data`, or effect `dataOf`'s (a participant's reply is the event it
 * publishes). A reply so stored is about 350-750 bytes shorter: its headers were 450-500 bytes
 * of each participant's record, its body the effect's again (docs/benchmarks.md, "Bytes written per checkout").
 */
export interface PackedReply {
  ce: { id: string; type: string; traceparent?: string; source?: string; time?: string; correlationId?: string; causationId?: string };
  data?: string;
  dataOf?: number;
}

const isPacked = (r: Reply | PackedReply): r is PackedReply => (r as PackedReply).ce !== undefined;

function unpackHeaders(record: JournalRecord, ce: PackedReply['ce']): Headers {
  return metaToHeaders({
    id: ce.id,
    type: ce.type,
    source: ce.source ?? record.source ?? '',
    time: ce.time ?? new Date(record.at).toISOString(),
    correlationId: ce.correlationId ?? record.correlationId ?? '',
    causationId: ce.causationId ?? record.messageId,
    traceparent: ce.traceparent,
  });
}

/**
 * `reply` as `record` stores it: packed when unpacking gives exactly its headers and body again
 * (a repeat of the message must get the very reply the first got), else whole. Records of earlier
 * versions hold whole replies; `replyOf` reads both.
 */
export function packReply(record: JournalRecord, reply: Reply): Reply | PackedReply {
  const h = reply.headers;
  const id = h?.[Header.id];
  const type = h?.[Header.type];
  if (!h || id === undefined || type === undefined) return reply;
  const ce: PackedReply['ce'] = { id, type };
  if (h[Header.traceparent] !== undefined) ce.traceparent = h[Header.traceparent];
  const source = h[Header.source];
  if (source !== undefined && source !== record.source) ce.source = source;
  const time = h[Header.time];
  if (time !== undefined && time !== new Date(record.at).toISOString()) ce.time = time;
  const correlationId = h[Header.correlationId];
  if (correlationId !== undefined && correlationId !== record.correlationId) ce.correlationId = correlationId;
  const causationId = h[Header.causationId];
  if (causationId !== undefined && causationId !== record.messageId) ce.causationId = causationId;
  const unpacked = unpackHeaders(record, ce);
  const keys = Object.keys(h);
  if (keys.length !== Object.keys(unpacked).length || keys.some((k) => unpacked[k] !== h[k])) return reply;
  const dataOf = record.effects ? record.effects.findIndex((e) => e.data === reply.data) : -1;
  return dataOf >= 0 ? { ce, dataOf } : { ce, data: reply.data };
}

/** The reply stored with `record` (whole or packed), if it holds one. */
export function replyOf(record: JournalRecord): Reply | undefined {
  const r = record.inbox?.reply;
  if (!r || !isPacked(r)) return r;
  return { headers: unpackHeaders(record, r.ce), data: r.data ?? record.effects?.[r.dataOf ?? -1]?.data ?? '{}' };
}

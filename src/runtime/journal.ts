/**
 * A store's journal: the commit, the outbox and the inbox in one append-only table.
 *
 * Handling a message appends ONE record (journal-record.ts) in the store's batch transaction: an
 * insert at the end of the `journal` B-tree, nothing else. What the records imply is held here in
 * memory and materialised from them:
 *   - each changed actor's latest snapshot (until it is checkpointed into `actors`),
 *   - the pending requests of every actor, and its armed timers unless it is parked (TIMER_HORIZON_MS,
 *     TIMER_IDLE_MS),
 *   - the inbox window: the keys (and replies) of the messages handled in the last two minutes,
 *   - the relay's watermark: every publication and KV write in a record at or below it was sent.
 * A record of format 2 holds the event, not the snapshot: at append the host hands the snapshot
 * over in memory; at open the actor's host replays the event (record-replay.ts) once it registers
 * (`replayWith`), and until then the actor's row is not checkpointed past it.
 * A checkpoint writes the changed actors' rows (snapshot, sequence, their timers and pending
 * requests) and the journal position they cover, in the batch that crosses the threshold (every
 * `checkpointEvery` records or `checkpointMs`, and at close). Opening a store loads the
 * checkpoint and applies the records after it: the same `apply` that ran when they were written,
 * so what is in memory after a crash is what was there before it, minus nothing committed.
 *
 * Truncation: records older than `retentionMs` (and below the checkpoint, the relay's watermark and
 * the inbox window) are deleted, in a later batch than the checkpoint that covers them.
 */
import type Database from 'better-sqlite3';
import { setTimerOn, systemClock, type Clock } from './clock.ts';
import { effectHeaders, packReply, replyOf, type JournalRecord, type OutboundEffect } from './journal-record.ts';
import { InboxWindow, keyHash } from './inbox-window.ts';
import { needsReplay, type ReplayBase, type Replayer } from './record-replay.ts';
import type { Headers } from '../contracts/headers.ts';
import type { PersistedSnapshot } from './versioning.ts';
import type { Db, Store } from './store.ts';
import type { Reply } from './transport/transport.ts';
import type { AnyMachineSnapshot, EventObject } from 'xstate';

/** JetStream's duplicate window: a repeat within it gets the stored reply without asking any machine. */
export const INBOX_WINDOW_MS = 120_000;

/**
 * Armed timers due within this much of now are held in memory (the journal's map and the
 * scheduler's heap); an actor whose every timer is due later, that has no pending request and that
 * has not changed for TIMER_IDLE_MS is "parked": its timers are only in its row (`pending`), found
 * again by `timer_due` as the horizon moves (`loadHorizon`). A cart's 24-hour abandon timer held in
 * memory cost 0.4-0.5 KiB a cart.
 */
export const TIMER_HORIZON_MS = 10 * 60_000;

/**
 * How long an actor with only far timers must be left unchanged before it is parked. Parking costs
 * a write of its row's `timer_due`, and a change while parked a read of the row and a merge: an
 * actor that changes again within this (a cart checked out within the minute) is never parked.
 */
export const TIMER_IDLE_MS = 60_000;

/**
 * Slots of the filter of parked rows (`Journal.parked`): one byte each, so 4 MiB. With P rows
 * parked, about 1 - e^(-P / 4M) of the actors not parked cost a row read at their next checkpoint
 * (0.7% at 30,000 parked, 21% at a million); the parked ones always do.
 */
const PARKED_FILTER_BITS = 22;

/** Actors' rows written per batch by the spread checkpoint (journal.maybeCheckpoint). */
const CHECKPOINT_SLICE = 256;

export interface JournalOptions {
  clock?: Clock;
  /** Records between checkpoints. Default 2,000. */
  checkpointEvery?: number;
  /** Time between checkpoints while something changed. Default 1 s. */
  checkpointMs?: number;
  /** How long records are kept (the explorer's and `npm run replay`'s history). Default 24 h. */
  retentionMs?: number;
  /** Timers due within this much of now are held in memory, the rest only in their rows. Default TIMER_HORIZON_MS. */
  timerHorizonMs?: number;
  /** An actor with only far timers is parked once unchanged for this long. Default TIMER_IDLE_MS. */
  timerIdleMs?: number;
}

/** An actor's latest state as the journal knows it (the checkpoint writes it to `actors`). */
export interface ActorState {
  kind: string;
  id: string;
  seq: number;
  /** Journal position of its latest record. */
  pos: number;
  version: string;
  status: string;
  /** The persisted snapshot (made when first asked for, by the checkpoint as a rule; its JSON then too). */
  readonly persisted: PersistedSnapshot;
  /** The live snapshot the host appended (or a replay made), when there is one: loading it again needs no restore. */
  readonly live: AnyMachineSnapshot | undefined;
  createdAt: number;
  updatedAt: number;
}

/**
 * A snapshot handed to `append` by its host: the live one, and how to make its persisted form.
 * `getPersistedSnapshot` cost about 0.1 ms per checkout when it ran at every transition; an actor
 * changes several times before the checkpoint writes its row, and only the row needs it.
 */
export interface LiveSnapshot {
  live: AnyMachineSnapshot;
  persist(live: AnyMachineSnapshot): PersistedSnapshot;
}

const isLive = (s: PersistedSnapshot | LiveSnapshot): s is LiveSnapshot => typeof (s as LiveSnapshot).persist === 'function';

/** An actor's latest state; its persisted snapshot is made once, when first read. The machines are pure and never change a snapshot they made. */
class Latest implements ActorState {
  private made: PersistedSnapshot | undefined;
  constructor(
    readonly kind: string,
    readonly id: string,
    readonly seq: number,
    readonly pos: number,
    readonly version: string,
    readonly status: string,
    private readonly from: PersistedSnapshot | LiveSnapshot,
    readonly createdAt: number,
    readonly updatedAt: number,
  ) {
    if (!isLive(from)) this.made = from;
  }
  get persisted(): PersistedSnapshot {
    return (this.made ??= (this.from as LiveSnapshot).persist((this.from as LiveSnapshot).live));
  }
  get live(): AnyMachineSnapshot | undefined {
    return isLive(this.from) ? this.from.live : undefined;
  }
}

export interface ArmedTimer {
  kind: string;
  id: string;
  name: string;
  dueAt: number;
  event: EventObject;
  /** The actor's sequence when it was armed: a firing names it, so it fires at most once. */
  seq: number;
}

/** A message the relay has still to send (a request, a publication, a KV write), and its retries. */
export interface Outbound {
  kind: string;
  effect: OutboundEffect;
  /** Its headers, built from its record when it was written (kept with it in the checkpoint). */
  headers: Headers;
  /** When it was written (the step's duration counts from here). */
  at: number;
  /** The relay's bookkeeping, in memory only: a restart retries at once. */
  attempts: number;
  nextAttemptAt: number;
  lastError?: string | undefined;
}

export interface PendingRequest extends Outbound {
  id: string;
}

/** A record as it is shipped: its position and its JSON, as stored. */
export type ShippedRecord = readonly [pos: number, json: string];

/** Ships one batch's records to the replicated log; the batch is released when it resolves (replication.ts). */
export type Shipper = (records: readonly ShippedRecord[]) => Promise<void>;

/** A committed record, as the relay and the scheduler hear of it. */
export interface Committed {
  pos: number;
  record: JournalRecord;
}

interface PendingJson {
  timers?: Record<string, { dueAt: number; event: EventObject; seq: number }>;
  requests?: Record<string, { effect: OutboundEffect; at: number; headers?: Headers }>;
}

export const actorKey = (kind: string, id: string): string => `${kind}/${id}`;

/**
 * A 30-bit hash of an inbox key (FNV-1a, folded), so that the window holds a hash and a position
 * per key (inbox-window.ts) instead of a string of about 90 characters: 300,000 keys in two minutes
 * at 250 checkouts/s. Two keys of such a window share a hash about 40 times (36-44 measured): the
 * record's own key tells them apart (`inboxRecord`), so a shared hash costs a disk read, never a
 * wrong reply.
 */
export const inboxKeyHash: (key: string) => number = keyHash;

/**
 * The span of time one entry of the inbox window's clock covers (`Journal.inboxTimes`): a key is
 * forgotten when the newest record of its span is older than the window, so at most this much
 * later than its own age says, and the clock has about 120 entries whatever the rate.
 */
const INBOX_TIME_GRAIN_MS = 1_000;

export class Journal {
  private static readonly byStore = new WeakMap<Store, Journal>();

  /** The journal of `store`, opened (checkpoint loaded, tail applied) on first use. */
  static of(store: Store, opts: JournalOptions = {}): Journal {
    let j = Journal.byStore.get(store);
    if (!j) {
      j = new Journal(store, opts);
      Journal.byStore.set(store, j);
    }
    return j;
  }

  readonly clock: Clock;
  /** Actors changed since the last checkpoint. */
  private readonly dirty = new Map<string, ActorState>();
  /** Actors whose timers or pending requests changed since the last checkpoint. */
  private readonly pendingDirty = new Set<string>();
  /**
   * Every actor changed since its row was last written, with the position and time of its first
   * such record, in that order (a Map keeps insertion order). The checkpoint position is just
   * below the first of them: everything before it is in the rows.
   */
  private readonly firstDirty = new Map<string, { pos: number; at: number }>();
  /**
   * The armed timers held in memory, by actor: all of an actor's timers or none. None while the
   * actor is parked (see TIMER_HORIZON_MS); its timers armed or disarmed by records after its row
   * are here and in `touchedTimers` until the checkpoint merges them with the row.
   */
  readonly timers = new Map<string, Map<string, ArmedTimer>>();
  /**
   * Per actor that may be parked (`parked`) and changed since its row was written: the names of
   * the timers its records armed or disarmed since, which its row's `pending` no longer tells.
   */
  private readonly touchedTimers = new Map<string, Set<string>>();
  /**
   * The actors holding timers that are all beyond the horizon, by the time of their latest record,
   * oldest first (a Map keeps insertion order; each record moves its actor to the end): the
   * candidates for parking, taken from the front once older than `timerIdleMs` (`parkIdle`).
   */
  private readonly idle = new Map<string, number>();
  /**
   * A counting filter of the rows whose `timer_due` is set (parked, or taken back by the horizon and
   * not written since), by the hash of their key: 0 says "not parked" without reading the row, so a
   * checkpoint reads a row only for an actor that may be parked. Counts saturate at 255 (then stay).
   * Rebuilt at open from the rows.
   */
  private readonly parked = new Uint8Array(1 << PARKED_FILTER_BITS);
  /** Counts since open (tests, the bench's memory trace): actors parked, and rows a checkpoint read back to merge. */
  readonly parking = { parked: 0, rowReads: 0 };

  /** What the timers hold now (the bench's memory trace): timers and actors in memory, actors queued for parking. */
  timersHeld(): { timers: number; actors: number; idle: number } {
    let timers = 0;
    for (const t of this.timers.values()) timers += t.size;
    return { timers, actors: this.timers.size, idle: this.idle.size };
  }
  /** Every timer due at or before this is in memory (or parked in no row); it only moves forward. */
  frontier = 0;
  readonly timerHorizonMs: number;
  readonly timerIdleMs: number;
  private readonly loadedListeners: Array<(t: ArmedTimer[]) => void> = [];
  /** Records read at open whose snapshots await their kind's replayer, by actor, oldest first. */
  private readonly unresolved = new Map<string, Array<{ record: JournalRecord; pos: number }>>();
  private readonly replayers = new Map<string, { version: string; replay: Replayer }>();
  readonly requests = new Map<string, Map<string, PendingRequest>>();
  /**
   * The inbox window: each key handled in the last two minutes, by its hash (inboxKeyHash), to the
   * position of the record that holds it and its reply. Replies stay on disk: a repeat is rare, and
   * at hundreds of messages a second two minutes of replies would be hundreds of MiB in memory.
   */
  private readonly inbox = new InboxWindow();
  /** Keys whose hash a later key of the window took (rare): by the whole key, to their positions. */
  private readonly inboxOverflow = new Map<string, number>();
  /**
   * The window's clock, oldest first: per span of INBOX_TIME_GRAIN_MS from its first record with a
   * key (`from`), that record's position and the time of the span's newest (`at`). The keys' times
   * are read from here, not kept per key.
   */
  private readonly inboxTimes: Array<{ pos: number; from: number; at: number }> = [];
  /** Position of the last record appended (committed or not). */
  head = 0;
  /** Position of the last record whose commit is durable and was announced. */
  announced = 0;
  private checkpointPos = 0;
  private watermark = 0;
  private sinceCheckpoint = 0;
  private lastCheckpointAt: number;
  /** Safe truncation point decided by the last checkpoint, applied by a later batch. */
  private truncateThrough = 0;
  private readonly listeners: Array<(c: Committed[]) => void> = [];
  private watermarkSource: (() => number) | undefined;
  private cancelTick: (() => void) | undefined;
  private readonly checkpointEvery: number;
  private readonly checkpointMs: number;
  private readonly retentionMs: number;
  private readonly stmt: Record<string, Database.Statement>;
  /** Distributed mode: ships each batch's records before the batch is released. */
  private shipper: Shipper | undefined;
  /** The records of the open batch, to be shipped once it is durable here. */
  private toShip: ShippedRecord[] | undefined;

  private constructor(
    readonly store: Store,
    opts: JournalOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.checkpointEvery = opts.checkpointEvery ?? 2_000;
    this.checkpointMs = opts.checkpointMs ?? 1_000;
    this.retentionMs = opts.retentionMs ?? 24 * 3_600_000;
    this.timerHorizonMs = opts.timerHorizonMs ?? TIMER_HORIZON_MS;
    this.timerIdleMs = opts.timerIdleMs ?? TIMER_IDLE_MS;
    this.lastCheckpointAt = this.clock.now();
    const db = store.db;
    this.stmt = {
      append: db.prepare('INSERT INTO journal (kind, id, seq, prev, at, inbox_key, record) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      save: db.prepare(`INSERT INTO actors (kind, id, machine_version, status, state, snapshot, seq, created_at, updated_at, pos, pending)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (kind, id) DO UPDATE SET machine_version = excluded.machine_version, status = excluded.status,
          state = excluded.state, snapshot = excluded.snapshot, seq = excluded.seq, updated_at = excluded.updated_at,
          pos = excluded.pos, pending = excluded.pending`),
      // An actor whose timers and requests did not change: its row's `pending` (maybe parked timers) stays.
      saveState: db.prepare(`INSERT INTO actors (kind, id, machine_version, status, state, snapshot, seq, created_at, updated_at, pos)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (kind, id) DO UPDATE SET machine_version = excluded.machine_version, status = excluded.status,
          state = excluded.state, snapshot = excluded.snapshot, seq = excluded.seq, updated_at = excluded.updated_at,
          pos = excluded.pos`),
      savePending: db.prepare('UPDATE actors SET pending = ? WHERE kind = ? AND id = ?'),
      // A parked row written with its timers merged is parked no more (parkIdle parks it again, if it stays unchanged).
      unpark: db.prepare('UPDATE actors SET timer_due = NULL WHERE kind = ? AND id = ?'),
      park: db.prepare('UPDATE actors SET timer_due = ? WHERE kind = ? AND id = ? AND timer_due IS NULL AND pending IS NOT NULL'),
      parkedPending: db.prepare('SELECT pending FROM actors WHERE kind = ? AND id = ? AND timer_due IS NOT NULL').pluck(),
      dueRows: db.prepare('SELECT kind, id, pending FROM actors WHERE timer_due > ? AND timer_due <= ? AND pending IS NOT NULL'),
      meta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
      truncate: db.prepare('DELETE FROM journal WHERE pos <= ?'),
      recordAt: db.prepare('SELECT record FROM journal WHERE pos = ?').pluck(),
      row: db.prepare('SELECT snapshot, machine_version FROM actors WHERE kind = ? AND id = ?'),
      atOf: db.prepare('SELECT pos, at FROM journal WHERE pos >= ? ORDER BY pos LIMIT 1'),
      // Two queries: `SELECT min(pos), max(pos)` together is a full scan (SQLite optimises one of them alone).
      first: db.prepare('SELECT pos FROM journal ORDER BY pos LIMIT 1').pluck(),
      last: db.prepare('SELECT pos FROM journal ORDER BY pos DESC LIMIT 1').pluck(),
    };
    store.beforeCommit(() => {
      this.toShip = undefined; // the batch closes: the next record starts the next batch's list
      this.maybeCheckpoint();
    });
    store.onRollback(() => this.reload());
    store.beforeClose(() => this.checkpointNow());
    this.load();
  }

  /**
   * Batch committed, replicate before release: from now on every batch that appends records is
   * held (store.holdRelease) until `ship` has its records replicated (asked right after the COMMIT,
   * while the WAL sync runs) and the sync has returned; nobody hears of them before.
   */
  replicateWith(ship: Shipper): void {
    this.shipper = ship;
  }

  /**
   * The host of `kind` rebuilds its actors' snapshots from records that leave them out (format 2):
   * those read at open are replayed now, in order, from the actor's row or earlier record.
   */
  replayWith(kind: string, version: string, replay: Replayer): void {
    const r = { version, replay };
    for (const [key, records] of this.unresolved) {
      if (records[0]?.record.kind !== kind) continue;
      // All of an actor's records or none: a replay that throws (MachineVersionError) leaves them waiting.
      let base = this.baseOf(key, records[0].record);
      const replayed = records.map(({ record }) => (base = replay(base, record)));
      this.unresolved.delete(key);
      records.forEach(({ record, pos }, i) => this.setLatest(key, record, pos, replayed[i]!.persisted, version));
    }
    this.replayers.set(kind, r);
  }

  /** The snapshot before `record`: its actor's latest in memory, else its row. */
  private baseOf(key: string, record: JournalRecord): ReplayBase | undefined {
    const latest = this.dirty.get(key);
    if (latest) return { persisted: latest.persisted, version: latest.version };
    const row = this.stmt.row!.get(record.kind, record.id) as { snapshot: string; machine_version: string } | undefined;
    return row && { persisted: JSON.parse(row.snapshot) as PersistedSnapshot, version: row.machine_version };
  }

  private setLatest(key: string, record: JournalRecord, pos: number, snapshot: PersistedSnapshot | LiveSnapshot, version: string): void {
    const before = this.dirty.get(key);
    const status = (isLive(snapshot) ? snapshot.live.status : snapshot.status) ?? 'active';
    this.dirty.set(key, new Latest(record.kind, record.id, record.seq, pos, version, status, snapshot, before?.createdAt ?? record.at, record.at));
  }

  /** The relay tells where it stands: every publication at or below the returned position was sent. */
  trackWatermark(source: () => number): void {
    this.watermarkSource = source;
  }

  /** Called with each durable batch of records, in commit order. */
  onCommitted(listener: (c: Committed[]) => void): void {
    this.listeners.push(listener);
  }

  /** The persisted relay watermark (what a restarted relay resends after). */
  get relayWatermark(): number {
    return this.watermark;
  }

  /**
   * Appends one record inside the current batch (call from within `store.write`), applies it to
   * what is in memory, and announces it once the batch is durable. Nothing may throw after it in
   * the same write: its effects on memory are not undone by a savepoint's rollback.
   */
  append(record: JournalRecord, prev: number | undefined, snapshot?: PersistedSnapshot | LiveSnapshot): number {
    // Stored (and announced) with its reply packed: headers and a body its record gives again.
    const inbox = record.inbox;
    if (inbox?.reply && !('ce' in inbox.reply)) record.inbox = { key: inbox.key, reply: packReply(record, inbox.reply) };
    const json = JSON.stringify(record);
    const info = this.stmt.append!.run(record.kind, record.id, record.seq, prev ?? null, record.at, record.inbox?.key ?? null, json);
    const pos = Number(info.lastInsertRowid);
    this.apply(record, pos, snapshot);
    if (this.shipper) this.ship(pos, json, this.shipper);
    const committed: Committed = { pos, record };
    this.store.afterCommit(() => this.announce(committed));
    return pos;
  }

  private ship(pos: number, json: string, shipper: Shipper): void {
    if (!this.toShip) {
      const batch: ShippedRecord[] = (this.toShip = []);
      this.store.holdRelease(async () => {
        this.store.faults?.('beforeReplicate');
        await shipper(batch);
        this.store.faults?.('afterReplicate');
      });
    }
    this.toShip.push([pos, json]);
  }

  /** The stored records after `pos`, as shipped (a restart re-ships the tail its log lacks). */
  recordsAfter(pos: number): ShippedRecord[] {
    const rows = this.store.db.prepare('SELECT pos, record FROM journal WHERE pos > ? ORDER BY pos').raw().all(pos) as Array<[number, string]>;
    return rows;
  }

  /** The stored record at `pos`, as shipped, if the journal still holds it. */
  recordJsonAt(pos: number): string | undefined {
    return this.stmt.recordAt!.get(pos) as string | undefined;
  }

  /** The reply stored for a message key handled within the inbox window. */
  storedReply(key: string): Reply | undefined {
    const record = this.inboxRecord(key);
    return record ? (replyOf(record) ?? { data: '{}' }) : undefined;
  }

  hasInboxKey(key: string): boolean {
    return this.inboxRecord(key) !== undefined;
  }

  /** The record that handled `key` within the window: found by the key's hash, confirmed by the key it stores. */
  private inboxRecord(key: string): JournalRecord | undefined {
    const hit = this.inbox.get(inboxKeyHash(key));
    const found = hit !== undefined ? this.recordAt(hit) : undefined;
    if (found?.inbox?.key === key) return found;
    const spilled = this.inboxOverflow.get(key);
    return spilled !== undefined ? this.recordAt(spilled) : undefined;
  }

  private recordAt(pos: number): JournalRecord | undefined {
    const row = this.stmt.recordAt!.get(pos) as string | undefined;
    return row ? (JSON.parse(row) as JournalRecord) : undefined;
  }

  /** Remembers a handled key (in position order); a different key already under its hash moves to the overflow map. */
  private remember(key: string, pos: number, at: number): void {
    const h = inboxKeyHash(key);
    const other = this.inbox.get(h);
    if (other !== undefined) {
      const otherKey = this.recordAt(other)?.inbox?.key;
      if (otherKey !== undefined && otherKey !== key) this.inboxOverflow.set(otherKey, other);
    }
    this.inbox.set(h, pos);
    const span = this.inboxTimes[this.inboxTimes.length - 1];
    if (span && at < span.from + INBOX_TIME_GRAIN_MS) span.at = Math.max(span.at, at);
    else this.inboxTimes.push({ pos, from: at, at });
  }

  /**
   * Forgets the keys older than the window: those of every span whose newest record is older (the
   * spans are in position order, which is time order but for a clock stepping back, which only
   * keeps a key longer).
   */
  private forgetInboxKeys(now: number): void {
    let spans = 0;
    while (spans < this.inboxTimes.length && this.inboxTimes[spans]!.at < now - INBOX_WINDOW_MS) spans++;
    if (spans === 0) return;
    const keep = this.inboxTimes[spans]?.pos ?? Infinity;
    this.inboxTimes.splice(0, spans);
    this.inbox.forgetBefore(keep);
    for (const [key, pos] of this.inboxOverflow) if (pos < keep) this.inboxOverflow.delete(key);
  }

  /** The latest state of an actor changed since the last checkpoint (else the `actors` row is current). */
  latest(kind: string, id: string): ActorState | undefined {
    return this.dirty.get(actorKey(kind, id));
  }

  /** The actors of `kind` changed since the last checkpoint (newer than their rows). */
  *changedActors(kind: string): Iterable<ActorState> {
    for (const a of this.dirty.values()) if (a.kind === kind) yield a;
  }

  pendingRequest(kind: string, id: string, slot: string): PendingRequest | undefined {
    return this.requests.get(actorKey(kind, id))?.get(slot);
  }

  /** A timer held in memory (a parked one is not: it cannot fire before the horizon loads it). */
  armedTimer(kind: string, id: string, name: string): ArmedTimer | undefined {
    return this.timers.get(actorKey(kind, id))?.get(name);
  }

  /** Every armed timer of an actor, held in memory or parked in its row (for the views that list them). */
  armedTimersOf(kind: string, id: string): ArmedTimer[] {
    const key = actorKey(kind, id);
    const held = this.timers.get(key);
    const out = [...(held?.values() ?? [])];
    const parked = this.mayBeParked(key) ? (this.stmt.parkedPending!.get(kind, id) as string | undefined) : undefined;
    if (parked) out.push(...this.fromRow(key, kind, id, parked, held));
    return out;
  }

  /** The timers a row holds that are still armed: not re-armed or disarmed since (touched) and not held already. */
  private fromRow(key: string, kind: string, id: string, pending: string, held: Map<string, ArmedTimer> | undefined): ArmedTimer[] {
    const timers = (JSON.parse(pending) as PendingJson).timers ?? {};
    const touched = this.touchedTimers.get(key);
    const out: ArmedTimer[] = [];
    for (const [name, t] of Object.entries(timers)) if (!touched?.has(name) && !held?.has(name)) out.push({ kind, id, name, ...t });
    return out;
  }

  /** Takes a row's still-armed timers into memory; returns those it added. */
  private unpark(key: string, kind: string, id: string, pending: string): ArmedTimer[] {
    let held = this.timers.get(key);
    const added = this.fromRow(key, kind, id, pending, held);
    if (added.length && !held) this.timers.set(key, (held = new Map<string, ArmedTimer>()));
    for (const t of added) held!.set(t.name, t);
    return added;
  }

  /** Called with timers taken into memory from the rows (the horizon moved, or a checkpoint merged a row). */
  onTimersLoaded(listener: (t: ArmedTimer[]) => void): void {
    this.loadedListeners.push(listener);
  }

  /**
   * Moves the horizon to now + timerHorizonMs: the parked actors whose earliest timer it reaches
   * are taken into memory, all their timers. A row re-armed or disarmed since it was written
   * (touched) gives only what is still armed; a timer already held stays as held.
   */
  loadHorizon(): void {
    if (this.store.closed) return;
    const to = this.clock.now() + this.timerHorizonMs;
    if (to <= this.frontier) return;
    const loaded: ArmedTimer[] = [];
    for (const r of this.stmt.dueRows!.iterate(this.frontier, to) as IterableIterator<{ kind: string; id: string; pending: string }>) {
      loaded.push(...this.unpark(actorKey(r.kind, r.id), r.kind, r.id, r.pending));
    }
    this.frontier = to;
    if (loaded.length) for (const l of this.loadedListeners) l(loaded);
  }

  /** Records after `pos` carrying publications or KV writes (what a restarted relay resends). */
  effectsAfter(pos: number): Committed[] {
    const out: Committed[] = [];
    const rows = this.store.db.prepare('SELECT pos, record FROM journal WHERE pos > ? ORDER BY pos').iterate(pos) as IterableIterator<{ pos: number; record: string }>;
    for (const r of rows) {
      if (!r.record.includes('"effects"')) continue;
      out.push({ pos: r.pos, record: JSON.parse(r.record) as JournalRecord });
    }
    return out;
  }

  /** A checkpoint if anything changed since the last one, so that the tables are current for a query that reads them. */
  checkpointIfDirty(): Promise<void> {
    return this.firstDirty.size > 0 ? this.checkpointNow() : this.store.flushed();
  }

  /** Writes a checkpoint now (in a batch of its own if none is open); resolves when it is durable. */
  checkpointNow(): Promise<void> {
    if (this.store.closed) return Promise.resolve();
    return this.store.write((db) => this.checkpoint(db));
  }

  private announce(c: Committed): void {
    this.announced = c.pos;
    for (const l of this.listeners) l([c]);
    this.armTick();
  }

  private armTick(): void {
    if (this.cancelTick || this.store.closed) return;
    this.cancelTick = setTimerOn(this.clock, () => {
      this.cancelTick = undefined;
      if (this.store.closed) return;
      if (this.firstDirty.size > 0 || this.truncateThrough > 0) {
        this.store.write((db) => this.checkpoint(db)).catch(() => undefined);
      }
    }, this.checkpointMs);
  }

  /**
   * In every batch: the rows of the actors changed `checkpointMs` ago or `checkpointEvery` records
   * ago, oldest first, at most CHECKPOINT_SLICE of them. Spread over the batches this way a
   * checkpoint is never one long burst of random-key writes (a whole second's worth at once held the
   * event loop for tens of milliseconds and showed in p99), and an actor changed several times
   * within the interval is still written once.
   */
  private maybeCheckpoint(): void {
    const now = this.clock.now();
    this.parkIdle(now);
    const first = this.firstDirty.values().next().value;
    if (!first) return;
    if (first.at > now - this.checkpointMs && first.pos > this.head - this.checkpointEvery) return;
    this.checkpoint(this.store.db, (f) => f.at <= now - this.checkpointMs || f.pos <= this.head - this.checkpointEvery);
  }

  /** Inside a transaction: the changed actors' rows (all, or the oldest that are `due`), and the position they cover. */
  private checkpoint(db: Db, due?: (first: { pos: number; at: number }) => boolean): void {
    this.store.faults?.('duringCheckpoint');
    // Truncation decided by the previous checkpoint: its rows are covered by a committed checkpoint.
    if (this.truncateThrough > 0) {
      this.store.faults?.('beforeTruncate');
      this.stmt.truncate!.run(this.truncateThrough);
      this.truncateThrough = 0;
    }
    void db;
    let written = 0;
    for (const [key, first] of this.firstDirty) {
      if (due && (written >= CHECKPOINT_SLICE || !due(first))) break;
      if (this.unresolved.has(key)) continue; // not replayed yet (no host of its kind): its records stay uncovered
      const a = this.dirty.get(key);
      const slash = key.indexOf('/');
      // Timers or requests changed: the row gets them all, a parked row's still armed ones merged in first.
      const pending = this.pendingDirty.has(key);
      const unparked = pending && this.mayBeParked(key) && this.unparkRow(key, key.slice(0, slash), key.slice(slash + 1));
      if (a && pending) {
        this.stmt.save!.run(a.kind, a.id, a.version, a.status, JSON.stringify(a.persisted.value), JSON.stringify(a.persisted), a.seq, a.createdAt, a.updatedAt, a.pos, this.pendingJson(key));
      } else if (a) {
        this.stmt.saveState!.run(a.kind, a.id, a.version, a.status, JSON.stringify(a.persisted.value), JSON.stringify(a.persisted), a.seq, a.createdAt, a.updatedAt, a.pos);
      } else if (pending) {
        this.stmt.savePending!.run(this.pendingJson(key), key.slice(0, slash), key.slice(slash + 1));
      }
      if (unparked) {
        // Apart from the write: the rows not parked (nearly all) are written as before, not touching `timer_due`'s index.
        this.stmt.unpark!.run(key.slice(0, slash), key.slice(slash + 1));
        this.countParked(key, -1);
      }
      this.dirty.delete(key);
      this.pendingDirty.delete(key);
      this.touchedTimers.delete(key);
      this.firstDirty.delete(key);
      written++;
    }
    const oldest = this.firstDirty.values().next().value;
    const covered = oldest ? oldest.pos - 1 : this.head;
    const watermark = Math.max(this.watermark, Math.min(this.watermarkSource?.() ?? this.watermark, this.announced));
    this.stmt.meta!.run('journal_checkpoint', String(covered));
    this.stmt.meta!.run('relay_watermark', String(watermark));
    const now = this.clock.now();
    // What this checkpoint covers may be truncated once it has committed: by a later batch.
    this.truncateThrough = this.truncationPoint(Math.min(covered, watermark), now);
    this.checkpointPos = covered;
    this.watermark = watermark;
    this.sinceCheckpoint = 0;
    this.lastCheckpointAt = now;
    this.forgetInboxKeys(now);
  }

  /** The highest position at or below `limit` whose record is older than the retention and the inbox window. */
  private truncationPoint(limit: number, now: number): number {
    const cutoff = now - Math.max(this.retentionMs, INBOX_WINDOW_MS);
    const first = this.firstAtOrAfter(cutoff);
    return Math.min(limit, first - 1) > 0 ? Math.min(limit, first - 1) : 0;
  }

  /** The first position whose record was written at or after `t` (records are appended in time order, roughly). */
  firstAtOrAfter(t: number): number {
    const first = this.stmt.first!.get() as number | undefined;
    const last = this.stmt.last!.get() as number | undefined;
    if (first === undefined || last === undefined) return 0;
    let lo = first;
    let hi = last + 1;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const row = this.stmt.atOf!.get(mid) as { pos: number; at: number } | undefined;
      if (!row || row.at >= t) hi = mid;
      else lo = row.pos + 1;
    }
    return lo;
  }

  /**
   * Before a checkpoint writes the timers of an actor that may be parked: if its row is (its
   * `timer_due` set), the row's still armed timers are taken into memory, so that the write holds
   * them all. Returns whether the row was parked (the write then clears its `timer_due`).
   */
  private unparkRow(key: string, kind: string, id: string): boolean {
    this.parking.rowReads++;
    const parked = this.stmt.parkedPending!.get(kind, id) as string | undefined;
    if (parked === undefined) return false;
    const added = this.unpark(key, kind, id, parked);
    if (added.length) for (const l of this.loadedListeners) l(added);
    return true;
  }

  /** The earliest due time of an actor's timers held in memory (Infinity if none). */
  private earliestTimer(key: string): number {
    let min = Infinity;
    for (const t of this.timers.get(key)?.values() ?? []) min = Math.min(min, t.dueAt);
    return min;
  }

  /** After a record of `key` at `at`: an actor whose timers are all beyond the horizon queues for parking, at the end. */
  private noteChange(key: string, at: number): void {
    this.idle.delete(key);
    if (this.timers.has(key) && this.earliestTimer(key) > at + this.timerHorizonMs) this.idle.set(key, at);
  }

  /**
   * In every batch, before the checkpoint: parks the actors at the front of `idle` left unchanged
   * for `timerIdleMs`, at most CHECKPOINT_SLICE of them. One that cannot be parked now leaves the
   * queue: its next record queues it again (a pending request answered, a timer fired or re-armed).
   * Its row holds its timers already (its changes are checkpointed), so parking writes `timer_due`
   * only; its timers then leave memory (the scheduler's heap drops them as they surface).
   */
  private parkIdle(now: number): void {
    let parked = 0;
    let later: string[] | undefined;
    for (const [key, at] of this.idle) {
      if (at > now - this.timerIdleMs || parked >= CHECKPOINT_SLICE) break;
      this.idle.delete(key);
      if (this.firstDirty.has(key)) {
        (later ??= []).push(key); // its row is not written yet: queued again, at the end
        continue;
      }
      const due = this.earliestTimer(key);
      if (due === Infinity || due <= this.frontier || this.requests.get(key)?.size) continue;
      const slash = key.indexOf('/');
      if (this.stmt.park!.run(due, key.slice(0, slash), key.slice(slash + 1)).changes !== 1) continue;
      this.timers.delete(key);
      this.countParked(key, 1);
      this.parking.parked++;
      parked++;
    }
    for (const key of later ?? []) this.idle.set(key, now);
  }

  /** Whether `key`'s row may be parked: false means it is not. */
  private mayBeParked(key: string): boolean {
    return this.parked[inboxKeyHash(key) & ((1 << PARKED_FILTER_BITS) - 1)]! > 0;
  }

  private countParked(key: string, by: 1 | -1): void {
    const slot = inboxKeyHash(key) & ((1 << PARKED_FILTER_BITS) - 1);
    const n = this.parked[slot]!;
    if (n < 255 && (by > 0 || n > 0)) this.parked[slot] = n + by;
  }

  private pendingJson(key: string): string | null {
    const timers = this.timers.get(key);
    const requests = this.requests.get(key);
    if (!timers?.size && !requests?.size) return null;
    const out: PendingJson = {};
    if (timers?.size) out.timers = Object.fromEntries([...timers].map(([n, t]) => [n, { dueAt: t.dueAt, event: t.event, seq: t.seq }]));
    if (requests?.size) out.requests = Object.fromEntries([...requests].map(([s, r]) => [s, { effect: r.effect, at: r.at, headers: r.headers }]));
    return JSON.stringify(out);
  }

  /** What a record means for memory: the same rules at append and at open. */
  private apply(record: JournalRecord, pos: number, given?: PersistedSnapshot | LiveSnapshot): void {
    const key = actorKey(record.kind, record.id);
    const snapshot = record.snapshot ?? given;
    const replay = !snapshot && needsReplay(record);
    if ((snapshot || replay || record.done?.length || record.answered || record.timers?.length || record.effects?.some((e) => e.mode === 'request')) && !this.firstDirty.has(key)) {
      this.firstDirty.set(key, { pos, at: record.at });
    }
    if (snapshot) {
      this.unresolved.delete(key);
      this.setLatest(key, record, pos, snapshot, record.version ?? '');
    } else if (replay) {
      const waiting = this.unresolved.get(key);
      if (waiting) waiting.push({ record, pos });
      else if (this.replayers.has(record.kind)) {
        const r = this.replayers.get(record.kind)!;
        this.setLatest(key, record, pos, r.replay(this.baseOf(key, record), record).persisted, r.version);
      }
      else this.unresolved.set(key, [{ record, pos }]);
    }
    if (record.done?.length || record.answered) {
      const reqs = this.requests.get(key);
      for (const slot of record.done ?? []) reqs?.delete(slot);
      if (record.answered) reqs?.delete(record.answered);
      if (reqs && reqs.size === 0) this.requests.delete(key);
      this.pendingDirty.add(key);
    }
    if (record.effects) {
      for (const e of record.effects) {
        if (e.mode !== 'request' || !e.slot) continue;
        let reqs = this.requests.get(key);
        if (!reqs) this.requests.set(key, (reqs = new Map<string, PendingRequest>()));
        reqs.set(e.slot, { kind: record.kind, id: record.id, effect: e, headers: effectHeaders(record, e), at: record.at, attempts: 0, nextAttemptAt: record.at });
        this.pendingDirty.add(key);
      }
    }
    if (record.timers?.length) {
      let touched = this.touchedTimers.get(key);
      if (!touched && this.mayBeParked(key)) this.touchedTimers.set(key, (touched = new Set<string>()));
      for (const op of record.timers) {
        touched?.add(op.name);
        let timers = this.timers.get(key);
        if (op.dueAt === undefined || !op.event) timers?.delete(op.name);
        else {
          if (!timers) this.timers.set(key, (timers = new Map<string, ArmedTimer>()));
          timers.set(op.name, { kind: record.kind, id: record.id, name: op.name, dueAt: op.dueAt, event: op.event, seq: record.seq });
        }
        if (timers && timers.size === 0) this.timers.delete(key);
      }
      this.pendingDirty.add(key);
    }
    this.noteChange(key, record.at);
    if (record.inbox) this.remember(record.inbox.key, pos, record.at);
    this.head = pos;
    this.sinceCheckpoint++;
  }

  /** Open: the checkpoint, then every record after it; a checkpoint right away if there were any. */
  private load(): void {
    const db = this.store.db;
    this.checkpointPos = Number(this.stmt.getMeta!.get('journal_checkpoint') ?? 0);
    this.watermark = Number(this.stmt.getMeta!.get('relay_watermark') ?? 0);
    // The actors not parked, and the parked ones whose earliest timer is within the horizon (a row
    // taken into memory since it was parked keeps its `timer_due`, which is then within it too);
    // every row with `timer_due` counted in the filter of parked rows.
    const now = this.clock.now();
    this.frontier = Math.max(this.frontier, now + this.timerHorizonMs);
    // A parked row is held too if its `pending` no longer matches its `timer_due` (a request, or an
    // earlier timer): the code before this writes `pending` and leaves `timer_due` as it was.
    const rows = db
      .prepare(`SELECT kind, id, timer_due, CASE WHEN timer_due IS NULL OR timer_due <= ? OR json_extract(pending, '$.requests') IS NOT NULL
          OR timer_due IS NOT (SELECT min(json_extract(t.value, '$.dueAt')) FROM json_each(pending, '$.timers') t) THEN pending END AS pending
        FROM actors WHERE pending IS NOT NULL`)
      .iterate(this.frontier) as IterableIterator<{ kind: string; id: string; timer_due: number | null; pending: string | null }>;
    for (const r of rows) {
      const key = actorKey(r.kind, r.id);
      if (r.timer_due !== null) this.countParked(key, 1);
      if (r.pending === null) continue;
      const p = JSON.parse(r.pending) as PendingJson;
      if (p.timers) {
        this.timers.set(key, new Map<string, ArmedTimer>(Object.entries(p.timers).map(([name, t]) => [name, { kind: r.kind, id: r.id, name, ...t }])));
        if (r.timer_due === null && !p.requests) this.noteChange(key, now); // unchanged since the open, it may be parked
      }
      if (p.requests) {
        this.requests.set(key, new Map<string, PendingRequest>(Object.entries(p.requests).map(([slot, q]) => [slot, { kind: r.kind, id: r.id, effect: q.effect, headers: q.headers ?? q.effect.headers ?? {}, at: q.at, attempts: 0, nextAttemptAt: q.at }])));
      }
    }
    const hi = (this.stmt.last!.get() as number | undefined) ?? 0;
    this.head = Math.max(this.checkpointPos, hi);
    // The inbox window: keys of records written in the last two minutes (the journal keeps at least that).
    const since = this.firstAtOrAfter(this.clock.now() - INBOX_WINDOW_MS);
    const tailFrom = Math.min(since - 1, this.checkpointPos);
    // An actor's row may cover records after the checkpoint position (rows are written oldest
    // change first, a slice per batch): those records are in its row already.
    const rowPos = db.prepare('SELECT pos FROM actors WHERE kind = ? AND id = ?').pluck();
    const covered = new Map<string, number>();
    for (const r of db.prepare('SELECT pos, kind, id, at, inbox_key, CASE WHEN pos > ? THEN record END AS record FROM journal WHERE pos > ? ORDER BY pos').iterate(this.checkpointPos, tailFrom) as IterableIterator<{ pos: number; kind: string; id: string; at: number; inbox_key: string | null; record: string | null }>) {
      if (r.record !== null) {
        const key = actorKey(r.kind, r.id);
        let inRow = covered.get(key);
        if (inRow === undefined) covered.set(key, (inRow = (rowPos.get(r.kind, r.id) as number | undefined) ?? 0));
        if (r.pos > inRow) {
          this.apply(JSON.parse(r.record) as JournalRecord, r.pos);
          continue;
        }
      }
      if (r.inbox_key !== null) this.remember(r.inbox_key, r.pos, r.at);
    }
    this.head = Math.max(this.head, hi);
    this.announced = this.head;
    this.sinceCheckpoint = 0;
    // Make the tables current at once: the machine-version check and outside readers read them.
    this.checkpointSync();
  }

  /**
   * A checkpoint in a transaction of its own, outside any batch (at open, and before a host checks
   * the stored machine versions). Does nothing while a batch is open or syncing.
   */
  checkpointSync(): void {
    if (this.store.inBatch || this.store.closed) return;
    if (this.firstDirty.size === 0 && this.checkpointPos === this.head) return;
    this.store.db.transaction(() => this.checkpoint(this.store.db))();
  }

  /** A batch rolled back: what memory holds may include it. Start again from what is on disk. */
  private reload(): void {
    this.dirty.clear();
    this.pendingDirty.clear();
    this.firstDirty.clear();
    this.unresolved.clear();
    this.timers.clear();
    this.touchedTimers.clear();
    this.idle.clear();
    this.parked.fill(0);
    this.requests.clear();
    this.inbox.clear();
    this.inboxOverflow.clear();
    this.inboxTimes.length = 0;
    this.truncateThrough = 0;
    this.toShip = undefined;
    if (!this.store.closed) this.load();
  }
}

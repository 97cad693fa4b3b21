/**
 * Snapshots rebuilt from the journal's events. Since record format 2 (journal-record.ts) a
 * transition's record holds the event, not the snapshot it led to: the machines are pure, so
 * applying the event to the actor's previous snapshot gives that snapshot again, exactly. A record
 * of format 1 (no `format`) still carries its snapshot, and it is used as it is.
 *
 * The replay rule for a record written by another machine version than the one running (a process
 * that crashed on version A and restarts on version B, before A's tail was checkpointed): the
 * previous snapshot is upgraded as a stored snapshot is (versioning.ts, migrations), the event is
 * applied by the running machine, and the result must reach the state the record names (`to`, as
 * the migration from the record's version renames it; a state the running machine lacks with no
 * migration is refused as a stored one is); if it does not, the replay is not the transition that was committed, and the store refuses to
 * open (MachineVersionError) until it is opened once by the old version, whose clean close
 * checkpoints every actor (journal.ts). The same check guards a replay by the same version.
 */
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import type { JournalRecord } from './journal-record.ts';
import type { Db } from './store.ts';
import { pureTransitions } from './pure-transition.ts';
import { MachineVersionError, persistedSnapshotOf, upgradeSnapshot, type PersistedSnapshot, type Versioned } from './versioning.ts';

/** A record format 2 and later leaves the snapshot out; format 1 (absent) has it. */
export const RECORD_FORMAT = 2;

/** What a replay starts from: the actor's previous snapshot and the machine version that made it. */
export interface ReplayBase {
  persisted: PersistedSnapshot;
  version: string;
  /** The live snapshot `persisted` was made from, when a replay made it: the next replay starts from it without restoring. */
  live?: AnyMachineSnapshot | undefined;
}

/** The snapshot after `record`, from the one before it (`undefined`: the actor's first record). */
export type Replayer = (base: ReplayBase | undefined, record: JournalRecord) => ReplayBase;

/** A kind's replayer and the machine version its snapshots are of. */
export interface KindReplay {
  version: string;
  replay: Replayer;
}

/** An actor definition as far as a replay needs it. */
export interface Replayable extends Versioned {
  input?: ((id: string) => unknown) | undefined;
}

/**
 * Whether `record` changed its actor's snapshot without storing it (a replay rebuilds it). A
 * record without `format` never does: it stores its snapshot, or it is bookkeeping, or it is a
 * history record converted from a version-2 store (schema.ts), which its actor's row covers.
 */
export function needsReplay(record: JournalRecord): boolean {
  return (record.format ?? 1) >= RECORD_FORMAT && record.snapshot === undefined && record.event !== undefined && record.to !== undefined;
}

/** A live snapshot of `def`'s machine from a stored one, as the host loads it. */
export function restore(def: Replayable, id: string, base: ReplayBase): AnyMachineSnapshot {
  const persisted = upgradeSnapshot(def, id, base.version, base.persisted);
  const context: unknown = def.context ? def.context.parse(persisted.context) : persisted.context;
  return def.machine.resolveState({ value: persisted.value, context });
}

export function kindReplay(def: Replayable): KindReplay {
  return { version: def.version, replay: replayerOf(def) };
}

/** An actor's latest snapshot as a store's tables and journal give it, from outside its host. */
export interface LatestActor extends ReplayBase {
  kind: string;
  id: string;
  seq: number;
  pos: number;
  at: number;
}

/**
 * The actors changed after a store's checkpoint (`meta.journal_checkpoint`), as the journal's
 * records after their rows make them: stored snapshots taken, others replayed by `replayers`
 * (an actor of a kind without one keeps its row). For a store read from outside its host.
 */
export function latestAfterCheckpoint(db: Db, replayers: ReadonlyMap<string, KindReplay>, kind?: string): Map<string, LatestActor> {
  const out = new Map<string, LatestActor>();
  const checkpoint = Number(db.prepare(`SELECT value FROM meta WHERE key = 'journal_checkpoint'`).pluck().get() ?? 0);
  const rowOf = db.prepare('SELECT snapshot, machine_version, pos FROM actors WHERE kind = ? AND id = ?');
  const rowsByKey = new Map<string, { snapshot: string; machine_version: string; pos: number } | null>();
  const sql = `SELECT pos, kind, id, record FROM journal WHERE pos > ?${kind === undefined ? '' : ' AND kind = ?'} ORDER BY pos`;
  const rows = db.prepare(sql).iterate(...(kind === undefined ? [checkpoint] : [checkpoint, kind])) as IterableIterator<{ pos: number; kind: string; id: string; record: string }>;
  for (const r of rows) {
    const key = `${r.kind}/${r.id}`;
    let row = rowsByKey.get(key);
    if (row === undefined) rowsByKey.set(key, (row = (rowOf.get(r.kind, r.id) as { snapshot: string; machine_version: string; pos: number } | undefined) ?? null));
    if (r.pos <= (row?.pos ?? 0)) continue; // already in its row (rows are written a slice at a time)
    const rec = JSON.parse(r.record) as JournalRecord;
    let next: ReplayBase | undefined;
    if (rec.snapshot) next = { persisted: rec.snapshot, version: rec.version ?? '' };
    else if (needsReplay(rec)) {
      const k = replayers.get(r.kind);
      if (!k) continue;
      const before = out.get(key) ?? (row ? { persisted: JSON.parse(row.snapshot) as PersistedSnapshot, version: row.machine_version } : undefined);
      next = k.replay(before, rec);
    }
    if (next) out.set(key, { ...next, kind: r.kind, id: r.id, seq: rec.seq, pos: r.pos, at: rec.at });
  }
  return out;
}

export function replayerOf(def: Replayable): Replayer {
  const machine = pureTransitions(def.machine);
  return (base, record) => {
    if (record.snapshot) return { persisted: record.snapshot, version: record.version ?? def.version };
    const start = base ? (base.live ?? restore(def, record.id, base)) : machine.initialTransition(def.input ? def.input(record.id) : { id: record.id })[0];
    const [next] = machine.transition(start, record.event as EventObject);
    const persisted = persistedSnapshotOf(def.machine, next);
    // The state the record names, as this version names it (a migration may rename it).
    const to = record.version !== undefined && record.version !== def.version ? upgradeSnapshot(def, record.id, record.version, { ...persisted, value: record.to! }).value : record.to;
    const reached = JSON.stringify(next.value);
    if (reached !== JSON.stringify(to)) {
      throw new MachineVersionError(def.kind, def.version, [
        {
          version: record.version ?? '?',
          state: JSON.stringify(record.to),
          count: 1,
          ids: [record.id],
          reason: `replaying its record ${record.seq} (${record.event?.type ?? '?'}) reaches ${reached}: open the store once with version ${record.version ?? '?'} so that it checkpoints`,
        },
      ]);
    }
    return { persisted, version: def.version, live: next };
  };
}

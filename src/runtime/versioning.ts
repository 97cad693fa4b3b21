/**
 * Machine versions of stored snapshots. Each snapshot row carries the version of the machine that
 * wrote it. A host refuses to start while an in-flight actor sits in a state its machine no longer
 * has, unless the definition registers a migration from that version; older snapshots whose state
 * still exists load as they are (their context is still parsed by the definition's schema).
 */
import type { AnyMachineSnapshot, AnyStateMachine, StateValue } from 'xstate';
import type { ZodType } from 'zod';
import type { Db } from './store.ts';

/** A snapshot as stored: `machine.getPersistedSnapshot()`, as JSON. */
export interface PersistedSnapshot {
  value: StateValue;
  context: unknown;
  status?: string;
  [key: string]: unknown;
}

/**
 * `machine.getPersistedSnapshot(snapshot)`, the same JSON, without its walk of the whole context.
 * xstate's copies the snapshot's fields by rest destructuring and walks every object of the context
 * looking for actor refs to replace; our machines spawn and invoke nothing (docs/architecture.md,
 * "Machines decide; hosts act"), so their contexts hold none and their snapshots have no children.
 * A snapshot that has children still goes through xstate's. The context is shared with the live
 * snapshot, not copied: the machines never change a context they made, and nothing changes a
 * stored one (a migration runs only on a snapshot of another version, read from JSON).
 */
export function persistedSnapshotOf(machine: AnyStateMachine, snapshot: AnyMachineSnapshot): PersistedSnapshot {
  if (hasAny(snapshot.children as object)) return machine.getPersistedSnapshot(snapshot) as unknown as PersistedSnapshot;
  const historyValue: Record<string, Array<{ id: string }>> = {};
  const history = snapshot.historyValue as Record<string, unknown> | undefined;
  for (const key in history) {
    const nodes = history[key];
    if (Array.isArray(nodes)) historyValue[key] = nodes.map((n: { id: string }) => ({ id: n.id }));
  }
  // xstate's key order: its snapshot's own (status, output, error, value, historyValue), then context, children.
  const value = snapshot.value as StateValue;
  const context: unknown = snapshot.context;
  return { status: snapshot.status, output: snapshot.output, error: snapshot.error, value, historyValue, context, children: {} };
}

function hasAny(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

/** By the version that stored a snapshot: turns it into one the current machine accepts. */
export type SnapshotMigrations = Record<string, (persisted: PersistedSnapshot) => PersistedSnapshot>;

export interface Versioned {
  kind: string;
  version: string;
  machine: AnyStateMachine;
  context?: ZodType | undefined;
  migrations?: SnapshotMigrations | undefined;
}

export interface AffectedActors {
  version: string;
  state: string;
  count: number;
  /** The first few, sorted. */
  ids: string[];
  reason: string;
}

/** Stored actors the current machine cannot run, and no migration makes runnable. */
export class MachineVersionError extends Error {
  override readonly name = 'MachineVersionError';
  constructor(
    readonly kind: string,
    readonly version: string,
    readonly affected: readonly AffectedActors[],
  ) {
    super(
      `${kind}: refusing to run machine version ${version}: ` +
        affected
          .map((a) => `${a.count} in-flight actor(s) stored by version ${a.version} in state ${a.state} (${a.reason}): ${a.ids.join(', ')}${a.count > a.ids.length ? ', …' : ''}`)
          .join('; ') +
        `. Register a migration from that version in the ${kind} definition, or let those actors finish on the old version first.`,
    );
  }
}

/** Whether `value` names states the machine has, in every region and at every depth. */
export function hasState(machine: AnyStateMachine, value: unknown): boolean {
  const walk = (node: AnyStateMachine['root'], v: unknown): boolean => {
    if (typeof v === 'string') return node.states[v] !== undefined;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
    return Object.entries(v as Record<string, unknown>).every(([key, sub]) => {
      const child = node.states[key];
      if (!child) return false;
      const leaf = sub === undefined || (typeof sub === 'object' && sub !== null && Object.keys(sub).length === 0);
      return leaf || walk(child, sub);
    });
  };
  return walk(machine.root, value);
}

/** A snapshot stored by `version`, as the current machine runs it: migrated if registered, then checked. */
export function upgradeSnapshot(def: Versioned, id: string, version: string, persisted: PersistedSnapshot): PersistedSnapshot {
  if (version === def.version) return persisted;
  const migrate = def.migrations?.[version];
  const out = migrate ? migrate(persisted) : persisted;
  if (!hasState(def.machine, out.value)) {
    const reason = migrate ? 'the migration gave a state this machine lacks' : 'no such state, and no migration';
    throw new MachineVersionError(def.kind, def.version, [{ version, state: JSON.stringify(out.value), count: 1, ids: [id], reason }]);
  }
  return out;
}

/**
 * Throws MachineVersionError naming every in-flight actor of `def.kind` that the current machine
 * cannot run. States are checked once per (version, state); snapshots of a version with a
 * migration are migrated in memory and checked one by one, context included.
 */
export function checkStoredVersions(db: Db, def: Versioned): void {
  const groups = db
    .prepare(`SELECT machine_version AS version, state, count(*) AS n FROM actors WHERE kind = ? AND status = 'active' GROUP BY machine_version, state`)
    .all(def.kind) as Array<{ version: string; state: string; n: number }>;
  const rowsOf = db.prepare(`SELECT id, snapshot FROM actors WHERE kind = ? AND status = 'active' AND machine_version = ? AND state = ? ORDER BY id`);
  const affected: AffectedActors[] = [];
  for (const g of groups) {
    if (g.version !== def.version && def.migrations?.[g.version]) {
      const failed: string[] = [];
      let reason = '';
      for (const r of rowsOf.iterate(def.kind, g.version, g.state) as IterableIterator<{ id: string; snapshot: string }>) {
        try {
          def.context?.parse(upgradeSnapshot(def, r.id, g.version, JSON.parse(r.snapshot) as PersistedSnapshot).context);
        } catch (err) {
          failed.push(r.id);
          reason = `its migration fails: ${err instanceof Error ? err.message.slice(0, 200) : String(err)}`;
        }
      }
      if (failed.length) affected.push({ version: g.version, state: g.state, count: failed.length, ids: failed.slice(0, 20), reason });
    } else if (!hasState(def.machine, JSON.parse(g.state))) {
      const reason = g.version === def.version ? 'no such state in this very version: bump the version and register a migration' : 'no such state, and no migration';
      const ids = (rowsOf.all(def.kind, g.version, g.state) as Array<{ id: string }>).slice(0, 20).map((r) => r.id);
      affected.push({ version: g.version, state: g.state, count: g.n, ids, reason });
    }
  }
  if (affected.length) throw new MachineVersionError(def.kind, def.version, affected);
}

/**
 * What `npm run replay` prints: an actor's transition trace as the host recorded it (event,
 * from-state, to-state, actions), and the same events replayed through the machine in this
 * checkout of the code. With `against`, the recorded history is taken as the behaviour of that
 * machine version, and every step where the current machine would decide differently is named,
 * with the final state each would reach.
 */
import { statePaths, type JournalEntry, type RecordedAction } from '../../runtime/journal-queries.ts';
import { refLabel } from './graph.ts';
import type { MachineEntry } from './machines.ts';
import { canonical, replayJournal, type ReplayResult } from './replay.ts';

export interface StoredActor {
  id: string;
  machineVersion: string;
  status: string;
  stateValue: unknown;
  journal: JournalEntry[];
  journalTruncated: boolean;
}

export interface ReplayReport {
  kind: string;
  id: string;
  storedVersion: string;
  machineVersion: string;
  /** The version the operator said the history was recorded with, if any. */
  against: string | undefined;
  steps: ReplayResult['steps'];
  recorded: JournalEntry[];
  final: {
    recorded: { value: unknown; status: string };
    replayed: ReplayResult['final'];
  };
  divergences: ReplayResult['divergences'];
  /** The current machine reproduces the recorded history exactly, to the stored final state. */
  agrees: boolean;
  warnings: string[];
}

export function replayReport(entry: MachineEntry, stored: StoredActor, against?: string): ReplayReport {
  const result = replayJournal(entry.machine, entry.input(stored.id), stored.journal);
  const warnings: string[] = [];
  if (against !== undefined && against !== stored.machineVersion) {
    warnings.push(`the stored snapshot says machine version ${stored.machineVersion}, not ${against}: the journal may mix versions`);
  }
  if (stored.journalTruncated) warnings.push('the journal was cut; only its first part is replayed');
  const agrees = result.divergences.length === 0 && canonical(result.final.value) === canonical(stored.stateValue) && result.final.status === stored.status;
  return {
    kind: entry.name,
    id: stored.id,
    storedVersion: stored.machineVersion,
    machineVersion: entry.version,
    against,
    steps: result.steps,
    recorded: stored.journal,
    final: { recorded: { value: stored.stateValue, status: stored.status }, replayed: result.final },
    divergences: result.divergences,
    agrees,
    warnings,
  };
}

const state = (v: unknown) => (v === null || v === undefined ? '(new)' : statePaths(v).join(' | '));
/** `startTimer(timer=reserveInventory, ms=3000)`; long params (a whole order) shrink to `(…)`. */
const actions = (as: readonly RecordedAction[]) =>
  as
    .map((a) => {
      const label = refLabel({ type: a.type, params: a.params });
      return label.length - a.type.length > 60 ? `${a.type}(…)` : label;
    })
    .join(', ') || '-';
const clock = (ms: number) => new Date(ms).toISOString().slice(11, 23);

/** The report as text for a terminal. */
export function formatReplayReport(r: ReplayReport): string {
  const out: string[] = [];
  out.push(`${r.kind} ${r.id}: stored by machine version ${r.storedVersion}; this code has version ${r.machineVersion}`);
  for (const w of r.warnings) out.push(`warning: ${w}`);
  out.push('', 'Recorded transitions (from the journal):');
  const rows = r.recorded.map((j) => [String(j.seq), clock(j.at), j.event.type, `${state(j.from)} -> ${state(j.to)}`, actions(j.actions), j.messageId ?? 'timer']);
  out.push(...table(['#', 'time', 'event', 'from -> to', 'actions', 'message'], rows));
  out.push('', `recorded final state:  ${state(r.final.recorded.value)} (${r.final.recorded.status})`);
  out.push(`replayed final state:  ${state(r.final.replayed.value)} (${r.final.replayed.status}), with machine version ${r.machineVersion}`);
  if (r.against !== undefined || !r.agrees) {
    out.push('');
    if (r.agrees) out.push(`The current machine (version ${r.machineVersion}) decides every step exactly as version ${r.against ?? r.storedVersion} did.`);
    else {
      out.push(`The current machine (version ${r.machineVersion}) would differ from the recorded history (version ${r.against ?? r.storedVersion}):`);
      for (const d of r.divergences) {
        const event = r.recorded.find((j) => j.seq === d.seq)?.event.type ?? '?';
        for (const diff of d.differences) out.push(`  step ${d.seq} (${event}): ${diff}`);
      }
      if (canonical(r.final.recorded.value) !== canonical(r.final.replayed.value)) {
        out.push(`  outcome: recorded ${state(r.final.recorded.value)}, the current machine would be in ${state(r.final.replayed.value)}`);
      }
    }
  }
  return `${out.join('\n')}\n`;
}

function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length))));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

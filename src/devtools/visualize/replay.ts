/**
 * Replays an actor's journal through a machine. The host journals every event it applied, with
 * the state it went to and the actions it executed, and machines are pure, so feeding the same
 * events to the same machine must give the same states and actions, step by step. That is what
 * time travel in the explorer shows, and what `npm run replay -- --against` checks when the
 * machine has changed: any step where the current machine would decide differently is reported.
 */
import { initialTransition, transition, type AnyMachineSnapshot, type AnyStateMachine, type EventObject, type StateValue } from 'xstate';
import type { JournalEntry, RecordedAction } from '../../runtime/journal-queries.ts';

export interface ReplayStep {
  /** 0 is the initial state, before any event; then the journal's seq. */
  seq: number;
  at: number | null;
  event: EventObject | null;
  messageId: string | null;
  causationId: string | null;
  from: StateValue | null;
  to: StateValue;
  actions: RecordedAction[];
  status: string;
  context: unknown;
  /** Where the machine disagrees with what was recorded at this step; empty when it agrees. */
  differences: string[];
}

export interface ReplayResult {
  steps: ReplayStep[];
  final: { value: StateValue; status: string; context: unknown };
  /** The steps that differ from the journal, in order. */
  divergences: Array<{ seq: number; differences: string[] }>;
}

/** Key-order independent JSON, so `{a, b}` and `{b, a}` compare equal. */
export function canonical(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonical).join(',')}]`;
  if (x !== null && typeof x === 'object') {
    const entries = Object.entries(x as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(x) ?? 'null';
}

const plain = <T>(x: T): T => (x === undefined ? x : (JSON.parse(JSON.stringify(x)) as T));
const valueOf = (s: AnyMachineSnapshot): StateValue => plain(s.value as StateValue);

/** The actions the host executes: xstate's own (assign, raise…) are applied by the transition itself. */
function executed(actions: ReadonlyArray<{ type: string; params?: unknown }>): RecordedAction[] {
  return actions.filter((a) => !a.type.startsWith('xstate.')).map((a) => (a.params === undefined ? { type: a.type } : { type: a.type, params: plain(a.params) }));
}

export function replayJournal(machine: AnyStateMachine, input: unknown, journal: readonly JournalEntry[]): ReplayResult {
  const [initial, initActions] = initialTransition(machine, input) as [AnyMachineSnapshot, Array<{ type: string; params?: unknown }>];
  let current = initial;
  let pendingInit = executed(initActions);
  const steps: ReplayStep[] = [
    { seq: 0, at: null, event: null, messageId: null, causationId: null, from: null, to: valueOf(initial), actions: [], status: initial.status, context: plain<unknown>(initial.context), differences: [] },
  ];
  const divergences: ReplayResult['divergences'] = [];
  for (const entry of journal) {
    const [next, actions] = transition(machine, current, entry.event) as [AnyMachineSnapshot, Array<{ type: string; params?: unknown }>];
    const accepted = next !== current;
    const did = accepted ? [...pendingInit, ...executed(actions)] : [];
    const differences: string[] = [];
    if (!accepted) differences.push(`${entry.event.type} is not accepted in state ${canonical(current.value)}`);
    else {
      if (canonical(next.value) !== canonical(entry.to)) {
        differences.push(`goes to ${canonical(next.value)}, recorded ${canonical(entry.to)}`);
      }
      if (canonical(did) !== canonical(entry.actions)) {
        differences.push(`actions ${actionList(did)}, recorded ${actionList(entry.actions)}`);
      }
    }
    steps.push({
      seq: entry.seq,
      at: entry.at,
      event: entry.event,
      messageId: entry.messageId,
      causationId: entry.causationId,
      from: valueOf(current),
      to: valueOf(next),
      actions: did,
      status: next.status,
      context: plain<unknown>(next.context),
      differences,
    });
    if (differences.length) divergences.push({ seq: entry.seq, differences });
    if (accepted) {
      current = next;
      pendingInit = [];
    }
  }
  return { steps, final: { value: valueOf(current), status: current.status, context: plain<unknown>(current.context) }, divergences };
}

function actionList(actions: readonly RecordedAction[]): string {
  return actions.length ? actions.map((a) => (a.params === undefined ? a.type : `${a.type}${canonical(a.params)}`)).join(', ') : '(none)';
}

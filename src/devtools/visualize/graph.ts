/**
 * A machine as plain data: its state nodes and every transition, including the eventless
 * (`always`) ones that `toDirectedGraph` leaves out. Mermaid, SVG and the Stately JSON are all
 * drawn from this one model, so the three cannot disagree about what the machine does.
 *
 * Only xstate's public graph utility (`xstate/graph`) and the state nodes it hands back are read;
 * nothing here runs the machine.
 */
import type { AnyStateMachine, StateValue } from 'xstate';
import { toDirectedGraph } from 'xstate/graph';

type AnyStateNode = AnyStateMachine['root'];
type DirectedGraphNode = ReturnType<typeof toDirectedGraph>;
type TransitionDefinition = DirectedGraphNode['edges'][number]['transition'];

/** A named action or guard with its params when they are static (a function of context is not). */
export interface NamedRef {
  type: string;
  params?: unknown;
  /** True when params are computed from context or event at run time. */
  dynamicParams?: boolean;
}

export interface StateInfo {
  /** xstate's id: `checkout.compensating.next`. */
  id: string;
  key: string;
  parent: string | undefined;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** The initial child's id, for a compound state. */
  initial: string | undefined;
  children: string[];
  depth: number;
  entry: NamedRef[];
  exit: NamedRef[];
  description: string | undefined;
}

export interface TransitionInfo {
  /** Stable within one machine: `<source>#<event or always>#<index>`. */
  id: string;
  source: string;
  /** Undefined for a targetless transition (actions only; the state does not change). */
  target: string | undefined;
  /** The event type, or undefined for an eventless (`always`) transition. */
  event: string | undefined;
  guard: NamedRef | undefined;
  /** An unguarded candidate that follows guarded ones for the same event: the "else" branch. */
  otherwise: boolean;
  reenter: boolean;
  actions: NamedRef[];
}

export interface MachineGraph {
  id: string;
  root: string;
  /** Document order: parents before children. */
  states: StateInfo[];
  transitions: TransitionInfo[];
}

/** Builds the graph of a machine from `toDirectedGraph`, adding each state's `always` transitions. */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const states: StateInfo[] = [];
  const transitions: TransitionInfo[] = [];

  const visit = (node: DirectedGraphNode, depth: number): void => {
    const sn = node.stateNode;
    states.push({
      id: sn.id,
      key: sn.key,
      parent: sn.parent?.id,
      type: sn.type,
      initial: sn.type === 'compound' ? sn.initial.target[0]?.id : undefined,
      children: node.children.map((c) => c.id),
      depth,
      entry: sn.entry.map(namedAction),
      exit: sn.exit.map(namedAction),
      description: sn.description,
    });
    // One graph edge per target; a transition is one entry, whatever its number of targets.
    const seen = new Set<TransitionDefinition>();
    const byEvent: TransitionDefinition[] = [];
    for (const edge of node.edges) {
      if (seen.has(edge.transition)) continue;
      seen.add(edge.transition);
      byEvent.push(edge.transition);
    }
    pushCandidates(transitions, sn, byEvent, (t) => String(t.eventType));
    pushCandidates(transitions, sn, sn.always ?? [], () => undefined);
    for (const child of node.children) visit(child, depth + 1);
  };
  visit(toDirectedGraph(machine), 0);
  return { id: machine.id, root: machine.root.id, states, transitions };
}

function pushCandidates(
  out: TransitionInfo[],
  source: AnyStateNode,
  candidates: readonly TransitionDefinition[],
  eventOf: (t: TransitionDefinition) => string | undefined,
): void {
  const guardedSoFar = new Map<string, boolean>();
  const counts = new Map<string, number>();
  for (const t of candidates) {
    const event = eventOf(t);
    const name = event ?? 'always';
    const index = counts.get(name) ?? 0;
    counts.set(name, index + 1);
    const guard = t.guard === undefined ? undefined : namedRef(t.guard);
    const targets = t.target && t.target.length > 0 ? t.target.map((n) => n.id) : [undefined];
    for (const target of targets) {
      out.push({
        id: `${source.id}#${name}#${index}`,
        source: source.id,
        target,
        event,
        guard,
        otherwise: guard === undefined && guardedSoFar.get(name) === true,
        reenter: t.reenter,
        actions: t.actions.map(namedAction),
      });
    }
    if (guard) guardedSoFar.set(name, true);
  }
}

function namedAction(action: unknown): NamedRef {
  const ref = namedRef(action);
  // assign() is a function typed 'xstate.assign'; inline assigns have no name of their own.
  return ref.type === 'xstate.assign' ? { type: 'assign' } : ref;
}

function namedRef(x: unknown): NamedRef {
  if (typeof x === 'string') return { type: x };
  if (typeof x === 'function') {
    const typed = (x as { type?: unknown }).type;
    return { type: typeof typed === 'string' ? typed : x.name || 'inline' };
  }
  if (x !== null && typeof x === 'object' && 'type' in x && typeof x.type === 'string') {
    const params = (x as { params?: unknown }).params;
    if (typeof params === 'function') return { type: x.type, dynamicParams: true };
    return params === undefined ? { type: x.type } : { type: x.type, params };
  }
  return { type: 'inline' };
}

/** `stepIs(reserveInventory)`, `isFraud`, `timerIs(timer=x, n=2)`. */
export function refLabel(ref: NamedRef): string {
  if (ref.params === undefined || ref.params === null || typeof ref.params !== 'object') return ref.type;
  const entries = Object.entries(ref.params as Record<string, unknown>);
  if (entries.length === 0) return ref.type;
  const value = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  const inner = entries.length === 1 ? value(entries[0]![1]) : entries.map(([k, v]) => `${k}=${value(v)}`).join(', ');
  return `${ref.type}(${inner})`;
}

/** The label of a transition: `event [guard]`, `always [guard]`, `event [else]`. */
export function transitionLabel(t: TransitionInfo): string {
  const event = t.event ?? 'always';
  const guard = t.guard ? ` [${refLabel(t.guard)}]` : t.otherwise ? ' [else]' : '';
  const flags = t.target === undefined ? ' (stays)' : t.reenter ? ' (re-enter)' : '';
  return `${event}${guard}${flags}`;
}

/**
 * The ids of every state node active in `value`, outermost first, or undefined if `value` names a
 * state the machine does not have.
 */
export function activeStateIds(machine: AnyStateMachine, value: StateValue): string[] | undefined {
  const ids: string[] = [];
  const walk = (node: AnyStateNode, v: StateValue): boolean => {
    if (typeof v === 'string') {
      const child = node.states[v];
      if (!child) return false;
      ids.push(child.id);
      return true;
    }
    for (const [key, sub] of Object.entries(v)) {
      const child = node.states[key];
      if (!child) return false;
      ids.push(child.id);
      if (sub !== undefined && !walk(child, sub)) return false;
    }
    return true;
  };
  return walk(machine.root, value) ? ids : undefined;
}

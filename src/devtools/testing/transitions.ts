/**
 * Transitions as coverage counts them: every transition *definition* of a machine, eventless
 * (`always`) ones included, since xstate/graph's `toDirectedGraph` leaves those out.
 *
 * Which definition an event actually took is read from a live actor's inspection stream
 * (`@xstate.microstep` carries the transitions of each microstep, eventless ones included), so a
 * guarded alternative (`payment.declined` with and without fraud) or an `always` branch counts as
 * covered only when it really ran, not when its event merely occurred.
 */
import {
  createActor,
  initialTransition,
  transition,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyStateNode,
  type AnyTransitionDefinition,
  type EventObject,
  type InspectionEvent,
} from 'xstate';
import { getStateNodes } from 'xstate/graph';

export interface TransitionInfo {
  /** Stable within a machine definition: source node, event (or `always`) and position. */
  id: string;
  source: string;
  event: string;
  guard: string | undefined;
  targets: string[];
  /** e.g. `authorizingPayment --payment.declined [isFraud]--> compensating`. */
  label: string;
}

const byDefinition = new WeakMap<AnyTransitionDefinition, TransitionInfo>();

/** A state node's path below the root, e.g. `compensating.voidingPayment`; the root is `(machine)`. */
export const nodeName = (n: AnyStateNode): string => (n.path.length ? n.path.join('.') : '(machine)');

function guardText(t: AnyTransitionDefinition): string | undefined {
  const g: unknown = t.guard;
  if (g === undefined) return undefined;
  if (typeof g === 'string') return g;
  if (g && typeof g === 'object' && 'type' in g) {
    const { type, params } = g as { type: string; params?: unknown };
    return params === undefined ? type : `${type} ${JSON.stringify(params)}`;
  }
  return 'inline guard';
}

/** Every transition the machine defines, in document order. */
export function transitionsOf(machine: AnyStateMachine): TransitionInfo[] {
  const nodes: AnyStateNode[] = [machine.root, ...getStateNodes(machine.root)];
  const out: TransitionInfo[] = [];
  for (const node of nodes) {
    const groups: Array<[string, readonly AnyTransitionDefinition[]]> = [...node.transitions.entries()];
    if (node.always?.length) groups.push(['always', node.always]);
    for (const [event, defs] of groups) {
      defs.forEach((t, i) => {
        const source = nodeName(node);
        const targets = (t.target ?? []).map(nodeName);
        const guard = guardText(t);
        const info: TransitionInfo = {
          id: `${source}|${event}|${i}`,
          source,
          event,
          guard,
          targets,
          label: `${source} --${event}${guard ? ` [${guard}]` : ''}--> ${targets.length ? targets.join(', ') : '(stays)'}`,
        };
        byDefinition.set(t, info);
        out.push(info);
      });
    }
  }
  return out;
}

/** The transition info of a definition taken at run time (see `transitionsOf`). */
function infoOf(machine: AnyStateMachine, t: AnyTransitionDefinition): TransitionInfo {
  let info = byDefinition.get(t);
  if (!info) {
    transitionsOf(machine);
    info = byDefinition.get(t);
  }
  if (!info)
    throw new Error(`transition ${t.eventType} from ${t.source.id} is not part of machine ${machine.id}`);
  return info;
}

export interface Replayed {
  /** The snapshot after each event. */
  snapshots: AnyMachineSnapshot[];
  /** The transitions each event took (eventless ones it triggered included); empty if it changed nothing. */
  taken: TransitionInfo[][];
}

/**
 * A live actor of the machine, started from `from` (the initial state for an input, or a given
 * snapshot), that reports the transitions each event takes. The machines' actions are no-ops
 * until a host provides executors, so running them here has no effect.
 */
export class Stepper {
  private current: AnyTransitionDefinition[] = [];
  private readonly actor;
  snapshot: AnyMachineSnapshot;

  constructor(
    private readonly machine: AnyStateMachine,
    from: { input: unknown } | { snapshot: AnyMachineSnapshot },
  ) {
    const inspect = (e: InspectionEvent) => {
      if (e.type === '@xstate.microstep') this.current.push(...e._transitions);
    };
    this.actor =
      'snapshot' in from
        ? createActor(machine, { snapshot: machine.getPersistedSnapshot(from.snapshot), inspect })
        : createActor(machine, { input: from.input, inspect });
    this.actor.start();
    this.snapshot = this.actor.getSnapshot() as AnyMachineSnapshot;
  }

  send(event: EventObject): TransitionInfo[] {
    this.current = [];
    this.actor.send(event);
    this.snapshot = this.actor.getSnapshot() as AnyMachineSnapshot;
    return this.current.map((t) => infoOf(this.machine, t));
  }

  stop(): void {
    this.actor.stop();
  }
}

/** Sends `events` to a fresh `Stepper` and records the snapshot and transitions after each. */
export function replay(
  machine: AnyStateMachine,
  events: readonly EventObject[],
  from: { input: unknown } | { snapshot: AnyMachineSnapshot },
): Replayed {
  const stepper = new Stepper(machine, from);
  const out: Replayed = { snapshots: [], taken: [] };
  for (const event of events) {
    out.taken.push(stepper.send(event));
    out.snapshots.push(stepper.snapshot);
  }
  stepper.stop();
  return out;
}

/** The machine's initial snapshot for `input`. */
export function initialSnapshot(machine: AnyStateMachine, input: unknown): AnyMachineSnapshot {
  return createActor(machine, { input }).getSnapshot() as AnyMachineSnapshot;
}

export interface PureStep {
  snapshot: AnyMachineSnapshot;
  /** What `transition()` returned for the step (xstate's own bookkeeping actions left out). */
  actions: Array<{ type: string; params?: unknown }>;
}

/**
 * Runs event sequences through `transition()`, the pure function the actor host uses, sharing
 * the work for common prefixes: generated paths are mostly prefixes of one another.
 */
export class PureRunner {
  /** The initial snapshot every run starts from. */
  readonly initial: AnyMachineSnapshot;
  private readonly cache = new Map<string, PureStep>();

  constructor(
    private readonly machine: AnyStateMachine,
    input: unknown,
  ) {
    [this.initial] = initialTransition(machine, input);
  }

  run(events: readonly EventObject[]): PureStep[] {
    const out: PureStep[] = [];
    let key = '';
    let s = this.initial;
    for (const e of events) {
      key += `${JSON.stringify(e)}\n`;
      let step = this.cache.get(key);
      if (!step) {
        const [next, actions] = transition(this.machine, s, e);
        step = {
          snapshot: next,
          actions: (actions as PureStep['actions']).filter((a) => !a.type.startsWith('xstate.')),
        };
        this.cache.set(key, step);
      }
      out.push(step);
      s = step.snapshot;
    }
    return out;
  }
}

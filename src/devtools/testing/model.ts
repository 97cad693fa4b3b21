/**
 * What path generation needs to know about a machine, beyond the machine itself.
 *
 * The machines are pure, so xstate/graph can walk them directly; what it cannot invent are
 * events with payloads, a notion of which states are "the same" (a snapshot's context carries
 * ids and timestamps that would make every state unique), and the words a tester reads. A
 * `MachineModel` supplies exactly those: a sampler (a fixed set of events, one per outcome worth
 * telling apart), a state key (the state value plus the bounded part of the context that changes
 * what happens next) and plain-words renderers. The machine is always the real one from
 * src/machines, never a copy.
 */
import type { AnyMachineSnapshot, AnyStateMachine, EventObject } from 'xstate';

export interface MachineModel {
  /** The machine's name as `npm run paths -- --machine <name>` takes it. */
  name: string;
  /** One line on what the machine is, for the test plan's heading. */
  title: string;
  machine: AnyStateMachine;
  input: unknown;
  /**
   * The sampler: every event worth offering, with fixed payloads. Offered in every state (an
   * event a state does not handle changes nothing), so a transition the sampler cannot trigger
   * shows up as uncovered.
   */
  events: readonly EventObject[];
  /** The identity of a state for path generation: its value and the bounded context that matters. */
  stateKey(s: AnyMachineSnapshot): string;
  /**
   * Events after which the test model treats a state as new even if its key is unchanged, so that
   * a loop through them (an operator's retry, say) shows up in simple paths instead of being cut.
   */
  revisitOn?: readonly string[];
  /** The event in a tester's words, given the state it arrived in. */
  describeEvent(e: EventObject, before: AnyMachineSnapshot): string;
  /** How a scenario ending in `s` ends, in a tester's words, e.g. "(PAYMENT_FAILED)". */
  describeEnd(s: AnyMachineSnapshot): string;
  /**
   * The outcome group a scenario belongs to, from the states it passed through (the last is where
   * it ends), e.g. confirmed, each cancel reason, needs attention. A model with groups gets a test
   * plan of one page per group and an index (docs/test-plan/<machine>/); one without, a single page.
   */
  outcome?(states: readonly AnyMachineSnapshot[]): Outcome;
}

/** A group of scenarios by how they end; `key` names its page (`<key>.md`), `order` sorts the index. */
export interface Outcome {
  key: string;
  title: string;
  order: number;
}

/** One describer per event type, each given the event narrowed to its type. */
export type EventDescribers<E extends EventObject> = {
  [T in E['type']]: (e: Extract<E, { type: T }>, before: AnyMachineSnapshot) => string;
};

/**
 * A model's `describeEvent` from one describer per event type of the machine: a type left
 * without words is a compile error, as an exhaustive switch would make it.
 */
export function byEventType<E extends EventObject>(
  describers: EventDescribers<E>,
): MachineModel['describeEvent'] {
  const table = describers as unknown as Record<
    string,
    ((e: EventObject, before: AnyMachineSnapshot) => string) | undefined
  >;
  return (e, before) => table[e.type]?.(e, before) ?? e.type;
}

/** A state value as a dotted path, e.g. `compensating.voidingPayment.trying`. */
export function statePath(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const [k, v] = Object.entries(value as Record<string, unknown>)[0] ?? [];
    return k === undefined
      ? ''
      : v === undefined || (typeof v === 'object' && !Object.keys(v as object).length)
        ? k
        : `${k}.${statePath(v)}`;
  }
  return String(value);
}

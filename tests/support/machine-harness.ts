/**
 * Given/when for a pure machine: `given(...events)` folds events from the initial state, `when(s, e)`
 * takes one transition and returns what the host would execute (named actions, xstate's own left
 * out) and whether the snapshot changed. Nothing runs; this is the same transition() the host calls.
 */
import { initialTransition, transition, type AnyMachineSnapshot, type AnyStateMachine, type EventFrom, type InputFrom, type SnapshotFrom } from 'xstate';

export type Action = { type: string; params?: unknown };

export function machineHarness<M extends AnyStateMachine>(machine: M, input: InputFrom<M>) {
  const given = (...events: EventFrom<M>[]): AnyMachineSnapshot => {
    let [s] = initialTransition(machine, input);
    for (const e of events) [s] = transition(machine, s, e);
    return s;
  };
  const when = (s: AnyMachineSnapshot, e: EventFrom<M>): { next: AnyMachineSnapshot; actions: Action[]; changed: boolean } => {
    const [next, actions] = transition(machine, s as SnapshotFrom<M>, e);
    return {
      next,
      actions: (actions as Action[]).filter((a) => !a.type.startsWith('xstate.')).map((a) => ({ type: a.type, params: a.params })),
      changed: next !== s,
    };
  };
  return { given, when };
}

/**
 * xstate's pure `transition()` and `initialTransition()`, without their per-call cost.
 *
 * Each call of xstate's functions builds a throwaway "inert actor scope", and building it runs
 * `createActor(machine)`, which computes the machine's whole initial snapshot: about 20x the cost
 * of the transition itself (measured: ~480 µs against ~24 µs for the order machine). This builds the
 * inert scope once per machine and reuses it. That is safe for our machines because they are pure:
 * no invoke, no spawn, so nothing ever registers in the scope's actor system, and actions are only
 * collected, never executed. The results are identical: same snapshot, same `[snapshot, actions]`.
 */
import { createActor, type AnyMachineSnapshot, type AnyStateMachine, type EventObject } from 'xstate';

type Scope = Parameters<AnyStateMachine['transition']>[2];

export interface Action {
  type: string;
  params?: unknown;
}

export interface PureTransitions {
  initialTransition(input: unknown): [AnyMachineSnapshot, Action[]];
  transition(snapshot: AnyMachineSnapshot, event: EventObject): [AnyMachineSnapshot, Action[]];
}

export function pureTransitions(machine: AnyStateMachine): PureTransitions {
  const self = createActor(machine);
  let collected: Action[] = [];
  const scope = {
    self,
    defer: () => undefined,
    id: '',
    logger: () => undefined,
    sessionId: '',
    stopChild: () => undefined,
    system: self.system,
    emit: () => undefined,
    actionExecutor: (a: Action) => void collected.push(a),
  } as unknown as Scope;
  // Both calls are synchronous, so one `collected` per call cannot interleave with another's.
  const run = <T>(step: () => T): [T, Action[]] => {
    collected = [];
    const out = step();
    const actions = collected;
    collected = [];
    return [out, actions];
  };
  return {
    initialTransition: (input) => run(() => machine.getInitialSnapshot(scope, input) as AnyMachineSnapshot),
    transition: (snapshot, event) => run(() => machine.transition(snapshot, event, scope) as AnyMachineSnapshot),
  };
}

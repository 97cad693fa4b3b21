/**
 * What any correct checkout saga must do along a path, written from the catalog, not from the
 * machine: it is checked against the actions the machine returns (`transition()`, as the host
 * runs it), so a machine that drifts from the rules fails here with the path that shows it.
 *
 *  - forward steps run in order, each asked once, each with its deadline armed;
 *  - a timed-out step's request is abandoned (a late reply must not move the saga);
 *  - once a step fails, every step that was *attempted* is undone (a request that timed out may
 *    still have happened), newest first, and nothing that was not attempted is undone;
 *  - the order is cancelled with the catalog's reason for the failure;
 *  - a compensation past its deadline says NEEDS_ATTENTION; a confirmed saga undoes nothing.
 */
import type { AnyMachineSnapshot, AnyStateMachine, EventObject } from 'xstate';
import type {
  CancelReason,
  CheckoutActionParams,
  CheckoutEvent,
  CheckoutStep,
  FailureDetail,
} from '../../machines/checkout.ts';
import { statePath } from './model.ts';
import { PureRunner } from './transitions.ts';

type Action = { type: string; params?: unknown };

/** The precise failure each first failing event means (catalog: CheckoutStatus.detail). */
export function expectedFailure(before: string, e: CheckoutEvent): FailureDetail | undefined {
  if (before === 'reservingInventory') {
    if (e.type === 'inventory.unavailable' || (e.type === 'step.failed' && e.step === 'reserveInventory'))
      return 'OUT_OF_STOCK';
    if (e.type === 'timer.expired' && e.timer === 'reserveInventory') return 'INVENTORY_TIMEOUT';
  }
  if (before === 'authorizingPayment') {
    if (e.type === 'payment.declined') return e.fraud ? 'FRAUD' : 'PAYMENT_DECLINED';
    if (e.type === 'step.failed' && e.step === 'authorizePayment') return 'PAYMENT_DECLINED';
    if (e.type === 'timer.expired' && e.timer === 'authorizePayment') return 'PAYMENT_TIMEOUT';
  }
  if (before === 'creatingOrder') {
    if (e.type === 'order.rejected' || (e.type === 'step.failed' && e.step === 'createOrder'))
      return 'ORDER_REJECTED';
    if (e.type === 'timer.expired' && e.timer === 'createOrder') return 'ORDER_TIMEOUT';
  }
  return undefined;
}

/**
 * The catalog's coarse reason (CancelOrder.reason) for each failure: docs/contracts.md's table,
 * copied here on purpose rather than imported from `reasonForCause`. The oracle is independent
 * of the code it checks, so changing the code's map without changing the documented decision
 * (and this copy) fails the model tests.
 */
export const catalogReason: Record<FailureDetail, CancelReason> = {
  OUT_OF_STOCK: 'OUT_OF_STOCK',
  INVENTORY_TIMEOUT: 'OUT_OF_STOCK',
  PAYMENT_DECLINED: 'PAYMENT_FAILED',
  PAYMENT_TIMEOUT: 'PAYMENT_FAILED',
  FRAUD: 'FRAUD',
  ORDER_REJECTED: 'FRAUD',
  ORDER_TIMEOUT: 'PAYMENT_FAILED',
};

const forward = {
  reserveInventory: 'requestReserveInventory',
  authorizePayment: 'requestAuthorizePayment',
  createOrder: 'requestCreateOrder',
} as const;
const undo = {
  voidPayment: 'requestVoidPayment',
  releaseInventory: 'requestReleaseInventory',
  cancelOrder: 'requestCancelOrder',
} as const;
const undoOf = { authorizePayment: 'voidPayment', reserveInventory: 'releaseInventory' } as const;

export interface SpecRun {
  final: AnyMachineSnapshot;
  /** The actions each event returned, host-visible ones only. */
  actions: Action[][];
  problems: string[];
}

/** Runs `events` through `transition()` from the initial state and checks the saga's rules. */
export function checkSagaPath(
  machine: AnyStateMachine,
  input: unknown,
  events: readonly EventObject[],
  runner = new PureRunner(machine, input),
): SpecRun {
  const steps = runner.run(events);
  let s = runner.initial;
  const actions: Action[][] = [];
  const problems: string[] = [];
  const requested = new Map<string, number>();
  const firstAt = new Map<string, number>();
  let failure: FailureDetail | undefined;
  events.forEach((event, i) => {
    const before = statePath(s.value);
    const { snapshot: next, actions: visible } = steps[i]!;
    actions.push(visible);
    const e = event as CheckoutEvent;
    const at = `after event ${i + 1} (${e.type})`;
    failure ??= expectedFailure(before, e);
    for (const a of visible) {
      requested.set(a.type, (requested.get(a.type) ?? 0) + (a.type.startsWith('request') ? 1 : 0));
      if (!firstAt.has(a.type)) firstAt.set(a.type, i);
      if (a.type in undoRequests && !visible.some((t) => t.type === 'startTimer'))
        problems.push(`${a.type} without a deadline ${at}`);
    }
    for (const [step, action] of Object.entries(forward)) {
      if (
        visible.some((a) => a.type === action) &&
        !visible.some((a) => a.type === 'startTimer' && (a.params as { timer: string }).timer === step)
      ) {
        problems.push(`${action} without its deadline ${at}`);
      }
    }
    if (
      e.type === 'timer.expired' &&
      e.timer in forward &&
      before in forwardStates &&
      !visible.some((a) => a.type === 'cancelRequest')
    ) {
      problems.push(
        `the ${e.timer} request was not abandoned when its deadline passed ${at}: a late reply could still move the saga`,
      );
    }
    const path = statePath(next.value);
    if (
      path.endsWith('needsAttention') &&
      !before.endsWith('needsAttention') &&
      !publishes(visible, 'NEEDS_ATTENTION')
    ) {
      problems.push(`entered ${path} without saying NEEDS_ATTENTION ${at}`);
    }
    s = next;
  });
  const count = (a: string) => requested.get(a) ?? 0;
  for (const [step, action] of Object.entries(forward))
    if (count(action) > 1) problems.push(`${step} was asked ${count(action)} times`);
  const order = [forward.reserveInventory, forward.authorizePayment, forward.createOrder].filter((a) =>
    firstAt.has(a),
  );
  if (order.some((a, i) => i > 0 && firstAt.get(a)! <= firstAt.get(order[i - 1]!)!))
    problems.push('forward steps ran out of order');
  for (const [step, comp] of Object.entries(undoOf)) {
    if (count(undo[comp]) > 0 && count(forward[step as keyof typeof forward]) === 0)
      problems.push(`${comp} was requested although ${step} was never attempted`);
  }
  const end = statePath(s.value);
  if (end === 'confirmed') {
    for (const a of Object.values(undo))
      if (count(a) > 0) problems.push(`a confirmed checkout requested ${a}`);
    if (!actions.at(-1)?.some((a) => publishes([a], 'CONFIRMED')))
      problems.push('confirmed without saying CONFIRMED');
  }
  if (end === 'cancelled') {
    for (const [step, comp] of Object.entries(undoOf)) {
      if (count(forward[step as keyof typeof forward]) > 0 && count(undo[comp]) === 0) {
        problems.push(
          `missed compensation: ${comp} was never requested although ${step} was attempted (failure ${failure ?? 'unknown'})`,
        );
      }
    }
    if (count(undo.cancelOrder) === 0) problems.push('cancelled without requesting cancelOrder');
    const undone = [undo.voidPayment, undo.releaseInventory, undo.cancelOrder].filter((a) => firstAt.has(a));
    if (undone.some((a, i) => i > 0 && firstAt.get(a)! < firstAt.get(undone[i - 1]!)!))
      problems.push(`compensations ran out of order: ${undone.join(', ')}`);
    const cancel = actions.flat().find((a) => a.type === undo.cancelOrder)?.params as
      CheckoutActionParams['requestCancelOrder'] | undefined;
    if (failure && cancel && (cancel.detail !== failure || cancel.reason !== catalogReason[failure])) {
      problems.push(
        `cancelOrder says ${cancel.reason}/${cancel.detail}, the failure was ${catalogReason[failure]}/${failure}`,
      );
    }
    if (!actions.at(-1)?.some((a) => publishes([a], 'CANCELLED')))
      problems.push('cancelled without saying CANCELLED');
  }
  return { final: s, actions, problems };
}

const undoRequests: Record<string, CheckoutStep> = {
  requestVoidPayment: 'voidPayment',
  requestReleaseInventory: 'releaseInventory',
  requestCancelOrder: 'cancelOrder',
};
const forwardStates: Record<string, true> = {
  reservingInventory: true,
  authorizingPayment: true,
  creatingOrder: true,
};

function publishes(actions: readonly Action[], status: string): boolean {
  return actions.some(
    (a) => a.type === 'publishStatus' && (a.params as { status: string }).status === status,
  );
}

/**
 * How to make a checkout path happen for real: each event of a path maps to something a tester
 * can arrange around the running system, and this module works out *when* to arrange it.
 *
 *   inventory reserved / unavailable      the cart fits in stock / asks for more than there is
 *   payment authorized / declined / fraud a regular customer / a total above the payment limit /
 *                                         a customer on the fraud list
 *   payment timed out                     a customer whose authorizations stall past the deadline
 *   order created / rejected              a regular customer / one the Order Service refuses
 *   <step> timed out                      its participant is stopped (no responders) until then
 *   <step> answered with an error         its participant is stopped and a stand-in answers that
 *                                         one command with INTERNAL
 *   <undo> done, at last                  its participant is (back) up
 *   operator retried                      an operator re-sends the compensation
 *
 * The catch is timing: a participant can only be stopped for a compensation at a moment when the
 * saga is *waiting* (for a deadline, for an operator, for a participant that is down) after that
 * participant's last forward answer. A path that needs one where there is none is reported as not
 * realisable, with the reason, and stays covered by the pure-machine tier only.
 */
import type { AnyMachineSnapshot, AnyStateMachine, EventObject } from 'xstate';
import type { CheckoutEvent, CheckoutStep } from '../../machines/checkout.ts';
import { checkoutEvents, compensationIn } from './models/checkout.ts';
import { statePath } from './model.ts';
import { initialSnapshot, replay, Stepper } from './transitions.ts';

export type Participant = 'inventory' | 'payment' | 'order';
export type ParticipantCommand =
  | 'reserve-inventory'
  | 'release-inventory'
  | 'authorize-payment'
  | 'void-payment'
  | 'create-order'
  | 'cancel-order';

export type WorldAction =
  | { kind: 'stop'; participant: Participant }
  | { kind: 'start'; participant: Participant }
  | { kind: 'fault'; participant: Participant; command: ParticipantCommand }
  | { kind: 'operatorRetry' };

export type Customer = 'regular' | 'fraud' | 'stall' | 'refused';
export type Basket = 'fits' | 'exceedsStock' | 'exceedsLimit';

export interface Recipe {
  /** The complete event sequence the real saga must record, in order. */
  events: CheckoutEvent[];
  /** The state after each event (index 0: before the first). */
  states: AnyMachineSnapshot[];
  customer: Customer;
  basket: Basket;
  /** What to do once the saga has taken `at` events (0: before the shopper checks out). */
  actions: Array<{ at: number; action: WorldAction }>;
  /** The recipe in a tester's words. */
  words: string;
}

export type Realisation = { ok: true; recipe: Recipe } | { ok: false; reason: string };

const participantOf: Record<CheckoutStep, Participant> = {
  reserveInventory: 'inventory',
  releaseInventory: 'inventory',
  authorizePayment: 'payment',
  voidPayment: 'payment',
  createOrder: 'order',
  cancelOrder: 'order',
};
const commandOf: Record<CheckoutStep, ParticipantCommand> = {
  reserveInventory: 'reserve-inventory',
  releaseInventory: 'release-inventory',
  authorizePayment: 'authorize-payment',
  voidPayment: 'void-payment',
  createOrder: 'create-order',
  cancelOrder: 'cancel-order',
};
const doneEvent = {
  voidPayment: 'payment.voided',
  releaseInventory: 'inventory.released',
  cancelOrder: 'order.cancelled',
} as const;

/**
 * Completes a path the way a healthy world would go on: every pending step succeeds, a
 * compensation that timed out succeeds once its participant is back, and one that was refused
 * is retried by an operator (nothing else re-sends it).
 */
export function completeCheckout(
  machine: AnyStateMachine,
  input: unknown,
  events: readonly EventObject[],
): CheckoutEvent[] {
  const out = [...events] as CheckoutEvent[];
  const stepper = new Stepper(machine, { input });
  for (const e of out) stepper.send(e);
  try {
    for (let guard = 0; guard < 50; guard++) {
      const s = stepper.snapshot;
      if (s.status !== 'active') return out;
      const next = healthyNext(statePath(s.value), s, out.at(-1));
      if (!next) return out;
      out.push(next);
      stepper.send(next);
    }
  } finally {
    stepper.stop();
  }
  throw new Error('a completed checkout path did not end within 50 events');
}

function healthyNext(
  path: string,
  s: AnyMachineSnapshot,
  last: CheckoutEvent | undefined,
): CheckoutEvent | undefined {
  if (path === 'idle') return checkoutEvents[0];
  if (path === 'reservingInventory')
    return {
      type: 'inventory.reserved',
      reservationId: (s.context as { reservationId: string }).reservationId,
    };
  if (path === 'authorizingPayment')
    return { type: 'payment.authorized', authorizationId: '5a4e0c9d-8b16-5c5e-8cbe-8ebd5b6f7a06' };
  if (path === 'creatingOrder') return { type: 'order.created' };
  const step = compensationIn(s);
  if (!step) return undefined;
  if (path.endsWith('needsAttention') && last?.type === 'step.failed') return { type: 'operator.retry' };
  return { type: doneEvent[step] };
}

type Reach = 'answers' | 'silent' | 'errors';
type WorldState = 'up' | 'down' | { fault: ParticipantCommand };

const reach = (w: WorldState, command: ParticipantCommand): Reach =>
  w === 'up' ? 'answers' : w === 'down' ? 'silent' : w.fault === command ? 'errors' : 'silent';

/** Works out the recipe for a complete checkout path, or why no real run can follow it. */
export function realiseCheckout(
  machine: AnyStateMachine,
  input: unknown,
  events: readonly CheckoutEvent[],
): Realisation {
  const states = [initialSnapshot(machine, input), ...replay(machine, events, { input }).snapshots];
  const world: Record<Participant, WorldState> = { inventory: 'up', payment: 'up', order: 'up' };
  const answeredAt: Record<Participant, number> = { inventory: -1, payment: -1, order: -1 };
  const frozen = new Set<Participant>();
  const waits: number[] = [0];
  const actions: Array<{ at: number; action: WorldAction; unblocks: boolean }> = [];
  let customer: Customer = 'regular';
  let basket: Basket = 'fits';
  const act = (at: number, action: WorldAction, unblocks = false) => actions.push({ at, action, unblocks });
  const setWorld = (p: Participant, to: WorldState, at: number, unblocks = false) => {
    if (JSON.stringify(world[p]) === JSON.stringify(to)) return;
    act(
      at,
      to === 'up'
        ? { kind: 'start', participant: p }
        : to === 'down'
          ? { kind: 'stop', participant: p }
          : { kind: 'fault', participant: p, command: to.fault },
      unblocks,
    );
    world[p] = to;
  };
  /** Arranges `p` before the saga enters index `i`, at the latest moment the saga waits after p's last answer. */
  const before = (p: Participant, to: WorldState, i: number, why: string): string | undefined => {
    const j = [...waits].reverse().find((w) => w < i && w > answeredAt[p]);
    if (j === undefined || frozen.has(p))
      return `${why}: the saga never waits between ${p}'s last answer and that step, so ${p} cannot be changed in time`;
    setWorld(p, to, j);
    return undefined;
  };

  // events[i] is taken in states[i]; an action "at i" happens while the saga is in states[i].
  for (let i = 1; i < events.length; i++) {
    const at = statePath(states[i]!.value);
    const e = events[i]!;
    const fail = (reason: string): Realisation => ({
      ok: false,
      reason: `at event ${i + 1} (${e.type}): ${reason}`,
    });
    const forward = forwardStep(at);
    if (forward) {
      const p = participantOf[forward];
      if (e.type === 'timer.expired') {
        waits.push(i);
        if (forward === 'authorizePayment') {
          // A stall, not an outage: the payment service stays up, busy with this order until it answers.
          customer = 'stall';
          frozen.add(p);
        } else setWorld(p, 'down', 0);
      } else if (e.type === 'step.failed') {
        setWorld(p, { fault: commandOf[forward] }, 0);
        answeredAt[p] = i;
      } else {
        answeredAt[p] = i;
        if (e.type === 'inventory.unavailable') basket = 'exceedsStock';
        if (e.type === 'payment.declined' && e.fraud) customer = 'fraud';
        if (e.type === 'payment.declined' && !e.fraud) basket = 'exceedsLimit';
        if (e.type === 'order.rejected') customer = 'refused';
      }
      continue;
    }
    const step = compensationIn(states[i]!);
    if (!step) continue;
    const p = participantOf[step];
    const cmd = commandOf[step];
    const here = reach(world[p], cmd);
    if (at.endsWith('needsAttention')) {
      waits.push(i);
      if (e.type === 'step.failed')
        return fail(
          'a failure while the saga needs attention changes nothing the saga records, so no run can observe it',
        );
      if (e.type === 'operator.retry') {
        const then = events[i + 1];
        const want: WorldState =
          then?.type === 'timer.expired' ? 'down' : then?.type === 'step.failed' ? { fault: cmd } : 'up';
        setWorld(p, want, i);
        act(i, { kind: 'operatorRetry' }, true);
        continue;
      }
      if (events[i - 1]?.type === 'step.failed')
        return fail(
          `after ${cmd} answered with an error the host no longer re-sends it; only an operator's retry would`,
        );
      setWorld(p, 'up', i, true);
      continue;
    }
    if (events[i - 1]?.type === 'operator.retry') {
      // Arranged before the retry; the attempt's own deadline is a wait like any other.
      if (e.type === 'timer.expired') waits.push(i);
      continue;
    }
    if (e.type === 'timer.expired') {
      if (here !== 'silent') {
        const why = before(p, 'down', i, `${p} must not answer ${cmd}`);
        if (why) return fail(why);
      }
      waits.push(i);
    } else if (e.type === 'step.failed') {
      if (here === 'silent') setWorld(p, { fault: cmd }, i, true);
      else if (here === 'answers') {
        const why = before(p, { fault: cmd }, i, `${p} must answer ${cmd} with an error`);
        if (why) return fail(why);
      }
    } else if (here === 'silent') {
      waits.push(i);
      setWorld(p, 'up', i, true);
    } else if (here === 'errors') {
      const why = before(p, 'up', i, `${p} must answer ${cmd}`);
      if (why) return fail(why);
    }
  }
  const ordered = actions
    .map((a, n) => ({ ...a, n }))
    .sort((x, y) => x.at - y.at || Number(x.unblocks) - Number(y.unblocks) || x.n - y.n)
    .map(({ at, action }) => ({ at, action }));
  const recipe: Recipe = { events: [...events], states, customer, basket, actions: ordered, words: '' };
  recipe.words = recipeWords(recipe);
  return { ok: true, recipe };
}

function forwardStep(path: string): 'reserveInventory' | 'authorizePayment' | 'createOrder' | undefined {
  return path === 'reservingInventory'
    ? 'reserveInventory'
    : path === 'authorizingPayment'
      ? 'authorizePayment'
      : path === 'creatingOrder'
        ? 'createOrder'
        : undefined;
}

const customerWords: Record<Customer, string> = {
  regular: 'a customer',
  fraud: 'a customer on the fraud list',
  stall: 'a customer whose authorizations stall past the payment deadline',
  refused: 'a customer whose orders the Order Service refuses',
};
const basketWords: Record<Basket, string> = {
  fits: 'a cart that fits in stock',
  exceedsStock: 'a cart asking for more than is in stock',
  exceedsLimit: 'a cart whose total is above the payment limit',
};

function actionWords(a: WorldAction): string {
  switch (a.kind) {
    case 'stop':
      return `${a.participant} is stopped`;
    case 'start':
      return `${a.participant} is (re)started`;
    case 'fault':
      return `${a.participant} is stopped and a stand-in answers ${a.command} with an error`;
    case 'operatorRetry':
      return 'an operator retries';
    default: {
      const _exhaustive: never = a;
      return String(_exhaustive);
    }
  }
}

function recipeWords(r: Recipe): string {
  const parts = [`${customerWords[r.customer]} checks out ${basketWords[r.basket]}`];
  const byIndex = new Map<number, string[]>();
  for (const { at, action } of r.actions) byIndex.set(at, [...(byIndex.get(at) ?? []), actionWords(action)]);
  for (const [at, words] of byIndex) {
    const where = at === 0 ? 'before checkout' : `once the saga is in ${statePath(r.states[at]!.value)}`;
    parts.push(`${where}: ${words.join(', then ')}`);
  }
  return parts.join('; ');
}

/**
 * The checkout saga as path generation sees it: one event per outcome of every step (reserved,
 * unavailable, failed, timed out; authorized, declined, fraud, failed, timed out; created,
 * rejected, failed, timed out), every compensation's success, failure and deadline, and the
 * operator's retry. The state key keeps what decides the rest of the saga: where it is, which
 * forward steps it attempted, which compensations it completed, and why it failed.
 */
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import {
  checkoutMachine,
  type CheckoutContext,
  type CheckoutEvent,
  type CheckoutStep,
} from '../../../machines/checkout.ts';
import { reasonForCause } from '../../../contracts/index.ts';
import { statePath, type MachineModel, type Outcome } from '../model.ts';

export const sampleCheckout = {
  checkoutId: '0b9b5d4e-36c1-5d0f-9d6f-3f6e0c1a2b01',
  orderId: '1c8a4e3f-47d2-5e1a-8e7a-4a7f1d2b3c02',
  reservationId: '2d7b3f2a-58e3-5f2b-9f8b-5b8a2e3c4d03',
  cartId: '3e6c2a1b-69f4-4a3c-8a9c-6c9b3f4d5e04',
  customerId: '4f5d1b0c-7a05-4b4d-9bad-7dac4a5e6f05',
  authorizationId: '5a4e0c9d-8b16-5c5e-8cbe-8ebd5b6f7a06',
} as const;

const steps: readonly CheckoutStep[] = [
  'reserveInventory',
  'authorizePayment',
  'createOrder',
  'voidPayment',
  'releaseInventory',
  'cancelOrder',
];

const started: CheckoutEvent = {
  type: 'checkout.started',
  now: 1_767_225_600_000,
  checkoutId: sampleCheckout.checkoutId,
  orderId: sampleCheckout.orderId,
  reservationId: sampleCheckout.reservationId,
  cartId: sampleCheckout.cartId,
  customerId: sampleCheckout.customerId,
  items: [{ productId: '6b3f9d8e-9c27-5d6f-9dcf-9fce6c7a8b07', quantity: 2, unitPrice: 1_250 }],
  subtotal: 2_500,
  discount: 0,
  total: 2_500,
  currency: 'USD',
  deadlines: {
    reserveInventoryMs: 10_000,
    authorizePaymentMs: 15_000,
    createOrderMs: 10_000,
    compensationMs: 60_000,
  },
};

export const checkoutEvents: readonly CheckoutEvent[] = [
  started,
  { type: 'inventory.reserved', reservationId: sampleCheckout.reservationId },
  { type: 'inventory.unavailable' },
  { type: 'payment.authorized', authorizationId: sampleCheckout.authorizationId },
  { type: 'payment.declined', fraud: false },
  { type: 'payment.declined', fraud: true },
  { type: 'order.created' },
  { type: 'order.rejected' },
  { type: 'payment.voided' },
  { type: 'inventory.released' },
  { type: 'order.cancelled' },
  ...steps.map((step): CheckoutEvent => ({ type: 'step.failed', step, code: 'INTERNAL' })),
  ...steps.map((timer): CheckoutEvent => ({ type: 'timer.expired', timer })),
  { type: 'operator.retry' },
];

const ctx = (s: AnyMachineSnapshot) => s.context as CheckoutContext;

const short: Record<CheckoutStep, string> = {
  reserveInventory: 'reserve',
  authorizePayment: 'authorize',
  createOrder: 'create',
  voidPayment: 'void',
  releaseInventory: 'release',
  cancelOrder: 'cancel',
};

/** The compensation a state is working on, if any. */
export function compensationIn(
  s: AnyMachineSnapshot,
): 'voidPayment' | 'releaseInventory' | 'cancelOrder' | undefined {
  const p = statePath(s.value);
  if (p.startsWith('compensating.voidingPayment')) return 'voidPayment';
  if (p.startsWith('compensating.releasingInventory')) return 'releaseInventory';
  if (p.startsWith('compensating.cancellingOrder')) return 'cancelOrder';
  return undefined;
}

const undoWords: Record<'voidPayment' | 'releaseInventory' | 'cancelOrder', string> = {
  voidPayment: 'the payment void',
  releaseInventory: 'the reservation release',
  cancelOrder: 'the order cancellation',
};

const failedWords: Record<CheckoutStep, string> = {
  reserveInventory: 'inventory answered with an error',
  authorizePayment: 'payment answered with an error',
  createOrder: 'order service answered with an error',
  voidPayment: 'payment void answered with an error',
  releaseInventory: 'reservation release answered with an error',
  cancelOrder: 'order cancellation answered with an error',
};

const timeoutWords: Record<CheckoutStep, string> = {
  reserveInventory: 'inventory timed out',
  authorizePayment: 'payment timed out',
  createOrder: 'order creation timed out',
  voidPayment: 'payment void timed out',
  releaseInventory: 'reservation release timed out',
  cancelOrder: 'order cancellation timed out',
};

export function describeCheckoutEvent(e: EventObject, before: AnyMachineSnapshot): string {
  const ev = e as CheckoutEvent;
  const inAttention = statePath(before.value).endsWith('needsAttention');
  switch (ev.type) {
    case 'checkout.started':
      return 'cart checked out';
    case 'inventory.reserved':
      return 'inventory reserved';
    case 'inventory.unavailable':
      return 'inventory unavailable';
    case 'payment.authorized':
      return 'payment authorized';
    case 'payment.declined':
      return ev.fraud ? 'payment refused as fraud' : 'payment declined';
    case 'order.created':
      return 'order created';
    case 'order.rejected':
      return 'order rejected';
    case 'payment.voided':
      return inAttention ? 'payment voided at last' : 'payment voided';
    case 'inventory.released':
      return inAttention ? 'reservation released at last' : 'reservation released';
    case 'order.cancelled':
      return inAttention ? 'order cancelled at last' : 'order cancelled';
    case 'step.failed':
      return inAttention ? `${failedWords[ev.step]} again` : failedWords[ev.step];
    case 'timer.expired':
      return timeoutWords[ev.timer];
    case 'operator.retry': {
      const step = compensationIn(before);
      return step ? `operator retried ${undoWords[step]}` : 'operator retried';
    }
    default: {
      const _exhaustive: never = ev;
      return String(_exhaustive);
    }
  }
}

/** `confirmed`, `cancelled`, `needsAttention` or the state a path stops in, in words. */
export function describeCheckoutEnd(s: AnyMachineSnapshot): string {
  const c = ctx(s);
  const path = statePath(s.value);
  if (path === 'confirmed') return '(CONFIRMED)';
  if (path === 'cancelled') return `(${c.failure ? reasonForCause[c.failure] : 'no failure recorded'})`;
  if (path.endsWith('needsAttention')) return '(NEEDS_ATTENTION)';
  return `(stops ${inWords[path] ?? `in ${path}`})`;
}

const inWords: Record<string, string> = {
  idle: 'before checkout',
  reservingInventory: 'while reserving inventory',
  authorizingPayment: 'while authorizing payment',
  creatingOrder: 'while creating the order',
  'compensating.voidingPayment.trying': 'while voiding the payment',
  'compensating.releasingInventory.trying': 'while releasing the reservation',
  'compensating.cancellingOrder.trying': 'while cancelling the order',
};

const reasonOrder = ['OUT_OF_STOCK', 'PAYMENT_FAILED', 'FRAUD', 'CUSTOMER_REQUESTED'];

/**
 * A checkout scenario's outcome as the shopper and the operator see it: confirmed; cancelled, by
 * the catalog's reason; or needs attention (it stops in needsAttention, or an operator retried an
 * undo and the scenario stops there); anything else stops while the saga is still working.
 */
export function checkoutOutcome(states: readonly AnyMachineSnapshot[]): Outcome {
  const end = states.at(-1)!;
  const path = statePath(end.value);
  if (path === 'confirmed') return { key: 'confirmed', title: 'Confirmed', order: 0 };
  if (path === 'cancelled') {
    const reason = reasonForCause[ctx(end).failure ?? 'CUSTOMER_REQUESTED'];
    return {
      key: `cancelled-${reason.toLowerCase().replaceAll('_', '-')}`,
      title: `Cancelled: ${reason}`,
      order: 1 + reasonOrder.indexOf(reason),
    };
  }
  if (states.some((s) => statePath(s.value).endsWith('needsAttention')))
    return { key: 'needs-attention', title: 'Needs attention', order: 10 };
  return { key: 'in-progress', title: 'Stops while the saga is working', order: 11 };
}

export function checkoutKey(s: AnyMachineSnapshot): string {
  const c = ctx(s);
  const list = (xs: readonly CheckoutStep[]) => xs.map((x) => short[x]).join(',');
  return `${statePath(s.value)} attempted=[${list(c.attempted)}] compensated=[${list(c.compensated)}] failure=${c.failure ?? '-'}`;
}

export const checkoutModel: MachineModel = {
  name: 'checkout',
  title:
    'The checkout saga (src/machines/checkout.ts): reserve inventory, authorize payment, create the order; on failure undo what was attempted, newest first',
  machine: checkoutMachine,
  input: { id: sampleCheckout.checkoutId },
  events: checkoutEvents,
  stateKey: checkoutKey,
  revisitOn: ['operator.retry'],
  describeEvent: describeCheckoutEvent,
  describeEnd: describeCheckoutEnd,
  outcome: checkoutOutcome,
};

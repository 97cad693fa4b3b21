/**
 * The checkout saga: one actor per checked-out cart.
 *
 *   idle ─checkout.started─▶ reservingInventory ─reserved─▶ authorizingPayment ─authorized─▶ creatingOrder ─created─▶ confirmed
 *                                  │ unavailable / failed /       │ declined / fraud /             │ rejected / failed /
 *                                  │ deadline                     │ failed / deadline              │ deadline
 *                                  ▼                              ▼                                ▼
 *                            compensating:  voidingPayment ─▶ releasingInventory ─▶ cancellingOrder ─▶ cancelled
 *                            (each step only if its forward step was *attempted*: a request that timed out may
 *                             still have happened, so it is undone anyway; participants accept undoing nothing)
 *
 * The machine is pure. It never sends, sleeps or reads the clock: it returns named actions
 * ("requestReserveInventory", "startTimer", "publishStatus") that the actor host executes durably.
 * Transport trouble never reaches it: the host retries with the same idempotency key until the
 * step's deadline timer fires. A compensation that does not succeed within its deadline parks in
 * `needsAttention`; the request keeps being retried there, and an operator may also re-send it.
 */
import { assign, setup } from 'xstate';
import { reasonForCause } from '../contracts/index.ts';
import type { CancelReason, CheckoutContext, CompensationStep, Deadlines, FailureDetail, ForwardStep, LineItem } from './checkout-context.ts';

export const checkoutMachineVersion = '1';

export const CheckoutStep = {
  reserveInventory: 'reserveInventory',
  authorizePayment: 'authorizePayment',
  createOrder: 'createOrder',
  voidPayment: 'voidPayment',
  releaseInventory: 'releaseInventory',
  cancelOrder: 'cancelOrder',
} as const;
export type CheckoutStep = (typeof CheckoutStep)[keyof typeof CheckoutStep];

export type { CancelReason, CheckoutContext, Deadlines, FailureDetail, LineItem } from './checkout-context.ts';

export type CheckoutEvent =
  | {
      type: 'checkout.started';
      now: number;
      checkoutId: string;
      orderId: string;
      reservationId: string;
      cartId: string;
      customerId: string;
      items: LineItem[];
      subtotal: number;
      discount: number;
      total: number;
      currency: string;
      deadlines: Deadlines;
    }
  | { type: 'inventory.reserved'; reservationId: string }
  | { type: 'inventory.unavailable' }
  | { type: 'payment.authorized'; authorizationId: string }
  | { type: 'payment.declined'; fraud: boolean }
  | { type: 'order.created' }
  | { type: 'order.rejected' }
  | { type: 'payment.voided' }
  | { type: 'inventory.released' }
  | { type: 'order.cancelled' }
  | { type: 'step.failed'; step: CheckoutStep; code: string }
  | { type: 'timer.expired'; timer: CheckoutStep }
  | { type: 'operator.retry' };

export type CheckoutStatus = 'PENDING' | 'CONFIRMED' | 'CANCELLED' | 'NEEDS_ATTENTION';
export type CheckoutProgress =
  | 'RESERVING_INVENTORY'
  | 'AUTHORIZING_PAYMENT'
  | 'CREATING_ORDER'
  | 'COMPENSATING'
  | 'DONE';

export interface StatusParams {
  status: CheckoutStatus;
  step: CheckoutProgress;
}

/** The order as the saga sends it to the Order Service, to create it or to cancel it. */
interface TheOrder {
  orderId: string;
  cartId: string;
  customerId: string;
  items: LineItem[];
  total: number;
  currency: string;
}

/** The effects the saga asks for, by action name, with what each needs. */
export interface CheckoutActionParams {
  requestReserveInventory: { cartId: string; customerId: string; orderId: string; reservationId: string; items: LineItem[] };
  requestAuthorizePayment: { cartId: string; customerId: string; orderId: string; amount: number; currency: string };
  requestCreateOrder: TheOrder & { paymentAuthorizationId: string | null };
  requestVoidPayment: { orderId: string; authorizationId: string | null };
  requestReleaseInventory: { reservationId: string; orderId: string };
  requestCancelOrder: TheOrder & { reason: CancelReason; detail: FailureDetail };
  cancelRequest: { step: CheckoutStep };
  startTimer: { timer: CheckoutStep; ms: number };
  cancelTimer: { timer: CheckoutStep };
  publishStatus: StatusParams;
}

const deadlineOf = (step: CheckoutStep, d: Deadlines): number =>
  step === 'reserveInventory'
    ? d.reserveInventoryMs
    : step === 'authorizePayment'
      ? d.authorizePaymentMs
      : step === 'createOrder'
        ? d.createOrderMs
        : d.compensationMs;

const initialContext = (id: string): CheckoutContext => ({
  checkoutId: id,
  orderId: '',
  cartId: '',
  customerId: '',
  reservationId: '',
  items: [],
  subtotal: 0,
  discount: 0,
  total: 0,
  currency: 'USD',
  deadlines: { reserveInventoryMs: 0, authorizePaymentMs: 0, createOrderMs: 0, compensationMs: 0 },
  attempted: [],
  compensated: [],
  authorizationId: null,
  failure: null,
  startedAt: null,
});

export const checkoutMachine = setup({
  types: {
    context: {} as CheckoutContext,
    events: {} as CheckoutEvent,
    input: {} as { id: string },
  },
  actions: {
    // Effects, executed by the host. Params carry everything the host needs.
    requestReserveInventory: (_, _p: CheckoutActionParams['requestReserveInventory']) => {},
    requestAuthorizePayment: (_, _p: CheckoutActionParams['requestAuthorizePayment']) => {},
    requestCreateOrder: (_, _p: CheckoutActionParams['requestCreateOrder']) => {},
    requestVoidPayment: (_, _p: CheckoutActionParams['requestVoidPayment']) => {},
    requestReleaseInventory: (_, _p: CheckoutActionParams['requestReleaseInventory']) => {},
    requestCancelOrder: (_, _p: CheckoutActionParams['requestCancelOrder']) => {},
    cancelRequest: (_, _p: CheckoutActionParams['cancelRequest']) => {},
    startTimer: (_, _p: CheckoutActionParams['startTimer']) => {},
    cancelTimer: (_, _p: CheckoutActionParams['cancelTimer']) => {},
    publishStatus: (_, _p: CheckoutActionParams['publishStatus']) => {},
  },
  guards: {
    timerIs: ({ event }, p: { timer: CheckoutStep }) => event.type === 'timer.expired' && event.timer === p.timer,
    stepIs: ({ event }, p: { step: CheckoutStep }) => event.type === 'step.failed' && event.step === p.step,
    isFraud: ({ event }) => event.type === 'payment.declined' && event.fraud,
    mustVoidPayment: ({ context }) =>
      context.attempted.includes('authorizePayment') && !context.compensated.includes('voidPayment'),
    mustReleaseInventory: ({ context }) =>
      context.attempted.includes('reserveInventory') && !context.compensated.includes('releaseInventory'),
  },
}).createMachine({
  id: 'checkout',
  context: ({ input }) => initialContext(input.id),
  initial: 'idle',
  states: {
    idle: {
      on: {
        'checkout.started': {
          target: 'reservingInventory',
          actions: assign(({ event }) => ({
            orderId: event.orderId,
            cartId: event.cartId,
            customerId: event.customerId,
            reservationId: event.reservationId,
            items: event.items,
            subtotal: event.subtotal,
            discount: event.discount,
            total: event.total,
            currency: event.currency,
            deadlines: event.deadlines,
            startedAt: event.now,
          })),
        },
      },
    },

    reservingInventory: {
      ...forwardStep('reserveInventory', 'RESERVING_INVENTORY', {
        type: 'requestReserveInventory',
        params: ({ context: c }: { context: CheckoutContext }) => ({ cartId: c.cartId, customerId: c.customerId, orderId: c.orderId, reservationId: c.reservationId, items: c.items }),
      }),
      on: {
        'inventory.reserved': { target: 'authorizingPayment' },
        'inventory.unavailable': { target: 'compensating', actions: assign({ failure: 'OUT_OF_STOCK' }) },
        ...compensateWhen('reserveInventory', { failed: 'OUT_OF_STOCK', late: 'INVENTORY_TIMEOUT' }),
      },
    },

    authorizingPayment: {
      ...forwardStep('authorizePayment', 'AUTHORIZING_PAYMENT', {
        type: 'requestAuthorizePayment',
        params: ({ context: c }: { context: CheckoutContext }) => ({ cartId: c.cartId, customerId: c.customerId, orderId: c.orderId, amount: c.total, currency: c.currency }),
      }),
      on: {
        'payment.authorized': {
          target: 'creatingOrder',
          actions: assign({ authorizationId: ({ event }) => event.authorizationId }),
        },
        'payment.declined': [
          { guard: 'isFraud', target: 'compensating', actions: assign({ failure: 'FRAUD' }) },
          { target: 'compensating', actions: assign({ failure: 'PAYMENT_DECLINED' }) },
        ],
        ...compensateWhen('authorizePayment', { failed: 'PAYMENT_DECLINED', late: 'PAYMENT_TIMEOUT' }),
      },
    },

    creatingOrder: {
      ...forwardStep('createOrder', 'CREATING_ORDER', {
        type: 'requestCreateOrder',
        params: ({ context: c }: { context: CheckoutContext }) => ({
          orderId: c.orderId, cartId: c.cartId, customerId: c.customerId, items: c.items,
          total: c.total, currency: c.currency, paymentAuthorizationId: c.authorizationId,
        }),
      }),
      on: {
        'order.created': { target: 'confirmed' },
        'order.rejected': { target: 'compensating', actions: assign({ failure: 'ORDER_REJECTED' }) },
        ...compensateWhen('createOrder', { failed: 'ORDER_REJECTED', late: 'ORDER_TIMEOUT' }),
      },
    },

    confirmed: {
      type: 'final',
      entry: [{ type: 'publishStatus', params: { status: 'CONFIRMED', step: 'DONE' } }],
    },

    compensating: {
      initial: 'next',
      entry: [{ type: 'publishStatus', params: { status: 'PENDING', step: 'COMPENSATING' } }],
      states: {
        /** Routes to the next undo, newest first. */
        next: {
          always: [
            { guard: 'mustVoidPayment', target: 'voidingPayment' },
            { guard: 'mustReleaseInventory', target: 'releasingInventory' },
            { target: 'cancellingOrder' },
          ],
        },
        voidingPayment: compensationStep('voidPayment', 'payment.voided', {
          type: 'requestVoidPayment',
          params: ({ context }: { context: CheckoutContext }) => ({ orderId: context.orderId, authorizationId: context.authorizationId }),
        }),
        releasingInventory: compensationStep('releaseInventory', 'inventory.released', {
          type: 'requestReleaseInventory',
          params: ({ context }: { context: CheckoutContext }) => ({ reservationId: context.reservationId, orderId: context.orderId }),
        }),
        cancellingOrder: compensationStep('cancelOrder', 'order.cancelled', {
          type: 'requestCancelOrder',
          params: ({ context }: { context: CheckoutContext }) => {
            const detail = context.failure ?? 'ORDER_REJECTED';
            const { orderId, cartId, customerId, items, total, currency } = context;
            return { orderId, cartId, customerId, items, total, currency, reason: reasonForCause[detail], detail };
          },
        }),
      },
    },

    cancelled: {
      type: 'final',
      entry: [{ type: 'publishStatus', params: { status: 'CANCELLED', step: 'DONE' } }],
    },
  },
});

/**
 * The entry and exit of a forward step: record it as attempted (from here on it is undone on
 * failure, even if its request never arrived), send the request, arm its deadline, publish the
 * progress; leaving it disarms the deadline.
 */
function forwardStep<const A extends { type: string; params: unknown }>(step: ForwardStep, progress: CheckoutProgress, request: A) {
  return {
    entry: [
      assign<CheckoutContext, CheckoutEvent, undefined, CheckoutEvent, never>({ attempted: ({ context }) => [...context.attempted, step] }),
      request,
      { type: 'startTimer' as const, params: ({ context }: { context: CheckoutContext }) => ({ timer: step, ms: deadlineOf(step, context.deadlines) }) },
      { type: 'publishStatus' as const, params: { status: 'PENDING' as const, step: progress } },
    ],
    exit: [{ type: 'cancelTimer' as const, params: { timer: step } }],
  };
}

/** Records why the checkout fails; typed by hand because it is built outside the machine's config. */
function failWith(failure: FailureDetail) {
  return assign<CheckoutContext, CheckoutEvent, undefined, CheckoutEvent, never>({ failure });
}

/**
 * Besides a forward step's own answers: a refusal the host could not turn into one
 * (`step.failed`) and the step's deadline both start compensating, with the failure named.
 */
function compensateWhen(step: ForwardStep, as: { failed: FailureDetail; late: FailureDetail }) {
  return {
    'step.failed': {
      guard: { type: 'stepIs' as const, params: { step } },
      target: 'compensating',
      actions: failWith(as.failed),
    },
    'timer.expired': {
      guard: { type: 'timerIs' as const, params: { timer: step } },
      target: 'compensating',
      actions: [failWith(as.late), { type: 'cancelRequest' as const, params: { step } }],
    },
  };
}

/**
 * One compensation: send the undo, arm its deadline, and on success record it and route on.
 * Past the deadline (or on a non-transient refusal) it parks in `needsAttention`, where the
 * host keeps retrying; `operator.retry` re-sends explicitly.
 */
function compensationStep<const A extends { type: string; params: unknown }>(
  step: CompensationStep,
  done: 'payment.voided' | 'inventory.released' | 'order.cancelled',
  request: A,
) {
  const after = step === 'cancelOrder' ? '#checkout.cancelled' : 'next';
  return {
    initial: 'trying' as const,
    entry: [request, { type: 'startTimer' as const, params: ({ context }: { context: CheckoutContext }) => ({ timer: step, ms: context.deadlines.compensationMs }) }],
    exit: [{ type: 'cancelTimer' as const, params: { timer: step } }],
    states: {
      trying: {
        on: {
          'timer.expired': { guard: { type: 'timerIs' as const, params: { timer: step } }, target: 'needsAttention' },
          'step.failed': { guard: { type: 'stepIs' as const, params: { step } }, target: 'needsAttention' },
        },
      },
      needsAttention: {
        entry: [{ type: 'publishStatus' as const, params: { status: 'NEEDS_ATTENTION' as const, step: 'COMPENSATING' as const } }],
        on: {
          'step.failed': { guard: { type: 'stepIs' as const, params: { step } } },
          'operator.retry': {
            target: `#checkout.compensating.${stateNameOf(step)}`,
            reenter: true,
            actions: [{ type: 'publishStatus' as const, params: { status: 'PENDING' as const, step: 'COMPENSATING' as const } }],
          },
        },
      },
    },
    on: {
      [done]: {
        target: after,
        actions: assign({ compensated: ({ context }: { context: CheckoutContext }) => [...context.compensated, step] }),
      },
    },
  };
}

function stateNameOf(step: CompensationStep): string {
  return step === 'voidPayment' ? 'voidingPayment' : step === 'releaseInventory' ? 'releasingInventory' : 'cancellingOrder';
}

/**
 * How the saga's named actions become effects. Every command carries the idempotency key
 * `${checkoutId}:${message}`, derived, never random: a retry after a timeout, a redelivery to
 * another instance, or an operator's re-send all present the same key, and participants dedupe on
 * it. Replies come back through `onReply`, parsed with the message's schema before the machine
 * sees them; a reply that does not parse counts as a failed step.
 */
import type { AnyMachineSnapshot, StateNode, StateValue } from 'xstate';
import type { ZodType } from 'zod';
import {
  InventoryReleased,
  InventoryReserved,
  InventoryUnavailable,
  MessageType,
  OrderCancelled,
  OrderCreated,
  OrderRejected,
  PaymentAuthorized,
  PaymentDeclined,
  PaymentVoided,
  reasonForCause,
  type CheckoutStatus,
} from '../../contracts/index.ts';
import { Bucket, Command, routeTo, type Partitions } from '../../contracts/subjects.ts';
import type { ActorDefinition, Effects, RequestOutcome } from '../../runtime/actor-host.ts';
import {
  checkoutMachine,
  checkoutMachineVersion,
  type CheckoutActionParams,
  type CheckoutContext,
  type CheckoutEvent,
  type CheckoutStep,
  type FailureDetail,
  type StatusParams,
} from '../../machines/checkout.ts';
import { isBroken } from '../../runtime/broken.ts';
import { CheckoutContextSchema } from './schema.ts';

export interface CheckoutTimeouts {
  /** Deadline of each attempt of a request; the relay retries within the step's deadline. */
  requestTimeoutMs: number;
  /** How many partitions each participant has: a step's command goes to the partition owning its key. */
  partitions?: Partitions | undefined;
}

/** The shopper-facing words for each failure. */
export const reasonText: Record<FailureDetail, string> = {
  OUT_OF_STOCK: 'Some items in your cart are out of stock.',
  INVENTORY_TIMEOUT: 'We could not confirm stock in time. Nothing was charged.',
  PAYMENT_DECLINED: 'Your payment was declined by the card issuer.',
  PAYMENT_TIMEOUT: 'The payment provider did not answer in time. Nothing was charged.',
  FRAUD: 'The payment was refused by our fraud checks.',
  ORDER_REJECTED: 'We could not create your order. Your payment was voided.',
  ORDER_TIMEOUT: 'Creating your order took too long. Your payment was voided.',
};

const ctx = (s: AnyMachineSnapshot): CheckoutContext => s.context as CheckoutContext;

/** The status document the gateway shows, derived from the saga's snapshot. */
export function statusDocument(s: AnyMachineSnapshot, p: StatusParams, now: number): CheckoutStatus {
  const c = ctx(s);
  const failure = p.status === 'CANCELLED' || p.status === 'NEEDS_ATTENTION' || p.step === 'COMPENSATING' ? c.failure : null;
  return {
    checkoutId: c.checkoutId,
    orderId: c.orderId,
    cartId: c.cartId,
    customerId: c.customerId,
    status: p.status,
    step: p.step,
    ...(failure ? { reason: reasonForCause[failure], detail: failure, reasonText: reasonText[failure] } : {}),
    total: c.total,
    currency: c.currency,
    updatedAt: new Date(now).toISOString(),
  };
}

/**
 * The status the saga published last, read from the entry actions of its active states, innermost
 * first (each state that publishes does so on entry). It answers for a checkout whose document
 * has expired from the `checkouts` bucket (BucketTtlMs); undefined before the saga started.
 */
export function publishedStatus(s: AnyMachineSnapshot): StatusParams | undefined {
  const active: StateNode[] = [];
  let node: StateNode = checkoutMachine.root as unknown as StateNode;
  let value: StateValue = s.value as StateValue;
  for (;;) {
    const key = typeof value === 'string' ? value : Object.keys(value)[0];
    const child = key === undefined ? undefined : node.states[key];
    if (!child) break;
    active.push(child);
    if (typeof value === 'string') break;
    node = child;
    value = value[key!] as StateValue;
  }
  for (const n of active.reverse()) {
    const published = n.entry.find((a) => (a as { type?: unknown }).type === 'publishStatus') as { params?: StatusParams } | undefined;
    if (published?.params) return published.params;
  }
  return undefined;
}

type Params<A extends keyof CheckoutActionParams> = CheckoutActionParams[A];

/** A test-only broken variant (runtime/broken.ts): the saga does not release the stock after a deadline passed. */
const skipsReleaseAfterTimeout = checkoutMachine.provide({
  guards: {
    mustReleaseInventory: ({ context }) =>
      context.attempted.includes('reserveInventory') && !context.compensated.includes('releaseInventory') && !context.failure?.endsWith('_TIMEOUT'),
  },
});

export function checkoutDefinition(t: CheckoutTimeouts): ActorDefinition<typeof checkoutMachine> {
  const request = (fx: Effects, slot: CheckoutStep, subject: string, type: string, payload: unknown) =>
    fx.request({ slot, subject: routeTo(subject, payload, t.partitions ?? {}), type, payload, idempotencyKey: `${fx.actorId}:${type}`, timeoutMs: t.requestTimeoutMs });

  return {
    kind: 'checkout',
    machine: isBroken('compensationSkippedAfterTimeout') ? skipsReleaseAfterTimeout : checkoutMachine,
    version: checkoutMachineVersion,
    context: CheckoutContextSchema,
    executors: {
      requestReserveInventory: (p: Params<'requestReserveInventory'>, fx) =>
        request(fx, 'reserveInventory', Command.reserveInventory, MessageType.reserveInventory, {
          cartId: p.cartId,
          customerId: p.customerId,
          orderId: p.orderId,
          reservationId: p.reservationId,
          items: p.items.map(({ productId, quantity }) => ({ productId, quantity })),
        }),
      requestAuthorizePayment: (p: Params<'requestAuthorizePayment'>, fx) =>
        request(fx, 'authorizePayment', Command.authorizePayment, MessageType.authorizePayment, p),
      requestCreateOrder: (p: Params<'requestCreateOrder'>, fx) => {
        const { paymentAuthorizationId, ...rest } = p;
        request(fx, 'createOrder', Command.createOrder, MessageType.createOrder, {
          ...rest,
          ...(paymentAuthorizationId ? { paymentAuthorizationId } : {}),
        });
      },
      requestVoidPayment: (p: Params<'requestVoidPayment'>, fx) =>
        request(fx, 'voidPayment', Command.voidPayment, MessageType.voidPayment, {
          orderId: p.orderId,
          ...(p.authorizationId ? { authorizationId: p.authorizationId } : {}),
          reason: 'CHECKOUT_FAILED',
        }),
      requestReleaseInventory: (p: Params<'requestReleaseInventory'>, fx) =>
        request(fx, 'releaseInventory', Command.releaseInventory, MessageType.releaseInventory, {
          reservationId: p.reservationId,
          reason: 'CHECKOUT_FAILED',
        }),
      requestCancelOrder: (p: Params<'requestCancelOrder'>, fx) =>
        request(fx, 'cancelOrder', Command.cancelOrder, MessageType.cancelOrder, p),
      cancelRequest: (p: Params<'cancelRequest'>, fx) => fx.cancelRequest(p.step),
      startTimer: (p: Params<'startTimer'>, fx) => fx.setTimer(p.timer, p.ms, { type: 'timer.expired', timer: p.timer }),
      cancelTimer: (p: Params<'cancelTimer'>, fx) => fx.cancelTimer(p.timer),
      publishStatus: (p: Params<'publishStatus'>, fx, s) => fx.kvPut(Bucket.checkouts, fx.actorId, statusDocument(s, p, fx.now)),
    },
    onReply: (slot, outcome) => replyEvent(slot as CheckoutStep, outcome),
  };
}

/** A successful reply's payload if it is of `type` and parses. */
function typedReply<T>(outcome: RequestOutcome & { ok: true }, type: string, schema: ZodType<T>): T | undefined {
  if (outcome.type !== type) return undefined;
  const r = schema.safeParse(JSON.parse(outcome.data));
  return r.success ? r.data : undefined;
}

/** Maps a participant's reply to the saga's event. Business refusals are typed replies, not errors. */
export function replyEvent(step: CheckoutStep, outcome: RequestOutcome): CheckoutEvent | undefined {
  if (!outcome.ok) return { type: 'step.failed', step, code: outcome.code };
  let event: CheckoutEvent | undefined;
  switch (step) {
    case 'reserveInventory': {
      const reserved = typedReply(outcome, MessageType.inventoryReserved, InventoryReserved);
      if (reserved) event = { type: 'inventory.reserved', reservationId: reserved.reservationId };
      else if (typedReply(outcome, MessageType.inventoryUnavailable, InventoryUnavailable)) event = { type: 'inventory.unavailable' };
      break;
    }
    case 'authorizePayment': {
      const authorized = typedReply(outcome, MessageType.paymentAuthorized, PaymentAuthorized);
      const declined = typedReply(outcome, MessageType.paymentDeclined, PaymentDeclined);
      if (authorized) event = { type: 'payment.authorized', authorizationId: authorized.authorizationId };
      else if (declined) event = { type: 'payment.declined', fraud: declined.reason === 'FRAUD' };
      break;
    }
    case 'createOrder':
      if (typedReply(outcome, MessageType.orderCreated, OrderCreated)) event = { type: 'order.created' };
      else if (typedReply(outcome, MessageType.orderRejected, OrderRejected)) event = { type: 'order.rejected' };
      break;
    case 'voidPayment':
      if (typedReply(outcome, MessageType.paymentVoided, PaymentVoided)) event = { type: 'payment.voided' };
      break;
    case 'releaseInventory':
      if (typedReply(outcome, MessageType.inventoryReleased, InventoryReleased)) event = { type: 'inventory.released' };
      break;
    case 'cancelOrder':
      if (typedReply(outcome, MessageType.orderCancelled, OrderCancelled)) event = { type: 'order.cancelled' };
      break;
    default: {
      const _exhaustive: never = step;
      return _exhaustive;
    }
  }
  return event ?? { type: 'step.failed', step, code: 'UNEXPECTED_REPLY' };
}

const undoOf = { authorizePayment: 'voidPayment', reserveInventory: 'releaseInventory' } as const;

/**
 * The saga's undo steps as the explorer shows them, mirroring `compensating.next`: newest forward
 * step first (void the payment, release the stock), then always cancel the order record. They are
 * registered as soon as their forward step is attempted (a request that timed out may still have
 * happened) and pending once compensation has started until the machine records them done.
 */
export function compensationPlan(c: CheckoutContext, state: unknown): { registered: string[]; started: boolean; done: string[]; pending: string[] } {
  const top = typeof state === 'string' ? state : state !== null && typeof state === 'object' ? Object.keys(state)[0] : undefined;
  if (top === 'idle' || top === 'confirmed') return { registered: [], started: false, done: [], pending: [] };
  const registered = [
    ...(c.attempted.includes('authorizePayment') ? [undoOf.authorizePayment] : []),
    ...(c.attempted.includes('reserveInventory') ? [undoOf.reserveInventory] : []),
    'cancelOrder',
  ];
  const started = top === 'compensating' || top === 'cancelled';
  const done = [...c.compensated];
  return { registered, started, done, pending: started ? registered.filter((s) => !done.includes(s as never)) : [] };
}

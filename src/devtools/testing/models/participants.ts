/**
 * The participants' machines as path generation sees them: the order, the stock reservation and
 * the payment authorization. Each sampler offers one event per outcome the machine tells apart
 * (a hold that fits and one that is short, a processor that approves, declines or flags fraud,
 * an order the rules accept and one they refuse), with fixed payloads.
 */
import type { AnyMachineSnapshot } from 'xstate';
import {
  authorizationMachine,
  type AuthorizationContext,
  type AuthorizationEvent,
} from '../../../machines/authorization.ts';
import { orderMachine, type OrderEvent } from '../../../machines/order.ts';
import { reservationMachine, type ReservationEvent } from '../../../machines/reservation.ts';
import {
  partitionedReservationMachine,
  type PartitionedReservationContext,
  type PartitionedReservationEvent,
} from '../../../machines/partitioned-reservation.ts';
import { byEventType, statePath, type MachineModel } from '../model.ts';

const AT = '2026-01-01T00:00:00.000Z';
const ORDER_ID = '1c8a4e3f-47d2-5e1a-8e7a-4a7f1d2b3c02';
const CART_ID = '3e6c2a1b-69f4-4a3c-8a9c-6c9b3f4d5e04';
const CUSTOMER_ID = '4f5d1b0c-7a05-4b4d-9bad-7dac4a5e6f05';
const PRODUCT_ID = '6b3f9d8e-9c27-5d6f-9dcf-9fce6c7a8b07';
const items = [{ productId: PRODUCT_ID, quantity: 2, unitPrice: 1_250 }];

const ended = (words: Record<string, string>) => (s: AnyMachineSnapshot) => {
  const p = statePath(s.value);
  return `(${words[p] ?? p})`;
};

// ── order ────────────────────────────────────────────────────────────────────────────────────

const create = (refusal: string | null): OrderEvent => ({
  type: 'order.create',
  at: AT,
  cartId: CART_ID,
  customerId: CUSTOMER_ID,
  items,
  total: 2_500,
  currency: 'USD',
  paymentAuthorizationId: null,
  refusal,
});

const orderEvents: readonly OrderEvent[] = [
  create(null),
  create('orders from this customer are not accepted'),
  {
    type: 'order.cancel',
    at: AT,
    reason: 'PAYMENT_FAILED',
    detail: 'PAYMENT_DECLINED',
    cartId: CART_ID,
    customerId: CUSTOMER_ID,
    items,
    total: 2_500,
    currency: 'USD',
  },
  { type: 'order.cancel', at: AT, reason: 'CUSTOMER_REQUESTED', detail: null },
  { type: 'order.complete', at: AT },
];

export const orderModel: MachineModel = {
  name: 'order',
  title:
    'The order (src/machines/order.ts): created or refused by the Order Service, then completed or cancelled',
  machine: orderMachine,
  input: { id: ORDER_ID },
  events: orderEvents,
  stateKey: (s) => statePath(s.value),
  describeEvent: byEventType<OrderEvent>({
    'order.create': (ev) => (ev.refusal ? 'create-order refused by the rules' : 'create-order accepted'),
    'order.cancel': (ev) => (ev.reason === 'CUSTOMER_REQUESTED' ? 'customer cancels' : `saga cancels for ${ev.reason}`),
    'order.complete': () => 'order completed',
  }),
  describeEnd: ended({
    new: 'no order yet',
    created: 'CREATED',
    rejected: 'REJECTED, awaiting the saga',
    completed: 'COMPLETED',
    cancelled: 'CANCELLED',
  }),
};

// ── reservation ──────────────────────────────────────────────────────────────────────────────

const hold = (inStock: number): ReservationEvent => ({
  type: 'reservation.hold',
  at: AT,
  orderId: ORDER_ID,
  cartId: CART_ID,
  items,
  available: { [PRODUCT_ID]: inStock },
});

const reservationEvents: readonly ReservationEvent[] = [
  hold(5),
  hold(1),
  { type: 'reservation.release', at: AT, reason: 'CHECKOUT_FAILED' },
  { type: 'reservation.consume', at: AT },
];

export const reservationModel: MachineModel = {
  name: 'reservation',
  title:
    'The stock reservation (src/machines/reservation.ts): held all-or-nothing, then released or consumed; a release first leaves a tombstone',
  machine: reservationMachine,
  input: { id: '2d7b3f2a-58e3-5f2b-9f8b-5b8a2e3c4d03' },
  events: reservationEvents,
  stateKey: (s) => statePath(s.value),
  describeEvent: byEventType<ReservationEvent>({
    'reservation.hold': (ev) => ((ev.available[PRODUCT_ID] ?? 0) >= 2 ? 'hold 2 with 5 in stock' : 'hold 2 with 1 in stock'),
    'reservation.release': () => 'release',
    'reservation.consume': () => 'consume (order completed)',
  }),
  describeEnd: ended({
    new: 'nothing held',
    held: 'HELD',
    refused: 'REFUSED',
    released: 'RELEASED',
    consumed: 'CONSUMED',
  }),
};

// ── partitioned reservation ──────────────────────────────────────────────────────────────────

const OTHER_PRODUCT_ID = '7c4a0e9f-ad38-5e7a-8ed0-a0df7d8b9c08';
const reserveEvent: PartitionedReservationEvent = {
  type: 'reservation.reserve',
  at: AT,
  orderId: ORDER_ID,
  cartId: CART_ID,
  items: [
    { productId: PRODUCT_ID, quantity: 2 },
    { productId: OTHER_PRODUCT_ID, quantity: 1 },
  ],
  parts: [
    { partition: 0, items: [{ productId: PRODUCT_ID, quantity: 2 }] },
    { partition: 1, items: [{ productId: OTHER_PRODUCT_ID, quantity: 1 }] },
  ],
};

const partitionedReservationEvents: readonly PartitionedReservationEvent[] = [
  reserveEvent,
  { ...reserveEvent, items: [], parts: [] },
  { type: 'hold.held', partition: 0, at: AT },
  { type: 'hold.held', partition: 1, at: AT },
  { type: 'hold.refused', partition: 1, at: AT, unavailableItems: [{ productId: OTHER_PRODUCT_ID, requested: 1, available: 0 }] },
  { type: 'reservation.release', at: AT, reason: 'CHECKOUT_FAILED' },
  { type: 'reservation.consume', at: AT },
];

export const partitionedReservationModel: MachineModel = {
  name: 'partitioned-reservation',
  title:
    'The stock reservation of a partitioned inventory (src/machines/partitioned-reservation.ts): a hold asked of each product\'s partition, all held or the others released',
  machine: partitionedReservationMachine,
  input: { id: '2d7b3f2a-58e3-5f2b-9f8b-5b8a2e3c4d03' },
  events: partitionedReservationEvents,
  // Which holds are in is part of the state: holding with partition 0 held is not holding with none.
  stateKey: (s) => {
    const held = (s.context as PartitionedReservationContext).held;
    return `${statePath(s.value)}${held.length ? ` (held ${[...held].sort().join(',')})` : ''}`;
  },
  describeEvent: byEventType<PartitionedReservationEvent>({
    'reservation.reserve': (ev) => (ev.parts.length ? 'reserve 2 lines in partitions 0 and 1' : 'reserve no lines'),
    'hold.held': (ev) => `partition ${ev.partition} holds`,
    'hold.refused': (ev) => `partition ${ev.partition} refuses`,
    'reservation.release': () => 'release',
    'reservation.consume': () => 'consume (order completed)',
  }),
  describeEnd: ended({
    new: 'nothing asked',
    holding: 'HOLDING',
    held: 'HELD',
    refused: 'REFUSED, the other holds released',
    released: 'RELEASED',
    consumed: 'CONSUMED',
  }),
};

// ── authorization ────────────────────────────────────────────────────────────────────────────

const authorize = (
  verdict: Extract<AuthorizationEvent, { type: 'payment.authorize' }>['verdict'],
): AuthorizationEvent => ({
  type: 'payment.authorize',
  at: AT,
  authorizationId: '5a4e0c9d-8b16-5c5e-8cbe-8ebd5b6f7a06',
  cartId: CART_ID,
  customerId: CUSTOMER_ID,
  amount: 2_500,
  currency: 'USD',
  verdict,
});

const authorizationEvents: readonly AuthorizationEvent[] = [
  authorize({ outcome: 'approved' }),
  authorize({ outcome: 'declined', reason: 'DECLINED', message: 'the card issuer declined the payment' }),
  authorize({ outcome: 'declined', reason: 'FRAUD', message: 'the payment was refused by fraud screening' }),
  { type: 'payment.authorizeRepeated' },
  { type: 'payment.void', at: AT, reason: 'CHECKOUT_FAILED' },
  { type: 'payment.capture', at: AT },
];

export const authorizationModel: MachineModel = {
  name: 'authorization',
  title:
    'The payment authorization (src/machines/authorization.ts): the processor approves or declines once, then void or capture; a void first leaves a tombstone',
  machine: authorizationMachine,
  input: { id: ORDER_ID },
  events: authorizationEvents,
  // A declined payment that was voided looks the same but refuses nothing more: keep it apart.
  stateKey: (s) =>
    `${statePath(s.value)}${(s.context as AuthorizationContext).voidedAt ? ' (void noted)' : ''}`,
  describeEvent: byEventType<AuthorizationEvent>({
    'payment.authorize': (ev) =>
      ev.verdict.outcome === 'approved' ? 'processor approves' : ev.verdict.reason === 'FRAUD' ? 'processor flags fraud' : 'processor declines',
    'payment.authorizeRepeated': () => 'authorize-payment repeated',
    'payment.void': () => 'void',
    'payment.capture': () => 'capture (order completed)',
  }),
  describeEnd: (s) => {
    const c = s.context as AuthorizationContext;
    const p = statePath(s.value);
    const words: Record<string, string> = {
      new: 'not asked yet',
      authorized: 'AUTHORIZED',
      voided: 'VOIDED',
      captured: 'CAPTURED',
    };
    return p === 'declined'
      ? `(${c.declineReason === 'FRAUD' ? 'DECLINED as FRAUD' : 'DECLINED'}${c.voidedAt ? ', void noted' : ''})`
      : `(${words[p] ?? p})`;
  },
};

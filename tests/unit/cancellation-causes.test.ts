/**
 * Every cause of a cancellation keeps its cause: the catalog's closed reason list gets the least
 * misleading reason (docs/contracts.md), and `detail` names the precise cause. One test per cause
 * drives the pure machines from the event that causes it to the order-cancelled the Order Service
 * publishes, through the checkout status document the shopper sees.
 */
import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type AnyMachineSnapshot } from 'xstate';
import { statusDocument } from '../../src/actors/checkout/definition.ts';
import { orderCancelledPayload } from '../../src/actors/order/definition.ts';
import { OrderCancelled, reasonForCause, type CancellationDetail, type CancellationReason } from '../../src/contracts/index.ts';
import { checkoutMachine, type CheckoutEvent } from '../../src/machines/checkout.ts';
import { orderMachine, type OrderContext, type OrderEvent } from '../../src/machines/order.ts';
import { catalogReason } from '../../src/devtools/testing/checkout-spec.ts';

const id = (n: number) => `0b9d6f1c-2a3e-4f5a-8b7c-${n.toString(16).padStart(12, '0')}`;
const started: CheckoutEvent = {
  type: 'checkout.started',
  now: 1_000,
  checkoutId: id(1),
  orderId: id(2),
  reservationId: id(3),
  cartId: id(4),
  customerId: id(5),
  items: [{ productId: id(6), quantity: 2, unitPrice: 500 }],
  subtotal: 1_000,
  discount: 0,
  total: 1_000,
  currency: 'USD',
  deadlines: { reserveInventoryMs: 10, authorizePaymentMs: 20, createOrderMs: 30, compensationMs: 40 },
};
const reserved: CheckoutEvent = { type: 'inventory.reserved', reservationId: id(3) };
const authorized: CheckoutEvent = { type: 'payment.authorized', authorizationId: id(7) };

/** The events that lead to each saga failure, the failing event last. */
const causes: Record<Exclude<CancellationDetail, 'CUSTOMER_REQUESTED'>, CheckoutEvent[]> = {
  OUT_OF_STOCK: [{ type: 'inventory.unavailable' }],
  INVENTORY_TIMEOUT: [{ type: 'timer.expired', timer: 'reserveInventory' }],
  PAYMENT_DECLINED: [reserved, { type: 'payment.declined', fraud: false }],
  PAYMENT_TIMEOUT: [reserved, { type: 'timer.expired', timer: 'authorizePayment' }],
  FRAUD: [reserved, { type: 'payment.declined', fraud: true }],
  ORDER_REJECTED: [reserved, authorized, { type: 'order.rejected' }],
  ORDER_TIMEOUT: [reserved, authorized, { type: 'timer.expired', timer: 'createOrder' }],
};

/** docs/contracts.md's table: the model tests' independent oracle, plus the shopper's own cause. */
const documented: Record<CancellationDetail, CancellationReason> = { ...catalogReason, CUSTOMER_REQUESTED: 'CUSTOMER_REQUESTED' };

/** Runs the saga to the cancel-order request, answering each compensation with success. */
function sagaUntilCancelOrder(events: CheckoutEvent[]) {
  let [s] = initialTransition(checkoutMachine, { id: id(1) });
  for (const e of [started, ...events]) [s] = transition(checkoutMachine, s, e);
  for (const done of [{ type: 'payment.voided' }, { type: 'inventory.released' }] as const) {
    const [next, actions] = transition(checkoutMachine, s, done);
    s = next;
    const cancel = actions.find((a) => a.type === 'requestCancelOrder');
    if (cancel) return { snapshot: s, cancel: cancel.params as { reason: CancellationReason; detail: CancellationDetail } };
  }
  const [, actions] = transition(checkoutMachine, s, { type: 'operator.retry' });
  throw new Error(`no cancel-order after ${JSON.stringify(s.value)}: ${actions.map((a) => a.type).join()}`);
}

/** The order-cancelled the Order Service publishes for a cancel-order with this reason and detail. */
function orderCancelledFor(reason: CancellationReason, detail: CancellationDetail) {
  let [s]: [AnyMachineSnapshot, unknown] = initialTransition(orderMachine, { id: id(2) });
  const cancel: OrderEvent = { type: 'order.cancel', at: '2025-03-14T15:09:26.535Z', reason, detail, customerId: id(5) };
  [s] = transition(orderMachine, s, cancel);
  return OrderCancelled.parse(orderCancelledPayload(s.context as OrderContext));
}

describe('cancellation causes', () => {
  it('maps every cause to the documented reason', () => {
    expect(reasonForCause).toEqual(documented);
  });

  describe.each(Object.entries(causes) as [keyof typeof causes, CheckoutEvent[]][])('when the checkout fails with %s', (cause, events) => {
    it(`cancels the order as ${documented[cause]} with detail ${cause}, and tells the shopper so`, () => {
      const { snapshot, cancel } = sagaUntilCancelOrder(events);
      expect(cancel).toMatchObject({ reason: documented[cause], detail: cause });
      expect(orderCancelledFor(cancel.reason, cancel.detail)).toMatchObject({ reason: documented[cause], detail: cause });
      const [done] = transition(checkoutMachine, snapshot, { type: 'order.cancelled' });
      const status = statusDocument(done, { status: 'CANCELLED', step: 'DONE' }, 0);
      expect(status).toMatchObject({ status: 'CANCELLED', reason: documented[cause], detail: cause });
      expect(status.reasonText).toMatch(/\w/);
    });
  });

  describe('when the shopper cancels a created order', () => {
    it('publishes CUSTOMER_REQUESTED with detail CUSTOMER_REQUESTED', () => {
      expect(orderCancelledFor('CUSTOMER_REQUESTED', 'CUSTOMER_REQUESTED')).toMatchObject({ reason: 'CUSTOMER_REQUESTED', detail: 'CUSTOMER_REQUESTED' });
    });
  });
});

/**
 * The checkout saga as a pure function: given a history of events, when one more arrives, then the
 * machine is in this state and asks the host for these effects. No I/O, no clock, no host.
 */
import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type AnyMachineSnapshot } from 'xstate';
import { checkoutMachine, type CheckoutEvent } from '../../src/machines/checkout.ts';

const started: CheckoutEvent = {
  type: 'checkout.started',
  now: 1_000,
  checkoutId: 'co-1',
  orderId: 'order-1',
  reservationId: 'res-1',
  cartId: 'cart-1',
  customerId: 'cust-1',
  items: [{ productId: 'p-1', quantity: 2, unitPrice: 500 }],
  subtotal: 1_000,
  discount: 100,
  total: 900,
  currency: 'USD',
  deadlines: { reserveInventoryMs: 10, authorizePaymentMs: 20, createOrderMs: 30, compensationMs: 40 },
};

function given(...events: CheckoutEvent[]): AnyMachineSnapshot {
  let [s] = initialTransition(checkoutMachine, { id: 'co-1' });
  for (const e of events) [s] = transition(checkoutMachine, s, e);
  return s;
}

function when(s: AnyMachineSnapshot, e: CheckoutEvent) {
  const [next, actions] = transition(checkoutMachine, s, e);
  return { state: next.value, context: next.context, next, effects: actions.map((a) => a.type), actions };
}

const reserved: CheckoutEvent = { type: 'inventory.reserved', reservationId: 'res-1' };
const authorized: CheckoutEvent = { type: 'payment.authorized', authorizationId: 'auth-1' };

describe('checkout saga', () => {
  describe('when the cart is checked out', () => {
    it('reserves inventory first, under a deadline, and says so', () => {
      const r = when(given(), started);
      expect(r.state).toBe('reservingInventory');
      expect(r.effects).toEqual(['requestReserveInventory', 'startTimer', 'publishStatus']);
      expect(r.actions[0]!.params).toEqual({ cartId: 'cart-1', customerId: 'cust-1', orderId: 'order-1', reservationId: 'res-1', items: started.items });
      expect(r.actions[1]!.params).toEqual({ timer: 'reserveInventory', ms: 10 });
    });
  });

  describe('when every step succeeds', () => {
    it('authorizes the discounted total, creates the order with the authorization, and confirms', () => {
      const afterReserve = when(given(started), reserved);
      expect(afterReserve.actions.find((a) => a.type === 'requestAuthorizePayment')!.params).toMatchObject({ amount: 900, orderId: 'order-1' });
      const afterAuth = when(afterReserve.next, authorized);
      expect(afterAuth.actions.find((a) => a.type === 'requestCreateOrder')!.params).toMatchObject({ paymentAuthorizationId: 'auth-1', total: 900 });
      const done = when(afterAuth.next, { type: 'order.created' });
      expect(done.state).toBe('confirmed');
      expect(done.next.status).toBe('done');
      expect(done.effects).toEqual(['cancelTimer', 'publishStatus']);
    });
  });

  describe('when inventory is unavailable', () => {
    it('never asks for payment: it releases (in case) and cancels with OUT_OF_STOCK', () => {
      const r = when(given(started), { type: 'inventory.unavailable' });
      expect(r.effects).not.toContain('requestAuthorizePayment');
      expect(r.effects).not.toContain('requestVoidPayment');
      expect(r.state).toEqual({ compensating: { releasingInventory: 'trying' } });
      const end = when(when(r.next, { type: 'inventory.released' }).next, { type: 'order.cancelled' });
      expect(end.state).toBe('cancelled');
    });

    it('asks the Order Service to record the cancellation with the catalog reason and the precise cause', () => {
      const s = given(started, { type: 'inventory.unavailable' });
      const r = when(s, { type: 'inventory.released' });
      expect(r.actions.find((a) => a.type === 'requestCancelOrder')!.params).toMatchObject({ reason: 'OUT_OF_STOCK', detail: 'OUT_OF_STOCK', customerId: 'cust-1', total: 900 });
    });
  });

  describe('when the payment is declined', () => {
    it('releases the reservation and cancels with PAYMENT_FAILED, voiding the authorization first', () => {
      const r = when(given(started, reserved), { type: 'payment.declined', fraud: false });
      expect(r.state).toEqual({ compensating: { voidingPayment: 'trying' } });
      const released = when(when(r.next, { type: 'payment.voided' }).next, { type: 'inventory.released' });
      expect(released.actions.find((a) => a.type === 'requestCancelOrder')!.params).toMatchObject({ reason: 'PAYMENT_FAILED', detail: 'PAYMENT_DECLINED' });
    });

    it('cancels with FRAUD when the decline is for fraud', () => {
      const s = given(started, reserved, { type: 'payment.declined', fraud: true }, { type: 'payment.voided' });
      const r = when(s, { type: 'inventory.released' });
      expect(r.actions.find((a) => a.type === 'requestCancelOrder')!.params).toMatchObject({ reason: 'FRAUD' });
    });
  });

  describe('when a step passes its deadline', () => {
    it('abandons the outstanding request and undoes it anyway: a timed-out step may have happened', () => {
      const r = when(given(started, reserved), { type: 'timer.expired', timer: 'authorizePayment' });
      expect(r.effects).toEqual(expect.arrayContaining(['cancelRequest', 'requestVoidPayment']));
      expect(r.actions.find((a) => a.type === 'cancelRequest')!.params).toEqual({ step: 'authorizePayment' });
      expect(r.context.failure).toBe('PAYMENT_TIMEOUT');
    });

    it('ignores a stale timer from a step it has left', () => {
      const s = given(started, reserved);
      const [next, actions] = transition(checkoutMachine, s, { type: 'timer.expired', timer: 'reserveInventory' });
      expect(next).toBe(s);
      expect(actions).toEqual([]);
    });

    it('ignores a late reply to a request it abandoned', () => {
      const s = given(started, reserved, { type: 'timer.expired', timer: 'authorizePayment' });
      const [next] = transition(checkoutMachine, s, authorized);
      expect(next).toBe(s);
    });
  });

  describe('when the order cannot be created', () => {
    it('voids the payment, releases the reservation and cancels, in that order', () => {
      const s = given(started, reserved, authorized);
      const steps = [
        when(s, { type: 'order.rejected' }),
      ];
      steps.push(when(steps[0]!.next, { type: 'payment.voided' }));
      steps.push(when(steps[1]!.next, { type: 'inventory.released' }));
      expect(steps.map((x) => x.effects.find((e) => e.startsWith('request')))).toEqual(['requestVoidPayment', 'requestReleaseInventory', 'requestCancelOrder']);
      expect(when(steps[2]!.next, { type: 'order.cancelled' }).state).toBe('cancelled');
    });
  });

  describe('when a compensation keeps failing', () => {
    it('parks in needsAttention, and an operator retry re-sends the same undo', () => {
      const s = given(started, { type: 'inventory.unavailable' });
      const stuck = when(s, { type: 'timer.expired', timer: 'releaseInventory' });
      expect(stuck.state).toEqual({ compensating: { releasingInventory: 'needsAttention' } });
      expect(stuck.actions.find((a) => a.type === 'publishStatus')!.params).toEqual({ status: 'NEEDS_ATTENTION', step: 'COMPENSATING' });
      const retried = when(stuck.next, { type: 'operator.retry' });
      expect(retried.state).toEqual({ compensating: { releasingInventory: 'trying' } });
      expect(retried.effects).toContain('requestReleaseInventory');
    });

    it('still finishes if the retried undo succeeds while parked', () => {
      const s = given(started, { type: 'inventory.unavailable' }, { type: 'timer.expired', timer: 'releaseInventory' });
      expect(when(s, { type: 'inventory.released' }).state).toEqual({ compensating: { cancellingOrder: 'trying' } });
    });
  });
});

import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import { machineHarness, type Action } from '../support/machine-harness.ts';
import {
  authorizationMachine,
  type AuthorizationContext,
  type AuthorizationEvent,
  type ProcessorVerdict,
} from '../../src/machines/authorization.ts';

const ORDER = '22222222-2222-4222-8222-222222222222';
const AUTH = '44444444-4444-4444-8444-444444444444';
const CART = '33333333-3333-4333-8333-333333333333';
const CUSTOMER = '55555555-5555-4555-8555-555555555555';
const AT = '2026-01-01T00:00:00.000Z';
const LATER = '2026-01-01T00:05:00.000Z';

const { given, when } = machineHarness(authorizationMachine, { id: ORDER });

const ctx = (s: AnyMachineSnapshot) => s.context as AuthorizationContext;
const types = (actions: Action[]) => actions.map((a) => a.type);

const approved: ProcessorVerdict = { outcome: 'approved' };
const authorize = (verdict: ProcessorVerdict = approved): AuthorizationEvent => ({
  type: 'payment.authorize',
  at: AT,
  authorizationId: AUTH,
  cartId: CART,
  customerId: CUSTOMER,
  amount: 4_200,
  currency: 'USD',
  verdict,
});
const declinedBy = (reason: 'DECLINED' | 'FRAUD'): ProcessorVerdict => ({
  outcome: 'declined',
  reason,
  message: `no: ${reason}`,
});
const voidIt = (at = LATER): AuthorizationEvent => ({ type: 'payment.void', at, reason: 'CHECKOUT_FAILED' });
const capture: AuthorizationEvent = { type: 'payment.capture', at: LATER };
const repeated: AuthorizationEvent = { type: 'payment.authorizeRepeated' };

describe('authorization machine', () => {
  describe('when the processor approves', () => {
    it('authorizes with the id it was given, records it and announces payment-authorized', () => {
      const { next, actions } = when(given(), authorize());
      expect(next.value).toBe('authorized');
      expect(ctx(next)).toMatchObject({
        orderId: ORDER,
        authorizationId: AUTH,
        cartId: CART,
        customerId: CUSTOMER,
        amount: 4_200,
        currency: 'USD',
        authorizedAt: AT,
      });
      expect(actions).toEqual([
        { type: 'recordPayment', params: { status: 'AUTHORIZED' } },
        { type: 'publishPaymentAuthorized', params: {} },
      ]);
    });
  });

  describe('when the processor declines', () => {
    it.each(['DECLINED', 'FRAUD'] as const)(
      'records reason %s, holds no authorization and announces payment-declined',
      (reason) => {
        const { next, actions } = when(given(), authorize(declinedBy(reason)));
        expect(next.value).toBe('declined');
        expect(ctx(next)).toMatchObject({
          authorizationId: null,
          declineReason: reason,
          declineMessage: `no: ${reason}`,
          declinedAt: AT,
        });
        expect(actions).toEqual([
          { type: 'recordPayment', params: { status: 'DECLINED' } },
          { type: 'publishPaymentDeclined', params: {} },
        ]);
      },
    );
  });

  describe('when an authorize arrives for a decided payment', () => {
    it.each([
      ['authorized', given(authorize())],
      ['declined', given(authorize(declinedBy('DECLINED')))],
      ['voided', given(authorize(), voidIt())],
      ['captured', given(authorize(), capture)],
    ])('ignores it in %s, whatever the verdict', (_state, s) => {
      expect(when(s, authorize()).changed).toBe(false);
      expect(when(s, authorize(declinedBy('FRAUD'))).changed).toBe(false);
      expect(when(s, repeated).changed).toBe(false);
    });
  });

  describe('when an authorization is voided', () => {
    it('releases it and announces payment-voided', () => {
      const { next, actions } = when(given(authorize()), voidIt());
      expect(next.value).toBe('voided');
      expect(ctx(next)).toMatchObject({
        authorizationId: AUTH,
        voidedAt: LATER,
        voidReason: 'CHECKOUT_FAILED',
      });
      expect(actions).toEqual([
        { type: 'recordPayment', params: { status: 'VOIDED' } },
        { type: 'publishPaymentVoided', params: {} },
      ]);
    });

    it('treats a second void as done', () => {
      expect(when(given(authorize(), voidIt()), voidIt('2026-01-02T00:00:00.000Z')).changed).toBe(false);
    });
  });

  describe('when a void comes before any authorization', () => {
    it('leaves a tombstone and announces nothing', () => {
      const { next, actions } = when(given(), voidIt());
      expect(next.value).toBe('voided');
      expect(ctx(next)).toMatchObject({ authorizationId: null, amount: null, voidedAt: LATER });
      expect(actions).toEqual([{ type: 'recordPayment', params: { status: 'VOIDED' } }]);
    });

    it('refuses a late approval: nothing is ever authorized', () => {
      const { next, changed } = when(given(voidIt()), authorize());
      expect(changed).toBe(false);
      expect(next.value).toBe('voided');
      expect(ctx(next).authorizationId).toBeNull();
    });
  });

  describe('when a declined payment is voided', () => {
    it('stays declined, notes the void once and announces nothing', () => {
      const first = when(given(authorize(declinedBy('FRAUD'))), voidIt());
      expect(first.next.value).toBe('declined');
      expect(ctx(first.next)).toMatchObject({ declineReason: 'FRAUD', voidedAt: LATER });
      expect(types(first.actions)).toEqual([]);
      expect(when(first.next, voidIt('2026-01-02T00:00:00.000Z')).changed).toBe(false);
    });
  });

  describe('when the order completes', () => {
    it('captures an authorization and announces payment-captured', () => {
      const { next, actions } = when(given(authorize()), capture);
      expect(next.value).toBe('captured');
      expect(ctx(next).capturedAt).toBe(LATER);
      expect(actions).toEqual([
        { type: 'recordPayment', params: { status: 'CAPTURED' } },
        { type: 'publishPaymentCaptured', params: {} },
      ]);
    });

    it.each([
      ['new', given()],
      ['declined', given(authorize(declinedBy('DECLINED')))],
      ['voided', given(authorize(), voidIt())],
      ['captured', given(authorize(), capture)],
    ])('captures nothing in %s', (_state, s) => {
      expect(when(s, capture).changed).toBe(false);
    });

    it('cannot be voided once captured', () => {
      expect(when(given(authorize(), capture), voidIt()).changed).toBe(false);
    });
  });
});

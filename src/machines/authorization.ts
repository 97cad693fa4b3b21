/**
 * A payment authorization: one actor per orderId.
 *
 *   new ─payment.authorize─▶ authorized ─payment.capture─▶ captured   (order completed)
 *    │  └─(not approved)─▶ declined  │
 *    │                       │      └─payment.void─▶ voided            (funds released)
 *    └─payment.void──────────┼─────────────────────▶ voided            (a tombstone: nothing held)
 *                            └─payment.void: stays declined, notes when (nothing to release)
 *
 * The host asks the processor before delivering `payment.authorize` and passes its verdict in the
 * event as a fact; the `approved` guard decides. The authorizationId arrives in the event too
 * (derived from the orderId by the host), so the machine mints nothing.
 *
 * A void before any authorization leaves a tombstone, so that an authorize arriving late (after
 * the saga gave up on it) is refused instead of holding funds nobody will ever release. No state
 * past `new` handles `payment.authorize` or `payment.authorizeRepeated`: the processor is never
 * asked twice for one order, and the host answers a repeat from the state.
 *
 * A void of a declined payment keeps it DECLINED: there is nothing to release, and the catalog's
 * reason (DECLINED or FRAUD) is what an operator wants to see afterwards.
 */
import { assign, setup } from 'xstate';
import type { VoidReason } from '../contracts/index.ts';

export const authorizationMachineVersion = '1';

export type DeclineReason = 'DECLINED' | 'FRAUD';

/** What the processor said. A transient failure never reaches the machine: the caller retries. */
export type ProcessorVerdict =
  { outcome: 'approved' } | { outcome: 'declined'; reason: DeclineReason; message: string };

/** The status a transition records, as get-payment names it. */
export type RecordedStatus = 'AUTHORIZED' | 'DECLINED' | 'VOIDED' | 'CAPTURED';

export interface AuthorizationContext {
  orderId: string;
  /** Set once the processor approved. */
  authorizationId: string | null;
  cartId: string | null;
  customerId: string | null;
  amount: number | null;
  currency: string | null;
  declineReason: DeclineReason | null;
  declineMessage: string | null;
  authorizedAt: string | null;
  declinedAt: string | null;
  voidedAt: string | null;
  voidReason: VoidReason | null;
  capturedAt: string | null;
}

export type AuthorizationEvent =
  | {
      type: 'payment.authorize';
      at: string;
      authorizationId: string;
      cartId: string;
      customerId: string | null;
      amount: number;
      currency: string;
      verdict: ProcessorVerdict;
    }
  /** An authorize-payment for an actor past `new`. No state handles it; the host replies from state. */
  | { type: 'payment.authorizeRepeated' }
  | { type: 'payment.void'; at: string; reason: VoidReason }
  | { type: 'payment.capture'; at: string };

const record = (status: RecordedStatus) => ({ type: 'recordPayment' as const, params: { status } });

export const authorizationMachine = setup({
  types: {
    context: {} as AuthorizationContext,
    events: {} as AuthorizationEvent,
    input: {} as { id: string },
  },
  actions: {
    /** Mirrors the state into the payments table (the read model operators and invariants use). */
    recordPayment: (_, _p: { status: RecordedStatus }) => {},
    publishPaymentAuthorized: (_, _p: Record<string, never>) => {},
    publishPaymentDeclined: (_, _p: Record<string, never>) => {},
    publishPaymentVoided: (_, _p: Record<string, never>) => {},
    publishPaymentCaptured: (_, _p: Record<string, never>) => {},
    recordVoid: assign(({ event }) =>
      event.type === 'payment.void' ? { voidedAt: event.at, voidReason: event.reason } : {},
    ),
  },
  guards: {
    approved: ({ event }) => event.type === 'payment.authorize' && event.verdict.outcome === 'approved',
    notYetVoided: ({ context }) => context.voidedAt === null,
  },
}).createMachine({
  id: 'authorization',
  context: ({ input }) => ({
    orderId: input.id,
    authorizationId: null,
    cartId: null,
    customerId: null,
    amount: null,
    currency: null,
    declineReason: null,
    declineMessage: null,
    authorizedAt: null,
    declinedAt: null,
    voidedAt: null,
    voidReason: null,
    capturedAt: null,
  }),
  initial: 'new',
  states: {
    new: {
      on: {
        'payment.authorize': [
          {
            guard: 'approved',
            target: 'authorized',
            actions: [
              assign(({ event }) => ({
                authorizationId: event.authorizationId,
                cartId: event.cartId,
                customerId: event.customerId,
                amount: event.amount,
                currency: event.currency,
                authorizedAt: event.at,
              })),
              record('AUTHORIZED'),
              { type: 'publishPaymentAuthorized', params: {} },
            ],
          },
          {
            target: 'declined',
            actions: [
              assign(({ event }) => ({
                cartId: event.cartId,
                customerId: event.customerId,
                amount: event.amount,
                currency: event.currency,
                declinedAt: event.at,
                declineReason: event.verdict.outcome === 'declined' ? event.verdict.reason : 'DECLINED',
                declineMessage: event.verdict.outcome === 'declined' ? event.verdict.message : null,
              })),
              record('DECLINED'),
              { type: 'publishPaymentDeclined', params: {} },
            ],
          },
        ],
        // Nothing was authorized, so nothing is released or announced: only the tombstone is kept.
        'payment.void': { target: 'voided', actions: ['recordVoid', record('VOIDED')] },
      },
    },
    authorized: {
      on: {
        'payment.void': {
          target: 'voided',
          actions: ['recordVoid', record('VOIDED'), { type: 'publishPaymentVoided', params: {} }],
        },
        'payment.capture': {
          target: 'captured',
          actions: [
            assign({ capturedAt: ({ event }) => event.at }),
            record('CAPTURED'),
            { type: 'publishPaymentCaptured', params: {} },
          ],
        },
      },
    },
    declined: {
      // The first void is noted (the saga has let go); later ones change nothing.
      on: { 'payment.void': { guard: 'notYetVoided', actions: 'recordVoid' } },
    },
    voided: { type: 'final' },
    captured: { type: 'final' },
  },
});

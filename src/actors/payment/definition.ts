/**
 * How the authorization machine's actions become effects: each publish goes to the outbox (and so
 * to the PAYMENTS stream after commit); `recordPayment` keeps the `payments` table in step, in the
 * same transaction as the snapshot.
 */
import type { AnyMachineSnapshot } from 'xstate';
import { AuthorizationContextSchema } from './schema.ts';
import { Event } from '../../contracts/subjects.ts';
import {
  MessageType,
  type GetPaymentResponse,
  type PaymentAuthorized,
  type PaymentCaptured,
  type PaymentDeclined,
  type PaymentStatus,
  type PaymentVoided,
} from '../../contracts/index.ts';
import { publishes, type ActorDefinition } from '../../runtime/actor-host.ts';
import type { Db } from '../../runtime/store.ts';
import type { Statement } from 'better-sqlite3';
import {
  authorizationMachine,
  authorizationMachineVersion,
  type AuthorizationContext,
  type RecordedStatus,
} from '../../machines/authorization.ts';

export const authorizationContext = (s: AnyMachineSnapshot): AuthorizationContext =>
  s.context as AuthorizationContext;

/** A field the state guarantees; its absence is a bug in the machine, not bad input. */
function known<T>(value: T | null, field: string, c: AuthorizationContext): T {
  if (value === null) throw new Error(`authorization ${c.orderId}: ${field} is missing`);
  return value;
}

export const paymentAuthorizedPayload = (c: AuthorizationContext): PaymentAuthorized => ({
  authorizationId: known(c.authorizationId, 'authorizationId', c),
  orderId: c.orderId,
  cartId: known(c.cartId, 'cartId', c),
  ...(c.customerId ? { customerId: c.customerId } : {}),
  amount: known(c.amount, 'amount', c),
  currency: known(c.currency, 'currency', c),
  authorizedAt: known(c.authorizedAt, 'authorizedAt', c),
});

export const paymentDeclinedPayload = (c: AuthorizationContext): PaymentDeclined => ({
  orderId: c.orderId,
  cartId: known(c.cartId, 'cartId', c),
  reason: known(c.declineReason, 'declineReason', c),
  ...(c.declineMessage ? { message: c.declineMessage } : {}),
  declinedAt: known(c.declinedAt, 'declinedAt', c),
});

export const paymentVoidedPayload = (c: AuthorizationContext): PaymentVoided => ({
  orderId: c.orderId,
  ...(c.authorizationId ? { authorizationId: c.authorizationId } : {}),
  voidedAt: known(c.voidedAt, 'voidedAt', c),
});

export const paymentCapturedPayload = (c: AuthorizationContext): PaymentCaptured => ({
  orderId: c.orderId,
  authorizationId: known(c.authorizationId, 'authorizationId', c),
  amount: known(c.amount, 'amount', c),
  currency: known(c.currency, 'currency', c),
  capturedAt: known(c.capturedAt, 'capturedAt', c),
});

const statusOf: Record<string, PaymentStatus | undefined> = {
  new: 'PENDING',
  authorized: 'AUTHORIZED',
  declined: 'DECLINED',
  voided: 'VOIDED',
  captured: 'CAPTURED',
};

export function paymentStatus(s: AnyMachineSnapshot): PaymentStatus {
  const status = statusOf[String(s.value)];
  if (!status) throw new Error(`authorization in unknown state ${JSON.stringify(s.value)}`);
  return status;
}

/** get-payment's view. A tombstone (voided before any authorization) has no amount. */
export function paymentView(s: AnyMachineSnapshot): GetPaymentResponse {
  const c = authorizationContext(s);
  return {
    orderId: c.orderId,
    ...(c.authorizationId ? { authorizationId: c.authorizationId } : {}),
    status: paymentStatus(s),
    ...(c.amount !== null ? { amount: c.amount } : {}),
    ...(c.currency !== null ? { currency: c.currency } : {}),
  };
}

/** Prepared once per connection: preparing costs more than running this statement. */
const recordStatements = new WeakMap<Db, Statement>();

function recordStatement(db: Db): Statement {
  let stmt = recordStatements.get(db);
  if (!stmt) {
    stmt = db.prepare(
      `INSERT INTO payments (order_id, authorization_id, cart_id, customer_id, amount_cents, currency, status, decline_reason, created_at, updated_at)
       VALUES (@orderId, @authorizationId, @cartId, @customerId, @amount, @currency, @status, @declineReason, @now, @now)
       ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at`,
    );
    recordStatements.set(db, stmt);
  }
  return stmt;
}

export const authorizationDefinition: ActorDefinition<typeof authorizationMachine> = {
  kind: 'authorization',
  machine: authorizationMachine,
  version: authorizationMachineVersion,
  context: AuthorizationContextSchema,
  executors: {
    recordPayment: (p: { status: RecordedStatus }, fx, s) => {
      const c = authorizationContext(s);
      recordStatement(fx.db).run({
        orderId: c.orderId,
        authorizationId: c.authorizationId,
        cartId: c.cartId,
        customerId: c.customerId,
        amount: c.amount,
        currency: c.currency,
        status: p.status,
        declineReason: c.declineReason,
        now: fx.now,
      });
    },
    publishPaymentAuthorized: publishes(Event.paymentAuthorized, MessageType.paymentAuthorized, (s) =>
      paymentAuthorizedPayload(authorizationContext(s)),
    ),
    publishPaymentDeclined: publishes(Event.paymentDeclined, MessageType.paymentDeclined, (s) =>
      paymentDeclinedPayload(authorizationContext(s)),
    ),
    publishPaymentVoided: publishes(Event.paymentVoided, MessageType.paymentVoided, (s) =>
      paymentVoidedPayload(authorizationContext(s)),
    ),
    publishPaymentCaptured: publishes(Event.paymentCaptured, MessageType.paymentCaptured, (s) =>
      paymentCapturedPayload(authorizationContext(s)),
    ),
  },
};

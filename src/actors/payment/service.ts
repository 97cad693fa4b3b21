/**
 * Payment API (Payments). Serves authorize-payment, void-payment and get-payment; publishes
 * payment-authorized, payment-declined, payment-voided and payment-captured to PAYMENTS; consumes
 * order-cancelled (void) and order-completed (capture) from ORDERING.
 *
 * One authorization actor per orderId. The processor is asked inside the actor's mailbox, so a
 * void that arrives while an authorization is in flight waits for it and then voids it. It is
 * asked at most once per order that reaches a decision: an actor past `new` answers from its
 * state. An outage replies UNAVAILABLE and changes nothing, so the caller retries with the same
 * idempotency key (`${checkoutId}:authorize-payment` from the saga) and is charged once.
 *
 * payment-voided is published only when an authorization was actually released. A void of a
 * payment that never held funds (a tombstone, or a declined one) still replies payment-voided, but
 * announces nothing: PAYMENTS carries facts about money, and the caller already has its answer.
 *
 * order-cancelled for an order with no authorization actor is acked without leaving a tombstone.
 * The tombstone exists to refuse a late authorize, and by the time an order is cancelled none can
 * come: a customer can only cancel a CREATED order, which needed an authorization first, and on the
 * saga's failure path the saga voids (leaving its own tombstone) before it cancels the order
 * whenever it had sent authorize-payment. Not keeping one avoids a row per out-of-stock checkout.
 */
import {
  GetPaymentRequest,
  MessageType,
  requestContract,
  OrderCancelled,
  OrderCompleted,
} from '../../contracts/index.ts';
import type { MessageMeta } from '../../contracts/headers.ts';
import { Command, Durable, Event, Query, Stream } from '../../contracts/subjects.ts';
import { noReply, type ActorHost } from '../../runtime/actor-host.ts';
import { checkoutIdsFor, IdNamespace, uuidv5 } from '../../runtime/ids.ts';
import { parseMessage } from '../../runtime/inbound.ts';
import type { ServiceRuntime } from '../../runtime/service.ts';
import { DEFAULT_ACK_WAIT_MS } from '../../runtime/transport/consumer-policy.ts';
import { ErrorCode, RemoteError } from '../../runtime/transport/errors.ts';
import { errorReply } from '../../runtime/transport/reply.ts';
import type { Delivery } from '../../runtime/transport/transport.ts';
import type { ZodType } from 'zod';
import type { AuthorizationEvent, authorizationMachine } from '../../machines/authorization.ts';
import {
  authorizationContext,
  authorizationDefinition,
  paymentAuthorizedPayload,
  paymentDeclinedPayload,
  paymentView,
  paymentVoidedPayload,
} from './definition.ts';
import type { PaymentProcessor } from './processor.ts';
import { createSimulator } from './simulator.ts';

export interface PaymentServiceConfig {
  /** Defaults to a simulator that approves everything at once. */
  processor?: PaymentProcessor | undefined;
  /** How long an ORDERING delivery may stay unacked before it is redelivered. */
  ackWaitMs?: number | undefined;
}

/** The authorization of an order: derived, so every retry, instance and caller names the same one. */
export const authorizationIdFor = (orderId: string): string => uuidv5(orderId, IdNamespace.authorization);

type Authorizations = ActorHost<typeof authorizationMachine>;

export async function startPaymentService(
  rt: ServiceRuntime,
  config: PaymentServiceConfig = {},
): Promise<void> {
  const processor = config.processor ?? createSimulator();
  const ackWaitMs = config.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
  const authorizations: Authorizations = rt.host(authorizationDefinition);
  const at = () => new Date(rt.clock.now()).toISOString();
  const state = (s: { value: unknown }) => String(s.value);
  /** Orders whose processor call is under way, so get-payment can answer PENDING. */
  const asking = new Set<string>();

  await rt.transport.ensureStream(Stream.payments.name, Stream.payments.subjects);
  await rt.transport.ensureStream(Stream.ordering.name, Stream.ordering.subjects);

  await rt.command({
    ...requestContract(Command.authorizePayment, MessageType.authorizePayment),
    host: authorizations,
    actorId: (p) => p.orderId ?? checkoutIdsFor(p.cartId).orderId,
    toEvent: async (p, _meta, id): Promise<AuthorizationEvent> => {
      const current = authorizations.peek(id);
      if (current && state(current) !== 'new') return { type: 'payment.authorizeRepeated' };
      asking.add(id);
      // Queued behind this delivery in the same mailbox, so PENDING lasts until the outcome is stored.
      void authorizations.exclusive(id, async () => void asking.delete(id));
      let verdict;
      try {
        verdict = await processor.authorize({
          orderId: id,
          customerId: p.customerId,
          amount: p.amount,
          currency: p.currency,
        });
      } catch (err) {
        rt.log.warn({ err, orderId: id }, 'payment processor unavailable');
        throw new RemoteError(
          ErrorCode.unavailable,
          `payment processor unavailable for order ${id}; retry with the same idempotency key`,
        );
      }
      return {
        type: 'payment.authorize',
        at: at(),
        authorizationId: authorizationIdFor(id),
        cartId: p.cartId,
        customerId: p.customerId ?? null,
        amount: p.amount,
        currency: p.currency,
        verdict,
      };
    },
    reply: (t, p, meta) => {
      const c = authorizationContext(t.snapshot);
      switch (state(t.snapshot)) {
        case 'authorized':
        case 'captured':
          return rt.reply(MessageType.paymentAuthorized, paymentAuthorizedPayload(c), meta);
        case 'declined':
          return rt.reply(MessageType.paymentDeclined, paymentDeclinedPayload(c), meta);
        case 'voided':
          return rt.reply(
            MessageType.paymentDeclined,
            {
              orderId: c.orderId,
              cartId: c.cartId ?? p.cartId,
              reason: 'VOIDED',
              declinedAt: at(),
              message: c.authorizationId
                ? 'the authorization was voided'
                : 'the payment was voided before it was authorized',
            },
            meta,
          );
        default:
          return errorReply(ErrorCode.internal, `authorization ${c.orderId} was not decided`);
      }
    },
  });

  await rt.command({
    ...requestContract(Command.voidPayment, MessageType.voidPayment),
    host: authorizations,
    actorId: (p) => p.orderId,
    toEvent: (p, _meta, id): AuthorizationEvent => {
      // Checkable without any state: the authorizationId is derived from the orderId.
      if (p.authorizationId && p.authorizationId.toLowerCase() !== authorizationIdFor(id)) {
        throw new RemoteError(
          ErrorCode.badRequest,
          `authorization ${p.authorizationId} does not belong to order ${id}`,
        );
      }
      return { type: 'payment.void', at: at(), reason: p.reason };
    },
    reply: (t, p, meta) => {
      switch (state(t.snapshot)) {
        case 'voided':
        case 'declined':
          return rt.reply(
            MessageType.paymentVoided,
            paymentVoidedPayload(authorizationContext(t.snapshot)),
            meta,
          );
        case 'captured':
          return errorReply(
            ErrorCode.conflict,
            `the payment for order ${p.orderId} was captured and cannot be voided; refund it instead`,
          );
        default:
          return errorReply(ErrorCode.internal, `the payment for order ${p.orderId} was not voided`);
      }
    },
  });

  await rt.query(Query.getPayment, MessageType.getPaymentRequest, GetPaymentRequest, (p, meta) => {
    const snapshot = authorizations.peek(p.orderId);
    if (snapshot) return rt.reply(MessageType.getPaymentResponse, paymentView(snapshot), meta);
    if (asking.has(p.orderId))
      return rt.reply(MessageType.getPaymentResponse, { orderId: p.orderId, status: 'PENDING' }, meta);
    throw new RemoteError(ErrorCode.notFound, `no payment for order ${p.orderId}`);
  });

  /** Applies an order's outcome to its authorization, if this service holds one, and checks the result. */
  const onOrderOutcome = <T extends { orderId: string }>(
    durable: Durable,
    subject: Event,
    schema: ZodType<T>,
    type: MessageType,
    event: () => AuthorizationEvent,
    check: (orderId: string, after: string | undefined) => void,
  ) =>
    rt.consume({ stream: Stream.ordering.name, durable, filterSubjects: [subject], ackWaitMs }, async (d) => {
      const parsed = parseOrDrop(rt, d, schema, type);
      if (!parsed) return;
      const { meta, payload } = parsed;
      // Another partition's order (each partition reads every order event through its own durable).
      if (!rt.owns(payload.orderId)) return;
      const s = await applyToExisting(authorizations, payload.orderId, event(), `${durable}/${meta.id}`, meta);
      check(payload.orderId, s ? state(s) : undefined);
    });

  await onOrderOutcome(
    Durable.paymentOnOrderCancelled,
    Event.orderCancelled,
    OrderCancelled,
    MessageType.orderCancelled,
    () => ({ type: 'payment.void', at: at(), reason: 'ORDER_CANCELLED' }),
    (orderId, after) => {
      if (after === 'captured') rt.log.warn({ orderId }, 'order cancelled after its payment was captured: it needs a refund');
    },
  );
  await onOrderOutcome(
    Durable.paymentOnOrderCompleted,
    Event.orderCompleted,
    OrderCompleted,
    MessageType.orderCompleted,
    () => ({ type: 'payment.capture', at: at() }),
    (orderId, after) => {
      if (after !== 'captured') {
        rt.log.warn({ orderId, status: after ?? 'none' }, 'order completed without an authorized payment to capture');
      }
    },
  );
}

/**
 * Delivers an event from ORDERING to an authorization that exists, inside its mailbox (so it waits
 * for an authorization in flight). An order we hold no authorization for is left alone. Returns
 * the authorization's snapshot afterwards, if there is one.
 */
async function applyToExisting(
  authorizations: Authorizations,
  orderId: string,
  event: AuthorizationEvent,
  inboxKey: string,
  cause: MessageMeta,
): Promise<{ value: unknown } | undefined> {
  return authorizations.exclusive(orderId, async () => {
    if (!authorizations.peek(orderId)) return undefined;
    const r = await authorizations.deliver(orderId, event, { inboxKey, cause, reply: noReply });
    return r.snapshot;
  });
}

/** A message that can never parse is poison: log it and ack, rather than have it redelivered forever. */
function parseOrDrop<T>(
  rt: ServiceRuntime,
  d: Delivery,
  schema: ZodType<T>,
  type: string,
): { meta: MessageMeta; payload: T } | undefined {
  try {
    return parseMessage(d, schema, type);
  } catch (err) {
    rt.log.error({ err, seq: d.seq, subject: d.subject }, `dropping unparseable ${type}`);
    return undefined;
  }
}

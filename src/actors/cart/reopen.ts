/**
 * A failed checkout gives the shopper their cart back. The Cart API consumes order-cancelled (a
 * durable consumer on ORDERING); for a checkout cancelled for any cause but the shopper's own, it
 * starts a new cart with the checked-out cart's lines, its owner and the reason:
 *
 *   order-cancelled {cartId, reason ≠ CUSTOMER_REQUESTED} ──▶ cart.reopen ──▶ cart reopenedCartId(cartId)
 *
 * The new cart's id is derived from the old one, so nothing is stored to link them: the old cart
 * names it (`reopenedAs`) when it exists, and the new one names the old (`restoredFrom`). The event
 * is delivered under an inbox key of the message's id, and the cart machine accepts `cart.reopen`
 * only for a cart that does not exist yet, so a redelivery, or a second cancellation of the same
 * checkout, reopens nothing twice. An order-cancelled without a cartId (from before it was carried)
 * or for a cart this service (or this partition) does not hold is acknowledged and ignored. The new
 * cart's id is chosen in the old one's partition (reopenedCartId), so this partition creates it.
 */
import { Durable, Event, Stream } from '../../contracts/subjects.ts';
import { MessageType, OrderCancelled } from '../../contracts/index.ts';
import { noReply, type ActorHost } from '../../runtime/actor-host.ts';
import { parseEventOrDrop } from '../../runtime/inbound.ts';
import type { ServiceRuntime } from '../../runtime/service.ts';
import { DEFAULT_ACK_WAIT_MS } from '../../runtime/transport/consumer-policy.ts';
import type { cartMachine, CartEvent } from '../../machines/cart.ts';
import { cartContext, cartState, reopenedCartId } from './definition.ts';

export async function reopenCartsOfCancelledCheckouts(
  rt: ServiceRuntime,
  carts: ActorHost<typeof cartMachine>,
  at: () => string,
): Promise<void> {
  const durable = Durable.cartReopensOnOrderCancelled;
  await rt.consume(
    { stream: Stream.ordering.name, durable, filterSubjects: [Event.orderCancelled], ackWaitMs: DEFAULT_ACK_WAIT_MS },
    async (d) => {
      const parsed = parseEventOrDrop(rt.log, d, OrderCancelled, MessageType.orderCancelled);
      if (!parsed) return;
      const { meta, payload } = parsed;
      // The shopper's own cancellation of a created order is not a failed checkout.
      if (payload.reason === 'CUSTOMER_REQUESTED' || payload.cartId === undefined) return;
      // Another partition's cart (each partition reads every order-cancelled through its own durable).
      if (!rt.owns(payload.cartId)) return;
      const old = carts.peek(payload.cartId);
      if (!old || cartState(old) !== 'checkedOut') return;
      const from = cartContext(old);
      const event: CartEvent = {
        type: 'cart.reopen',
        at: at(),
        items: from.items.map((i) => ({ ...i })),
        currency: from.currency,
        customerId: from.customerId,
        restoredFrom: { cartId: from.cartId, reason: payload.reason, detail: payload.detail ?? null },
      };
      const id = reopenedCartId(from.cartId, rt.partition.count);
      await carts.exclusive(id, () => carts.deliver(id, event, { inboxKey: `${durable}/${meta.id}`, cause: meta, reply: noReply }));
    },
  );
}

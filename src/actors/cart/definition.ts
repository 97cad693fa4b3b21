/**
 * How the cart machine's actions become effects: the abandon timer is a durable timer row, and
 * cart-checked-out goes to the outbox (and so to the SHOPPING stream after commit) with an event id
 * and message id derived from the cartId. A cart is checked out at most once, and JetStream drops
 * a re-send of the same id, so the checkout saga hears about each cart exactly once.
 */
import type { AnyMachineSnapshot } from 'xstate';
import { Event, partitionOf } from '../../contracts/subjects.ts';
import {
  MessageType,
  type CalculateDiscountRequest,
  type CancellationDetail,
  type CancellationReason,
  type Cart,
  type CartCheckedOut,
  type CartStatus,
} from '../../contracts/index.ts';
import type { ActorDefinition } from '../../runtime/actor-host.ts';
import { orderNumberOf } from '../../contracts/order-number.ts';
import { checkoutIdsFor, derivedId, uuidv5 } from '../../runtime/ids.ts';
import {
  CART_ABANDON_TIMER,
  cartMachine,
  cartMachineVersion,
  subtotalOf,
  type CartContext,
  type CartEvent,
  type CartState,
} from '../../machines/cart.ts';
import { CartContextSchema } from './schema.ts';

/** Namespace of ids derived from a cartId by the Cart API. Changing it re-publishes every cart. */
const CART_EVENT_NS = '3e8b6a1d-4c2f-4d7e-9a1b-5c6d7e8f9a10';

export const cartCheckedOutEventId = (cartId: string): string =>
  uuidv5(`${cartId}/cart-checked-out`, CART_EVENT_NS);

/**
 * The cart that holds a checked-out cart's lines again after its checkout was cancelled: derived,
 * so every redelivery and every instance reopens into the same one, and the old cart can name it
 * without storing anything. With the Cart API in `partitions` partitions it is the first of
 * `<cartId>/reopened`, `<cartId>/reopened/1`, ... whose id falls in the old cart's partition: the
 * partition that reads the old cart's lines creates the new one, and requests for it are routed
 * there. With one partition it is the first, the id it always was. It keeps a time-ordered cart's
 * time (`derivedId`).
 */
export function reopenedCartId(cartId: string, partitions = 1): string {
  const home = partitionOf(cartId.toLowerCase(), partitions);
  for (let n = 0; ; n++) {
    const id = derivedId(cartId, CART_EVENT_NS, n === 0 ? `${cartId}/reopened` : `${cartId}/reopened/${n}`);
    if (partitionOf(id, partitions) === home) return id;
  }
}

/**
 * The idempotency key of a checkout's calculate-discount: the same cart asking the same thing gets
 * the same key (a retry publishes no second discount-calculated); a changed subtotal or code does not.
 */
export const discountKeyFor = (r: CalculateDiscountRequest): string =>
  `${r.cartId}:calculate-discount:${uuidv5(JSON.stringify([r.subtotal, r.currency, r.promotionCode ?? null, r.customerId ?? null]), CART_EVENT_NS)}`;

export const cartState = (s: AnyMachineSnapshot): CartState => String(s.value) as CartState;
export const cartContext = (s: AnyMachineSnapshot): CartContext => s.context as CartContext;

const statusOf: Record<CartState, CartStatus | undefined> = {
  new: undefined,
  open: 'OPEN',
  checkedOut: 'CHECKED_OUT',
  abandoned: 'ABANDONED',
};

/** The Cart document, or undefined for a cart that does not exist yet. */
export function cartView(s: AnyMachineSnapshot): Cart | undefined {
  const status = statusOf[cartState(s)];
  if (!status) return undefined;
  const c = cartContext(s);
  const ids = status === 'CHECKED_OUT' ? checkoutIdsFor(c.cartId) : undefined;
  return {
    cartId: c.cartId,
    ...(c.customerId ? { customerId: c.customerId } : {}),
    status,
    items: c.items,
    ...(c.pricing
      ? { subtotal: c.pricing.subtotal, discount: c.pricing.discount, total: c.pricing.total }
      : { subtotal: subtotalOf(c.items) }),
    currency: c.currency,
    ...(ids ? { orderId: ids.orderId, orderNumber: orderNumberOf(ids.orderId), checkoutId: ids.checkoutId } : {}),
    ...(c.restoredFrom
      ? {
          restoredFrom: {
            cartId: c.restoredFrom.cartId,
            reason: c.restoredFrom.reason as CancellationReason,
            ...(c.restoredFrom.detail ? { detail: c.restoredFrom.detail as CancellationDetail } : {}),
          },
        }
      : {}),
  };
}

export function cartCheckedOutPayload(c: CartContext): CartCheckedOut {
  const pricing = c.pricing ?? { subtotal: subtotalOf(c.items), discount: 0, total: subtotalOf(c.items) };
  return {
    eventId: cartCheckedOutEventId(c.cartId),
    occurredAt: c.checkedOutAt ?? '',
    cartId: c.cartId,
    customerId: c.customerId ?? '',
    items: c.items,
    subtotal: pricing.subtotal,
    discount: pricing.discount,
    total: pricing.total,
    currency: c.currency,
  };
}

export interface CartDefinitionConfig {
  /** An open cart left unchanged this long is abandoned. */
  abandonAfterMs: number;
}

export function cartDefinition(config: CartDefinitionConfig): ActorDefinition<typeof cartMachine> {
  return {
    kind: 'cart',
    machine: cartMachine,
    version: cartMachineVersion,
    context: CartContextSchema,
    executors: {
      armAbandonTimer: (_p, fx) => {
        // The due time rides in the event, so the machine records when the cart was abandoned
        // without reading a clock.
        const event: CartEvent = {
          type: 'cart.abandon',
          at: new Date(fx.now + config.abandonAfterMs).toISOString(),
        };
        fx.setTimer(CART_ABANDON_TIMER, config.abandonAfterMs, event);
      },
      cancelAbandonTimer: (_p, fx) => fx.cancelTimer(CART_ABANDON_TIMER),
      publishCartCheckedOut: (_p, fx, s) => {
        const payload = cartCheckedOutPayload(cartContext(s));
        fx.publish({
          subject: Event.cartCheckedOut,
          type: MessageType.cartCheckedOut,
          payload,
          messageId: payload.eventId,
        });
      },
    },
  };
}

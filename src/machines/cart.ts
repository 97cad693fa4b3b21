/**
 * The cart: one actor per cartId, created by its first add-item (the catalog has no create call).
 *
 *   new ─cart.addItem─▶ open ─cart.checkout─▶ checkedOut
 *    └──cart.reopen──▶  │ ▲  └─cart.abandon─▶ abandoned
 *                       └─┘ cart.addItem / cart.removeItem (each re-arms the abandon timer)
 *
 * A checkout that ends cancelled for any cause but the shopper's own reopens the cart: the Cart
 * API starts a new cart, whose id is derived from the old one, with the old one's lines and the
 * reason (`cart.reopen`, accepted only by a cart that does not exist yet, so a redelivery or a
 * second cancellation of the same checkout reopens nothing twice). The checked-out cart stays final.
 *
 * The host brings every fact in the event: the product's unit price at add time, the per-line
 * limit, the discount the Promotion Service quoted and the time. The machine decides and records.
 * `cartRefusal` is the one place that says why an event is refused, so the guards and the host's
 * error replies cannot disagree. A checked-out cart is final for commands; the abandon timer it
 * may still have armed is ignored there.
 *
 * Ownership: a cart belongs to the customer who first touched it. A command that names a customer
 * (the gateway names the token's subject under AUTH=jwt) records that customer on a cart that has
 * none, and is refused on a cart owned by someone else as if the cart did not exist, so a stranger
 * holding the id learns nothing and changes nothing. A command that names nobody (AUTH=off, the
 * catalog's contract) is judged as before; checkout then names the owner.
 */
import { assign, setup } from 'xstate';

export const cartMachineVersion = '1';

export const CART_ABANDON_TIMER = 'abandon';

export interface CartLine {
  productId: string;
  quantity: number;
  unitPrice: number;
  /** The product's SKU when the Cart API knew it (carts from before it was carried have none). */
  sku?: string | undefined;
}

/** Why a promotion code gave no discount, as the Promotion Service said. */
export interface PromotionRejection {
  code: string;
  reason: string;
}

export interface CartPricing {
  subtotal: number;
  discount: number;
  total: number;
  appliedPromotions: string[];
  promotionCode: string | null;
  promotionRejection: PromotionRejection | null;
}

/** Where a reopened cart came from: the checked-out cart, and why its checkout was cancelled. */
export interface RestoredFrom {
  cartId: string;
  /** The catalog's cancellation reason (OUT_OF_STOCK, PAYMENT_FAILED, FRAUD). */
  reason: string;
  /** The precise cause, when the cancellation named one (PAYMENT_DECLINED, INVENTORY_TIMEOUT...). */
  detail: string | null;
}

export interface CartContext {
  cartId: string;
  customerId: string | null;
  items: CartLine[];
  currency: string;
  createdAt: string | null;
  updatedAt: string | null;
  checkedOutAt: string | null;
  abandonedAt: string | null;
  pricing: CartPricing | null;
  restoredFrom: RestoredFrom | null;
}

export type CartEvent =
  | {
      type: 'cart.addItem';
      at: string;
      productId: string;
      quantity: number;
      unitPrice: number;
      sku?: string | undefined;
      currency: string;
      maxPerLine: number;
      /** The customer acting, when known; the cart's owner from its first such touch. */
      customerId?: string | undefined;
    }
  | { type: 'cart.removeItem'; at: string; productId: string; quantity: number | null; customerId?: string | undefined }
  | {
      type: 'cart.checkout';
      at: string;
      customerId: string;
      promotionCode: string | null;
      subtotal: number;
      discount: number;
      appliedPromotions: string[];
      promotionRejection: PromotionRejection | null;
    }
  | { type: 'cart.abandon'; at?: string }
  | {
      type: 'cart.reopen';
      at: string;
      items: CartLine[];
      currency: string;
      customerId: string | null;
      restoredFrom: RestoredFrom;
    };

export type CartState = 'new' | 'open' | 'checkedOut' | 'abandoned';

/** A refusal, by kind; the service maps each kind to an error code. */
export type CartRefusal =
  | { kind: 'cartNotFound'; message: string }
  | { kind: 'cartClosed'; message: string }
  | { kind: 'itemNotInCart'; message: string }
  | { kind: 'invalid'; message: string }
  | { kind: 'cartEmpty'; message: string };

export const subtotalOf = (items: readonly CartLine[]): number =>
  items.reduce((sum, i) => sum + i.quantity * i.unitPrice, 0);

function closedRefusal(state: CartState, cartId: string): CartRefusal | null {
  if (state === 'checkedOut') return { kind: 'cartClosed', message: `cart ${cartId} is already checked out` };
  if (state === 'abandoned') return { kind: 'cartClosed', message: `cart ${cartId} was abandoned` };
  return null;
}

/**
 * A customer other than the cart's owner is answered exactly as for a cart that does not exist.
 * Either side unknown (no owner yet, or a command that names nobody) is no refusal.
 */
export function ownerRefusal(context: CartContext, customerId: string | null | undefined): CartRefusal | null {
  if (!customerId || context.customerId === null || context.customerId === customerId) return null;
  return { kind: 'cartNotFound', message: `cart ${context.cartId} not found` };
}

/**
 * Why a cart cannot be checked out by `customerId`, or null if it can. Separate from `cartRefusal`
 * because the host asks before it prices the cart: the discount does not change the answer.
 */
export function checkoutRefusal(state: CartState, context: CartContext, customerId?: string | null): CartRefusal | null {
  if (state === 'new') return { kind: 'cartNotFound', message: `cart ${context.cartId} not found` };
  const notOwner = ownerRefusal(context, customerId);
  if (notOwner) return notOwner;
  if (state === 'open' && context.items.length === 0)
    return { kind: 'cartEmpty', message: `cart ${context.cartId} is empty` };
  return closedRefusal(state, context.cartId);
}

/** Why `event` is refused by a cart in `state` with `context`, or null if it is accepted. */
export function cartRefusal(state: CartState, context: CartContext, event: CartEvent): CartRefusal | null {
  const id = context.cartId;
  switch (event.type) {
    case 'cart.abandon':
      // Only the timer sends it; a cart that is no longer open just ignores it.
      return state === 'open' ? null : { kind: 'cartClosed', message: `cart ${id} is not open` };
    case 'cart.checkout':
      return checkoutRefusal(state, context, event.customerId);
    case 'cart.reopen':
      if (state !== 'new') return { kind: 'cartClosed', message: `cart ${id} exists already` };
      return event.items.length === 0 ? { kind: 'cartEmpty', message: `nothing to reopen into cart ${id}` } : null;
    case 'cart.addItem': {
      const closed = ownerRefusal(context, event.customerId) ?? closedRefusal(state, id);
      if (closed) return closed;
      if (context.items.length > 0 && event.currency !== context.currency) {
        return {
          kind: 'invalid',
          message: `product ${event.productId} is priced in ${event.currency}, the cart in ${context.currency}`,
        };
      }
      const after = (lineOf(context, event.productId)?.quantity ?? 0) + event.quantity;
      if (after > event.maxPerLine) {
        return {
          kind: 'invalid',
          message: `at most ${event.maxPerLine} of product ${event.productId} per cart (would be ${after})`,
        };
      }
      return null;
    }
    case 'cart.removeItem': {
      if (state === 'new') return { kind: 'cartNotFound', message: `cart ${id} not found` };
      const closed = ownerRefusal(context, event.customerId) ?? closedRefusal(state, id);
      if (closed) return closed;
      const line = lineOf(context, event.productId);
      if (!line) return { kind: 'itemNotInCart', message: `product ${event.productId} is not in cart ${id}` };
      if (event.quantity !== null && event.quantity > line.quantity) {
        return {
          kind: 'invalid',
          message: `cart ${id} holds only ${line.quantity} of product ${event.productId}`,
        };
      }
      return null;
    }
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
}

const lineOf = (context: CartContext, productId: string): CartLine | undefined =>
  context.items.find((i) => i.productId === productId);

const accepted =
  (state: CartState) =>
  ({ context, event }: { context: CartContext; event: CartEvent }): boolean =>
    cartRefusal(state, context, event) === null;

function addLine(
  items: readonly CartLine[],
  event: Extract<CartEvent, { type: 'cart.addItem' }>,
): CartLine[] {
  const found = items.some((i) => i.productId === event.productId);
  if (!found)
    return [
      ...items,
      {
        productId: event.productId,
        quantity: event.quantity,
        unitPrice: event.unitPrice,
        ...(event.sku ? { sku: event.sku } : {}),
      },
    ];
  // The price captured when the line was first added stands: the shopper saw it then.
  return items.map((i) =>
    i.productId === event.productId ? { ...i, quantity: i.quantity + event.quantity } : i,
  );
}

function removeLine(
  items: readonly CartLine[],
  event: Extract<CartEvent, { type: 'cart.removeItem' }>,
): CartLine[] {
  return items
    .map((i) =>
      i.productId === event.productId
        ? { ...i, quantity: event.quantity === null ? 0 : i.quantity - event.quantity }
        : i,
    )
    .filter((i) => i.quantity > 0);
}

export const cartMachine = setup({
  types: { context: {} as CartContext, events: {} as CartEvent, input: {} as { id: string } },
  actions: {
    armAbandonTimer: (_, _p: Record<string, never>) => {},
    cancelAbandonTimer: (_, _p: Record<string, never>) => {},
    publishCartCheckedOut: (_, _p: Record<string, never>) => {},
    recordAdd: assign(({ context, event }) => {
      if (event.type !== 'cart.addItem') return {};
      return {
        items: addLine(context.items, event),
        currency: context.items.length === 0 ? event.currency : context.currency,
        customerId: context.customerId ?? event.customerId ?? null,
        createdAt: context.createdAt ?? event.at,
        updatedAt: event.at,
      };
    }),
    recordRemove: assign(({ context, event }) => {
      if (event.type !== 'cart.removeItem') return {};
      return { items: removeLine(context.items, event), updatedAt: event.at };
    }),
    recordCheckout: assign(({ event }) => {
      if (event.type !== 'cart.checkout') return {};
      return {
        customerId: event.customerId,
        checkedOutAt: event.at,
        updatedAt: event.at,
        pricing: {
          subtotal: event.subtotal,
          discount: event.discount,
          total: Math.max(0, event.subtotal - event.discount),
          appliedPromotions: event.appliedPromotions,
          promotionCode: event.promotionCode,
          promotionRejection: event.promotionRejection,
        },
      };
    }),
    recordReopen: assign(({ event }) => {
      if (event.type !== 'cart.reopen') return {};
      return {
        items: event.items,
        currency: event.currency,
        customerId: event.customerId,
        createdAt: event.at,
        updatedAt: event.at,
        restoredFrom: event.restoredFrom,
      };
    }),
    recordAbandon: assign(({ context, event }) => {
      if (event.type !== 'cart.abandon') return {};
      return { abandonedAt: event.at ?? context.updatedAt };
    }),
  },
  guards: {
    addAccepted: accepted('open'),
    removeAccepted: accepted('open'),
    checkoutAccepted: accepted('open'),
    firstAddAccepted: accepted('new'),
    reopenAccepted: accepted('new'),
  },
}).createMachine({
  id: 'cart',
  context: ({ input }) => ({
    cartId: input.id,
    customerId: null,
    items: [],
    currency: 'USD',
    createdAt: null,
    updatedAt: null,
    checkedOutAt: null,
    abandonedAt: null,
    pricing: null,
    restoredFrom: null,
  }),
  initial: 'new',
  states: {
    new: {
      on: {
        'cart.addItem': {
          guard: 'firstAddAccepted',
          target: 'open',
          actions: ['recordAdd', { type: 'armAbandonTimer', params: {} }],
        },
        'cart.reopen': {
          guard: 'reopenAccepted',
          target: 'open',
          actions: ['recordReopen', { type: 'armAbandonTimer', params: {} }],
        },
      },
    },
    open: {
      on: {
        'cart.addItem': {
          guard: 'addAccepted',
          actions: ['recordAdd', { type: 'armAbandonTimer', params: {} }],
        },
        'cart.removeItem': {
          guard: 'removeAccepted',
          actions: ['recordRemove', { type: 'armAbandonTimer', params: {} }],
        },
        'cart.checkout': {
          guard: 'checkoutAccepted',
          target: 'checkedOut',
          actions: [
            'recordCheckout',
            { type: 'cancelAbandonTimer', params: {} },
            { type: 'publishCartCheckedOut', params: {} },
          ],
        },
        'cart.abandon': { target: 'abandoned', actions: 'recordAbandon' },
      },
    },
    checkedOut: { type: 'final' },
    abandoned: { type: 'final' },
  },
});

/**
 * Cart API (Shopping). Serves add-item-to-cart, remove-item-from-cart, checkout-cart, get-cart,
 * list-products and get-product; publishes cart-checked-out to SHOPPING; consumes order-cancelled
 * to reopen the cart of a checkout that failed (reopen.ts).
 *
 *   checkout-cart ──▶ [cart mailbox] can it be checked out? (cart machine's rules; no: 404/409)
 *                        │ calculate-discount ──▶ Promotion Service   (deadline; no answer: UNAVAILABLE,
 *                        │                                              nothing changed, shopper retries)
 *                        ▼
 *                     cart.checkout {subtotal, discount} ──▶ checkedOut + cart-checked-out (outbox)
 *
 * Refusals are decided by the machine's `cartRefusal` before anything is delivered, so a refused
 * command changes and stores nothing. A repeated idempotency key replays the stored reply (the
 * runtime's inbox), so a retried checkout answers as the first one did.
 */
import { initialTransition } from 'xstate';
import { Command, Query, Stream } from '../../contracts/subjects.ts';
import {
  GetCartRequest,
  GetProductRequest,
  ListProductsRequest,
  MessageType,
  requestContract,
  type CalculateDiscountRequest,
} from '../../contracts/index.ts';
import type { MessageMeta } from '../../contracts/headers.ts';
import type { Transitioned } from '../../runtime/actor-host.ts';
import type { ServiceRuntime } from '../../runtime/service.ts';
import { ErrorCode, isTransient, RemoteError } from '../../runtime/transport/errors.ts';
import { errorReply } from '../../runtime/transport/reply.ts';
import type { Reply } from '../../runtime/transport/transport.ts';
import {
  cartMachine,
  cartRefusal,
  checkoutRefusal,
  subtotalOf,
  type CartEvent,
  type CartRefusal,
} from '../../machines/cart.ts';
import { DiscountQuote } from '../promotion/messages.ts';
import { loadSeed, type SeedProduct } from '../seed/seed.ts';
import { cartContext, cartDefinition, cartState, cartView, discountKeyFor, reopenedCartId } from './definition.ts';
import { reopenCartsOfCancelledCheckouts } from './reopen.ts';
import { ProductCatalog } from './products.ts';

export { cartMigrations } from './schema.ts';

export interface CartServiceConfig {
  /** Loaded into an empty store at first start; defaults to `loadSeed()`. */
  seed?: { products: readonly SeedProduct[] } | undefined;
  /** The most units of one product a cart may hold. */
  maxQuantityPerLine: number;
  /** An open cart left unchanged this long is abandoned. */
  abandonAfterMs: number;
  /** How long checkout waits for the Promotion Service before answering UNAVAILABLE. */
  discountTimeoutMs: number;
}

export const defaultCartConfig: CartServiceConfig = {
  maxQuantityPerLine: 99,
  abandonAfterMs: 24 * 60 * 60 * 1000,
  discountTimeoutMs: 2_000,
};

const codeOf: Record<CartRefusal['kind'], ErrorCode> = {
  cartNotFound: ErrorCode.notFound,
  itemNotInCart: ErrorCode.notFound,
  cartClosed: ErrorCode.conflict,
  cartEmpty: ErrorCode.conflict,
  invalid: ErrorCode.badRequest,
};

const refuse = (r: CartRefusal): RemoteError => new RemoteError(codeOf[r.kind], r.message);

export async function startCartService(
  rt: ServiceRuntime,
  overrides: Partial<CartServiceConfig> = {},
): Promise<void> {
  const config: CartServiceConfig = { ...defaultCartConfig, ...overrides };
  const products = new ProductCatalog(rt.store.db);
  await products.seedOnce(rt.store, (config.seed ?? loadSeed()).products);
  await rt.transport.ensureStream(Stream.shopping.name, Stream.shopping.subjects);
  await rt.transport.ensureStream(Stream.ordering.name, Stream.ordering.subjects);
  const carts = rt.host(cartDefinition({ abandonAfterMs: config.abandonAfterMs }));
  const at = () => new Date(rt.clock.now()).toISOString();

  /** The cart as it stands, for the machine's rules (a cart never seen is in `new`). */
  const current = (id: string) => {
    const s = carts.peek(id) ?? initialTransition(cartMachine, { id })[0];
    return { state: cartState(s), context: cartContext(s) };
  };

  /** Asks the machine's rules first, so that a refused command reaches no store. */
  const decide = (id: string, event: CartEvent): CartEvent => {
    const { state, context } = current(id);
    const refusal = cartRefusal(state, context, event);
    if (refusal) throw refuse(refusal);
    return event;
  };

  const cartReply = (t: Transitioned, meta: MessageMeta): Reply => {
    const view = cartView(t.snapshot);
    if (t.changed && view) return rt.reply(MessageType.cart, view, meta);
    // Only a race gets here (the abandon timer fired while checkout was pricing the cart).
    const refusal = checkoutRefusal(cartState(t.snapshot), cartContext(t.snapshot));
    return errorReply(
      refusal ? codeOf[refusal.kind] : ErrorCode.conflict,
      refusal?.message ?? 'the cart changed; retry',
    );
  };

  await rt.command({
    ...requestContract(Command.addItemToCart, MessageType.addItemToCart),
    host: carts,
    actorId: (p) => p.cartId,
    toEvent: (p, _meta, id) => {
      const product = products.get(p.productId);
      if (!product) throw new RemoteError(ErrorCode.badRequest, `unknown product ${p.productId}`);
      return decide(id, {
        type: 'cart.addItem',
        at: at(),
        productId: p.productId,
        quantity: p.quantity,
        unitPrice: product.unitPrice,
        sku: product.sku,
        currency: product.currency,
        maxPerLine: config.maxQuantityPerLine,
        customerId: p.customerId,
      });
    },
    reply: (t, _p, meta) => cartReply(t, meta),
  });

  await rt.command({
    ...requestContract(Command.removeItemFromCart, MessageType.removeItemFromCart),
    host: carts,
    actorId: (p) => p.cartId,
    toEvent: (p, _meta, id) =>
      decide(id, { type: 'cart.removeItem', at: at(), productId: p.productId, quantity: p.quantity ?? null, customerId: p.customerId }),
    reply: (t, _p, meta) => cartReply(t, meta),
  });

  await rt.command({
    ...requestContract(Command.checkoutCart, MessageType.checkoutCart),
    host: carts,
    actorId: (p) => p.cartId,
    toEvent: async (p, meta, id) => {
      const { state, context } = current(id);
      const refusal = checkoutRefusal(state, context, p.customerId);
      if (refusal) throw refuse(refusal);
      const request: CalculateDiscountRequest = {
        cartId: id,
        customerId: p.customerId,
        subtotal: subtotalOf(context.items),
        currency: context.currency,
        ...(p.promotionCode !== undefined ? { promotionCode: p.promotionCode } : {}),
      };
      const quote = await priceWithPromotions(rt, request, meta, config.discountTimeoutMs);
      return {
        type: 'cart.checkout',
        at: at(),
        customerId: p.customerId,
        promotionCode: p.promotionCode ?? null,
        subtotal: request.subtotal,
        discount: Math.min(quote.discount, request.subtotal),
        appliedPromotions: quote.appliedPromotions ?? [],
        promotionRejection: quote.rejectedCode ?? null,
      } satisfies CartEvent;
    },
    reply: (t, _p, meta) => cartReply(t, meta),
  });

  await rt.query(Query.getCart, MessageType.getCartRequest, GetCartRequest, (p, meta) => {
    const snapshot = carts.peek(p.cartId);
    const view = snapshot && cartView(snapshot);
    // Another customer's cart reads as no cart at all (see ownerRefusal).
    if (!view || (p.customerId && view.customerId && view.customerId !== p.customerId)) {
      throw new RemoteError(ErrorCode.notFound, `cart ${p.cartId} not found`);
    }
    // A checked-out cart whose checkout was cancelled names the cart that holds its lines again.
    const reopenedAs = reopenedCartId(view.cartId, rt.partition.count);
    const reopened = view.status === 'CHECKED_OUT' && carts.peek(reopenedAs) !== undefined;
    return rt.reply(MessageType.getCartResponse, reopened ? { ...view, reopenedAs } : view, meta);
  });

  await reopenCartsOfCancelledCheckouts(rt, carts, at);

  await rt.query(Query.listProducts, MessageType.listProductsRequest, ListProductsRequest, (_p, meta) =>
    rt.reply(MessageType.listProductsResponse, { products: products.list() }, meta),
  );

  await rt.query(Query.getProduct, MessageType.getProductRequest, GetProductRequest, (p, meta) => {
    const product = products.get(p.productId);
    if (!product) throw new RemoteError(ErrorCode.notFound, `product ${p.productId} not found`);
    return rt.reply(MessageType.getProductResponse, product, meta);
  });
}

/**
 * Asks the Promotion Service for the discount. The idempotency key is derived from the cart and
 * the request, so a retried checkout of an unchanged cart replays the first answer (and the
 * Promotion Service publishes discount-calculated once), while a changed cart or code is priced anew.
 */
async function priceWithPromotions(
  rt: ServiceRuntime,
  request: CalculateDiscountRequest,
  meta: MessageMeta,
  timeoutMs: number,
): Promise<DiscountQuote> {
  try {
    const { payload } = await rt.client.call(
      Command.calculateDiscount,
      MessageType.calculateDiscountRequest,
      request,
      DiscountQuote,
      {
        timeoutMs,
        cause: meta,
        idempotencyKey: discountKeyFor(request),
      },
    );
    return payload;
  } catch (err) {
    if (isTransient(err)) {
      throw new RemoteError(
        ErrorCode.unavailable,
        'the Promotion Service did not answer in time; nothing changed, retry the checkout',
      );
    }
    rt.log.error({ err, cartId: request.cartId }, 'calculate-discount failed');
    throw new RemoteError(ErrorCode.internal, 'the cart could not be priced');
  }
}

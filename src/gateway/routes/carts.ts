/**
 * The catalog's Cart API (openapi.yml): add an item, remove an item, check out; plus get-cart.
 * The first add-item to an unknown cartId creates the cart (the catalog has no create call).
 *
 * Checkout answers the checked-out Cart, which carries the orderId and checkoutId allocated for it,
 * with `Location: /checkouts/{checkoutId}`. With an `Idempotency-Key`, a retried checkout replays
 * the first answer (the Cart API dedupes on the key). Without one, a second checkout of the same
 * cart is a new request and gets 409, as the catalog says.
 *
 * `GET /carts/{cartId}/promotion-quote?code=` previews a promotion code on the open cart (the
 * Promotion Service's quote-promotion): the discount, or why there is none, before checkout.
 *
 * Under AUTH=jwt every call names the signed-in customer to the Cart API, which owns the answer to
 * "whose cart is this" (src/machines/cart.ts): another customer's cart is 404 and is not changed.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { MessageType, QuotePromotionResponse } from '../../contracts/index.ts';
import { Command, Query } from '../../contracts/subjects.ts';
import { checkoutIdsFor } from '../../runtime/ids.ts';
import { scopedIdempotencyKey, forwarding, type RouteOptions } from '../context.ts';
import { causeOf } from '../correlation.ts';
import { HttpCode, HttpError } from '../errors.ts';
import {
  AddItemBody,
  bodyErrors,
  CartDoc,
  CartItemParams,
  CartParams,
  CheckoutBody,
  IdempotentHeaders,
  problem,
  PromotionQuoteDoc,
  PromotionQuoteQuery,
  RemoveItemQuery,
  serviceErrors,
  shopperAuth,
  shopperSecurity,
} from '../schemas.ts';

export const cartRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { ctx }) => {
  const { services, config, auth } = ctx;
  const { query, command } = forwarding(ctx);
  const acting = (customerId: string | undefined) => (customerId !== undefined ? { customerId } : {});

  app.get('/carts/:cartId', {
    schema: {
      operationId: 'getCart',
      summary: 'Get a cart',
      tags: ['Cart'],
      security: shopperSecurity,
      params: CartParams,
      response: {
        200: CartDoc,
        400: problem('The cartId is not a UUID.'),
        404: problem('The cart was not found (or is another customer’s).'),
        ...shopperAuth,
        ...serviceErrors,
      },
    },
    handler: async (req) =>
      query(req, Query.getCart, MessageType.getCartRequest, CartDoc, {
        cartId: req.params.cartId, ...acting(await auth.customer(req)),
      }),
  });

  app.get('/carts/:cartId/promotion-quote', {
    schema: {
      operationId: 'quotePromotion',
      summary: 'Preview what a promotion code takes off the cart',
      description:
        'Asks the Promotion Service what the code would take off this cart now. A code that does not apply is not an error: ' +
        '`applies` is false and `reason` says why. Nothing is stored; checkout prices the cart again.',
      tags: ['Cart'],
      security: shopperSecurity,
      params: CartParams,
      querystring: PromotionQuoteQuery,
      response: {
        200: PromotionQuoteDoc,
        400: problem('The cartId is not a UUID, or no code was given.'),
        404: problem('The cart was not found (or is another customer’s).'),
        409: problem('The cart is checked out or abandoned: there is nothing left to discount.'),
        ...shopperAuth,
        ...serviceErrors,
      },
    },
    handler: async (req) => {
      const customer = await auth.customer(req);
      const cart = await query(req, Query.getCart, MessageType.getCartRequest, CartDoc, {
        cartId: req.params.cartId, ...acting(customer),
      });
      if (cart.status !== 'OPEN') throw new HttpError(409, HttpCode.conflict, `cart ${cart.cartId} is ${cart.status.toLowerCase().replace('_', ' ')}`);
      const customerId = cart.customerId ?? customer;
      const subtotal = cart.subtotal ?? cart.items.reduce((sum, i) => sum + i.quantity * i.unitPrice, 0);
      const q = await query(req, Query.quotePromotion, MessageType.quotePromotionRequest, QuotePromotionResponse, {
        cartId: cart.cartId,
        ...(customerId !== undefined ? { customerId } : {}),
        subtotal,
        currency: cart.currency,
        promotionCode: req.query.code,
      });
      const discount = Math.min(q.discount, subtotal);
      return {
        promotionCode: q.promotionCode,
        applies: q.rejectedReason === undefined && q.appliedPromotions.length > 0,
        subtotal,
        discount,
        total: subtotal - discount,
        currency: cart.currency,
        ...(q.rejectedReason !== undefined ? { reason: q.rejectedReason } : {}),
        ...(q.minSpend !== undefined ? { minSpend: q.minSpend } : {}),
      };
    },
  });

  app.post('/carts/:cartId/items', {
    schema: {
      operationId: 'addItemToCart',
      summary: 'Add an item to the cart',
      description:
        'The client chooses the cartId: the first item added to an unknown cartId creates the cart and answers 200 with it, as for a known cart. ' +
        'So this call never answers 404 (the catalog declares it, but has no call that creates a cart); a cart that was checked out or abandoned answers 409.',
      tags: ['Cart'],
      security: shopperSecurity,
      params: CartParams,
      headers: IdempotentHeaders,
      body: AddItemBody,
      response: {
        200: CartDoc,
        400: problem('The request was invalid (the message names the field), the product is unknown, or the line would exceed its limit.'),
        404: problem('Never answered under AUTH=off: an unknown cartId is created (see the description). Declared because the catalog declares it. Under AUTH=jwt: the cart is another customer’s.'),
        409: problem('The cart is already checked out or was abandoned.'),
        ...shopperAuth,
        ...bodyErrors,
        ...serviceErrors,
      },
    },
    handler: async (req) => {
      const customer = acting(await auth.customer(req));
      return command(req, Command.addItemToCart, MessageType.addItemToCart, CartDoc,
        { cartId: req.params.cartId, ...req.body, ...customer },
        // The customer is part of the key: another customer reusing a key must not get this reply.
        scopedIdempotencyKey(req.headers, 'add-item', req.params.cartId, { ...req.body, ...customer }),
      );
    },
  });

  app.delete('/carts/:cartId/items/:productId', {
    schema: {
      operationId: 'removeItemFromCart',
      summary: 'Remove an item from the cart',
      tags: ['Cart'],
      security: shopperSecurity,
      params: CartItemParams,
      querystring: RemoveItemQuery,
      headers: IdempotentHeaders,
      response: {
        200: CartDoc,
        400: problem('An id is not a UUID, or the quantity is invalid or more than the cart holds.'),
        404: problem('The cart or item was not found (or the cart is another customer’s).'),
        409: problem('The cart is already checked out or was abandoned.'),
        ...shopperAuth,
        ...serviceErrors,
      },
    },
    handler: async (req) => {
      const customer = acting(await auth.customer(req));
      return command(req, Command.removeItemFromCart, MessageType.removeItemFromCart, CartDoc,
        { ...req.params, ...(req.query.quantity !== undefined ? { quantity: req.query.quantity } : {}), ...customer },
        scopedIdempotencyKey(req.headers, 'remove-item', req.params.cartId, [req.params.productId, req.query, customer]),
      );
    },
  });

  app.post('/carts/:cartId/checkout', {
    schema: {
      operationId: 'checkoutCart',
      summary: 'Check out the cart',
      description:
        'Prices the cart (including discounts) and, on success, publishes a `CartCheckedOut` event, which starts the ' +
        'checkout. The returned cart names the `orderId` and the `checkoutId`; follow `Location` to watch the checkout.',
      tags: ['Cart'],
      security: shopperSecurity,
      params: CartParams,
      headers: IdempotentHeaders,
      body: CheckoutBody,
      response: {
        200: CartDoc,
        400: problem('The request was invalid.'),
        404: problem('The cart was not found (or is another customer’s).'),
        409: problem('The cart is empty or already checked out.'),
        ...shopperAuth,
        ...bodyErrors,
        ...serviceErrors,
      },
    },
    handler: async (req, reply) => {
      // Under AUTH=jwt the body's customerId must be the token's subject (403 otherwise).
      await auth.sameCustomer(req, req.body.customerId);
      const cart = await services.call({
        subject: Command.checkoutCart,
        type: MessageType.checkoutCart,
        payload: { cartId: req.params.cartId, ...req.body },
        reply: CartDoc,
        timeoutMs: config.timeouts.checkoutMs,
        cause: causeOf(req),
        idempotencyKey: scopedIdempotencyKey(req.headers, 'checkout', req.params.cartId, req.body),
      });
      ctx.checkouts.accept(cart);
      const checkoutId = cart.checkoutId ?? checkoutIdsFor(cart.cartId).checkoutId;
      void reply.header('location', `/checkouts/${checkoutId}`);
      return cart;
    },
  });
};

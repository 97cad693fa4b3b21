/**
 * The catalog's Cart API (openapi.yml): add an item, remove an item, check out; plus get-cart.
 * The first add-item to an unknown cartId creates the cart (the catalog has no create call).
 *
 * Checkout answers the checked-out Cart, which carries the orderId and checkoutId allocated for it,
 * with `Location: /checkouts/{checkoutId}`. With an `Idempotency-Key`, a retried checkout replays
 * the first answer (the Cart API dedupes on the key). Without one, a second checkout of the same
 * cart is a new request and gets 409, as the catalog says.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { MessageType } from '../../contracts/index.ts';
import { Command, Query } from '../../contracts/subjects.ts';
import { checkoutIdsFor } from '../../runtime/ids.ts';
import { scopedIdempotencyKey, type RouteOptions } from '../context.ts';
import { causeOf } from '../correlation.ts';
import {
  AddItemBody,
  bodyErrors,
  CartDoc,
  CartItemParams,
  CartParams,
  CheckoutBody,
  IdempotentHeaders,
  problem,
  RemoveItemQuery,
  serviceErrors,
} from '../schemas.ts';

export const cartRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { ctx }) => {
  const { services, config } = ctx;

  app.get('/carts/:cartId', {
    schema: {
      operationId: 'getCart',
      summary: 'Get a cart',
      tags: ['Cart'],
      params: CartParams,
      response: {
        200: CartDoc,
        400: problem('The cartId is not a UUID.'),
        404: problem('The cart was not found.'),
        ...serviceErrors,
      },
    },
    handler: async (req) =>
      services.call({
        subject: Query.getCart,
        type: MessageType.getCartRequest,
        payload: { cartId: req.params.cartId },
        reply: CartDoc,
        timeoutMs: config.timeouts.queryMs,
        cause: causeOf(req),
      }),
  });

  app.post('/carts/:cartId/items', {
    schema: {
      operationId: 'addItemToCart',
      summary: 'Add an item to the cart',
      description:
        'The client chooses the cartId: the first item added to an unknown cartId creates the cart and answers 200 with it, as for a known cart. ' +
        'So this call never answers 404 (the catalog declares it, but has no call that creates a cart); a cart that was checked out or abandoned answers 409.',
      tags: ['Cart'],
      params: CartParams,
      headers: IdempotentHeaders,
      body: AddItemBody,
      response: {
        200: CartDoc,
        400: problem('The request was invalid (the message names the field), the product is unknown, or the line would exceed its limit.'),
        404: problem('Never answered by this call: an unknown cartId is created (see the description). Declared because the catalog declares it.'),
        409: problem('The cart is already checked out or was abandoned.'),
        ...bodyErrors,
        ...serviceErrors,
      },
    },
    handler: async (req) =>
      services.call({
        subject: Command.addItemToCart,
        type: MessageType.addItemToCart,
        payload: { cartId: req.params.cartId, ...req.body },
        reply: CartDoc,
        timeoutMs: config.timeouts.commandMs,
        cause: causeOf(req),
        idempotencyKey: scopedIdempotencyKey(req.headers, 'add-item', req.params.cartId, req.body),
      }),
  });

  app.delete('/carts/:cartId/items/:productId', {
    schema: {
      operationId: 'removeItemFromCart',
      summary: 'Remove an item from the cart',
      tags: ['Cart'],
      params: CartItemParams,
      querystring: RemoveItemQuery,
      headers: IdempotentHeaders,
      response: {
        200: CartDoc,
        400: problem('An id is not a UUID, or the quantity is invalid or more than the cart holds.'),
        404: problem('The cart or item was not found.'),
        409: problem('The cart is already checked out or was abandoned.'),
        ...serviceErrors,
      },
    },
    handler: async (req) =>
      services.call({
        subject: Command.removeItemFromCart,
        type: MessageType.removeItemFromCart,
        payload: { ...req.params, ...(req.query.quantity !== undefined ? { quantity: req.query.quantity } : {}) },
        reply: CartDoc,
        timeoutMs: config.timeouts.commandMs,
        cause: causeOf(req),
        idempotencyKey: scopedIdempotencyKey(req.headers, 'remove-item', req.params.cartId, [req.params.productId, req.query]),
      }),
  });

  app.post('/carts/:cartId/checkout', {
    schema: {
      operationId: 'checkoutCart',
      summary: 'Check out the cart',
      description:
        'Prices the cart (including discounts) and, on success, publishes a `CartCheckedOut` event, which starts the ' +
        'checkout. The returned cart names the `orderId` and the `checkoutId`; follow `Location` to watch the checkout.',
      tags: ['Cart'],
      params: CartParams,
      headers: IdempotentHeaders,
      body: CheckoutBody,
      response: {
        200: CartDoc,
        400: problem('The request was invalid.'),
        404: problem('The cart was not found.'),
        409: problem('The cart is empty or already checked out.'),
        ...bodyErrors,
        ...serviceErrors,
      },
    },
    handler: async (req, reply) => {
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

/**
 * Orders (the Order Service): get-order, the customer's cancellation, the operator's completion,
 * and a customer's order history.
 *
 * get-order follows the catalog literally: 200 with CREATED, COMPLETED or CANCELLED for an order
 * the Order Service holds, 404 for one it does not hold yet (a checkout still in progress; its
 * progress is at /checkouts/{checkoutId}). The same route takes the order's short number
 * (ACME-7K3F-Q9TX, what the shopper was shown): 404 when no order has it, 409 in the rare case that
 * two do (40 bits; see src/contracts/order-number.ts), naming neither. Only a CREATED order can be cancelled; a COMPLETED one
 * answers 409 and the shopper is told to start a return.
 *
 * Under AUTH=jwt a shopper's get and cancel name the signed-in customer (`requestedBy`) and the
 * Order Service answers 404 for an order that is not theirs; the history is only their own (403
 * for another customer's id). Completion is an operator's, and is logged with who did it.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { isUuid, MessageType } from '../../contracts/index.ts';
import { canonicalOrderNumber } from '../../contracts/order-number.ts';
import { Command, Query } from '../../contracts/subjects.ts';
import { scopedIdempotencyKey, forwarding, type RouteOptions } from '../context.ts';
import { HttpCode, HttpError } from '../errors.ts';
import {
  CustomerParams,
  IdempotentHeaders,
  OperatorHeaders,
  operatorAuth,
  operatorSecurity,
  OrderCancelledDoc,
  OrderCompletedDoc,
  OrderDoc,
  OrderListDoc,
  OrderParams,
  OrderRefParams,
  problem,
  serviceErrors,
  shopperAuth,
  shopperSecurity,
} from '../schemas.ts';

type OrderList = { orders: { orderId: string; createdAt?: string | undefined }[] };

/**
 * Partitions' answers merged (PARTITIONS > 1): find-orders-by-number by id, at most 10, as one
 * store answers; list-customer-orders newest created first, at most 100 (one store orders its
 * page by last change, which the view does not carry).
 */
const byOrderId = <L extends OrderList>(pages: L[]): L => ({ ...pages[0]!, orders: pages.flatMap((p) => p.orders).sort((a, b) => (a.orderId < b.orderId ? -1 : 1)).slice(0, 10) });
const newestFirst = <L extends OrderList>(pages: L[]): L => {
  const at = (o: OrderList['orders'][number]) => o.createdAt ?? '';
  return { ...pages[0]!, orders: pages.flatMap((p) => p.orders).sort((a, b) => (at(a) < at(b) ? 1 : at(a) > at(b) ? -1 : 0)).slice(0, 100) };
};

export const orderRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { ctx }) => {
  const { auth } = ctx;
  const { query, command, gather } = forwarding(ctx);
  const requestedBy = (customerId: string | undefined) => (customerId !== undefined ? { requestedBy: customerId } : {});

  app.get('/orders/:idOrNumber', {
    schema: {
      operationId: 'getOrder',
      summary: 'Get an order, by its id or its short order number',
      tags: ['Orders'],
      security: shopperSecurity,
      params: OrderRefParams,
      response: {
        200: OrderDoc,
        400: problem('Neither a UUID nor an order number (ACME-XXXX-XXXX).'),
        404: problem('The Order Service does not hold this order (yet: a checkout may still be in progress), or it is another customer’s.'),
        409: problem('Two orders share this short number; ask for the order by its id.'),
        ...shopperAuth,
        ...serviceErrors,
      },
    },
    handler: async (req) => {
      const by = requestedBy(await auth.customer(req));
      const ref = req.params.idOrNumber;
      if (isUuid(ref)) {
        return query(req, Query.getOrder, MessageType.getOrderRequest, OrderDoc, {
          orderId: ref.toLowerCase(), ...by,
        });
      }
      const { orders } = await gather(req, Query.findOrdersByNumber, MessageType.findOrdersByNumberRequest, OrderListDoc, {
        orderNumber: canonicalOrderNumber(ref) ?? ref, ...by,
      }, byOrderId);
      const [only, ...others] = orders;
      if (!only) throw new HttpError(404, HttpCode.notFound, `no order has the number ${ref}`);
      if (others.length > 0) throw new HttpError(409, HttpCode.conflict, `${orders.length} orders share the number ${ref}; ask for the order by its id`);
      return only;
    },
  });

  app.post('/orders/:orderId/cancel', {
    schema: {
      operationId: 'cancelOrder',
      summary: 'Cancel an order at the customer’s request',
      description: 'Only a CREATED order can be cancelled. Cancelling a cancelled order answers its cancellation again.',
      tags: ['Orders'],
      security: shopperSecurity,
      params: OrderParams,
      headers: IdempotentHeaders,
      response: {
        200: OrderCancelledDoc,
        400: problem('The orderId is not a UUID.'),
        404: problem('The order was not found (or is another customer’s).'),
        409: problem('The order is completed and cannot be cancelled; start a return instead.'),
        ...shopperAuth,
        ...serviceErrors,
      },
    },
    handler: async (req) => {
      const by = requestedBy(await auth.customer(req));
      return command(req, Command.cancelOrder, MessageType.cancelOrder, OrderCancelledDoc,
        { orderId: req.params.orderId, reason: 'CUSTOMER_REQUESTED', detail: 'CUSTOMER_REQUESTED', ...by },
        scopedIdempotencyKey(req.headers, 'cancel-order', req.params.orderId, by.requestedBy ?? null),
      );
    },
  });

  app.post('/orders/:orderId/complete', {
    schema: {
      operationId: 'completeOrder',
      summary: 'Complete an order (operator or fulfilment)',
      description:
        'Captures the payment and consumes the reservation. AUTH=jwt: a bearer token with the operator role; ' +
        'AUTH=off: `Authorization: Bearer <OPERATOR_TOKEN>` when one is configured. Logged with who did it.',
      tags: ['Operations'],
      security: operatorSecurity,
      params: OrderParams,
      headers: OperatorHeaders,
      response: {
        200: OrderCompletedDoc,
        400: problem('The orderId is not a UUID.'),
        ...operatorAuth,
        404: problem('The order was not found.'),
        409: problem('The order is cancelled and cannot be completed.'),
        ...serviceErrors,
      },
    },
    handler: async (req) => {
      const who = await auth.operator(req);
      req.log.info({ ...who, action: 'complete-order', orderId: req.params.orderId }, 'operator action');
      return command(req, Command.completeOrder, MessageType.completeOrder, OrderCompletedDoc,
        { orderId: req.params.orderId },
        scopedIdempotencyKey(req.headers, 'complete-order', req.params.orderId, null),
      );
    },
  });

  app.get('/customers/:customerId/orders', {
    schema: {
      operationId: 'listCustomerOrders',
      summary: "List a customer's orders",
      tags: ['Orders'],
      security: shopperSecurity,
      params: CustomerParams,
      response: {
        200: OrderListDoc,
        400: problem('The customerId is not a UUID.'),
        ...shopperAuth,
        ...serviceErrors,
      },
    },
    handler: async (req) => {
      await auth.sameCustomer(req, req.params.customerId);
      return gather(req, Query.listCustomerOrders, MessageType.listCustomerOrdersRequest, OrderListDoc, {
        customerId: req.params.customerId,
      }, newestFirst);
    },
  });
};

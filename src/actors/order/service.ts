/**
 * Order Service (Ordering). Serves create-order, cancel-order, complete-order, get-order and
 * list-customer-orders; publishes order-created, order-cancelled and order-completed to ORDERING.
 *
 * Every command is idempotent twice over: the inbox replays the stored reply for a repeated
 * idempotency key, and the order machine answers a repeated *intent* (create an order that exists,
 * cancel one that is cancelled) with the same outcome, whatever the key.
 */
import { Command, Query } from '../../contracts/subjects.ts';
import {
  FindOrdersByNumberRequest,
  GetOrderRequest,
  ListCustomerOrdersRequest,
  MessageType,
  requestContract,
  Product,
  type GetOrderResponse,
  type PricedLineItem,
} from '../../contracts/index.ts';
import type { MessageMeta } from '../../contracts/headers.ts';
import type { Transitioned } from '../../runtime/actor-host.ts';
import { checkoutIdsFor } from '../../runtime/ids.ts';
import type { ServiceRuntime } from '../../runtime/service.ts';
import { ErrorCode, RemoteError } from '../../runtime/transport/errors.ts';
import { errorReply } from '../../runtime/transport/reply.ts';
import type { OrderContext, OrderLine } from '../../machines/order.ts';
import { orderCancelledPayload, orderCompletedPayload, orderCreatedPayload, orderDefinition, orderView } from './definition.ts';
import { orderIdsByNumber, ordersOfCustomer } from './schema.ts';

export interface OrderServiceConfig {
  /** Customers whose orders are refused (a stand-in for real order policy, used by failure tests). */
  refuseCustomers: readonly string[];
  /** Orders above this total (minor units) are refused. */
  maxTotal: number | undefined;
}

export const defaultOrderConfig: OrderServiceConfig = { refuseCustomers: [], maxTotal: undefined };

/** How long create-order waits for the Cart API to name a product's SKU before the attempt fails (and is retried). */
const SKU_LOOKUP_TIMEOUT_MS = 2_000;

/**
 * The order's lines with each product's SKU. order-created keys items by SKU (`ACME-BIRDSEED`);
 * the Cart API puts it on each line and the saga carries it to create-order. A line without one
 * (a message from before SKUs were carried, or a sender that follows only the catalog's command)
 * is looked up at the products' system of record, the Cart API. A lookup that fails fails this
 * attempt, which the saga retries until its step deadline.
 */
async function withSkus(rt: ServiceRuntime, items: readonly PricedLineItem[], cause: MessageMeta): Promise<OrderLine[]> {
  if (items.every((i) => i.sku)) return items.map((i) => ({ ...i }));
  const ids = [...new Set(items.filter((i) => !i.sku).map((i) => i.productId))];
  const products = await Promise.all(
    ids.map((productId) =>
      rt.client.call(Query.getProduct, MessageType.getProductRequest, { productId }, Product, { timeoutMs: SKU_LOOKUP_TIMEOUT_MS, cause }),
    ),
  );
  const skus = new Map(products.map(({ payload }) => [payload.productId, payload.sku]));
  return items.map((i) => ({ ...i, sku: i.sku ?? skus.get(i.productId) }));
}

export async function startOrderService(rt: ServiceRuntime, config: OrderServiceConfig = defaultOrderConfig): Promise<void> {
  const orders = rt.host(orderDefinition);
  const at = () => new Date(rt.clock.now()).toISOString();
  const state = (t: Transitioned) => String(t.snapshot.value);
  const context = (t: Transitioned) => t.snapshot.context as OrderContext;

  await rt.command({
    ...requestContract(Command.createOrder, MessageType.createOrder),
    host: orders,
    actorId: (p) => p.orderId ?? checkoutIdsFor(p.cartId).orderId,
    toEvent: async (p, meta) => ({
      type: 'order.create' as const,
      at: at(),
      cartId: p.cartId,
      customerId: p.customerId,
      items: await withSkus(rt, p.items, meta),
      total: p.total,
      currency: p.currency,
      paymentAuthorizationId: p.paymentAuthorizationId ?? null,
      refusal: refusalOf(config, p.customerId, p.total),
    }),
    reply: (t, _p, meta) => {
      const c = context(t);
      switch (state(t)) {
        case 'created':
        case 'completed':
          return rt.reply(MessageType.orderCreated, orderCreatedPayload(c), meta);
        case 'rejected':
          return rt.reply(MessageType.orderRejected, { orderId: c.orderId, reason: c.rejection ?? 'refused', rejectedAt: at() }, meta);
        default:
          return rt.reply(MessageType.orderRejected, { orderId: c.orderId, reason: 'the order was cancelled', rejectedAt: at() }, meta);
      }
    },
  });

  await rt.command({
    ...requestContract(Command.cancelOrder, MessageType.cancelOrder),
    host: orders,
    actorId: (p) => p.orderId,
    toEvent: (p, _meta, id) => {
      const current = orders.peek(id);
      if (!current && !p.customerId) throw new RemoteError(ErrorCode.notFound, `order ${p.orderId} not found`);
      // A shopper's cancellation: only of an order that exists and is theirs (the owner never changes).
      if (p.requestedBy !== undefined && !ownedBy(current, p.requestedBy)) {
        throw new RemoteError(ErrorCode.notFound, `order ${p.orderId} not found`);
      }
      return {
        type: 'order.cancel' as const, at: at(), reason: p.reason, detail: p.detail ?? null,
        cartId: p.cartId, customerId: p.customerId, items: p.items, total: p.total, currency: p.currency,
      };
    },
    reply: (t, p, meta) => {
      if (state(t) === 'cancelled') return rt.reply(MessageType.orderCancelled, orderCancelledPayload(context(t)), meta);
      if (state(t) === 'completed') {
        return errorReply(ErrorCode.conflict, `order ${p.orderId} is completed and cannot be cancelled; start a return instead`);
      }
      return errorReply(ErrorCode.notFound, `order ${p.orderId} not found`);
    },
  });

  await rt.command({
    ...requestContract(Command.completeOrder, MessageType.completeOrder),
    host: orders,
    actorId: (p) => p.orderId,
    toEvent: () => ({ type: 'order.complete' as const, at: at() }),
    reply: (t, p, meta) => {
      switch (state(t)) {
        case 'completed':
          return rt.reply(MessageType.orderCompleted, orderCompletedPayload(context(t)), meta);
        case 'cancelled':
          return errorReply(ErrorCode.conflict, `order ${p.orderId} is cancelled and cannot be completed`);
        default:
          return errorReply(ErrorCode.notFound, `order ${p.orderId} not found`);
      }
    },
  });

  await rt.query(Query.getOrder, MessageType.getOrderRequest, GetOrderRequest, (p, meta) => {
    const snapshot = orders.peek(p.orderId);
    const view = snapshot && orderView(snapshot);
    if (!view || (p.requestedBy !== undefined && view.customerId !== p.requestedBy)) throw new RemoteError(ErrorCode.notFound, `order ${p.orderId} not found`);
    return rt.reply(MessageType.getOrderResponse, view, meta);
  });

  const byCustomer = ordersOfCustomer(rt.store.db);
  await rt.query(Query.listCustomerOrders, MessageType.listCustomerOrdersRequest, ListCustomerOrdersRequest, (p, meta) => {
    const ids = byCustomer(p.customerId);
    const list = ids.map((id) => orders.peek(id)).map((s) => s && orderView(s)).filter((v): v is GetOrderResponse => !!v);
    return rt.reply(MessageType.listCustomerOrdersResponse, { orders: list }, meta);
  });

  const byNumber = orderIdsByNumber(rt.store.db);
  await rt.query(Query.findOrdersByNumber, MessageType.findOrdersByNumberRequest, FindOrdersByNumberRequest, (p, meta) => {
    const ids = byNumber(p.orderNumber);
    const list = ids
      .map((id) => orders.peek(id))
      .map((s) => s && orderView(s))
      .filter((v): v is GetOrderResponse => !!v && (p.requestedBy === undefined || v.customerId === p.requestedBy));
    return rt.reply(MessageType.findOrdersByNumberResponse, { orders: list }, meta);
  });
}

const ownedBy = (snapshot: { context: unknown } | undefined, customerId: string): boolean =>
  snapshot !== undefined && (snapshot.context as OrderContext).customerId === customerId;

function refusalOf(config: OrderServiceConfig, customerId: string, total: number): string | null {
  if (config.refuseCustomers.includes(customerId)) return 'orders from this customer are not accepted';
  if (config.maxTotal !== undefined && total > config.maxTotal) return `order total exceeds ${config.maxTotal}`;
  return null;
}

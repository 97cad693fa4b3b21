/**
 * How the order machine's actions become effects: each publish goes to the outbox (and so to the
 * ORDERING stream after commit) and refreshes the order's row in the customer index.
 */
import type { AnyMachineSnapshot } from 'xstate';
import { OrderContextSchema } from './schema.ts';
import { Event } from '../../contracts/subjects.ts';
import { MessageType, type GetOrderResponse, type OrderCancelled, type OrderCompleted, type OrderCreated } from '../../contracts/index.ts';
import { orderNumberHexOf, orderNumberOf } from '../../contracts/order-number.ts';
import type { ActorDefinition, Effects } from '../../runtime/actor-host.ts';
import type { Db } from '../../runtime/store.ts';
import type { Statement } from 'better-sqlite3';
import { orderMachine, orderMachineVersion, type OrderContext } from '../../machines/order.ts';

const ctx = (s: AnyMachineSnapshot): OrderContext => s.context as OrderContext;

export const orderCreatedPayload = (c: OrderContext): OrderCreated => ({
  orderId: c.orderId,
  customerId: c.customerId ?? '',
  total: c.total,
  currency: c.currency,
  status: 'created',
  // An order created before SKUs were resolved has none stored; its productId is all it knows.
  items: c.items.map((i) => ({ sku: i.sku ?? i.productId, quantity: i.quantity, unitPrice: i.unitPrice })),
  createdAt: c.createdAt ?? '',
});

export const orderCancelledPayload = (c: OrderContext): OrderCancelled => ({
  orderId: c.orderId,
  ...(c.customerId ? { customerId: c.customerId } : {}),
  reason: c.reason ?? 'CUSTOMER_REQUESTED',
  cancelledAt: c.cancelledAt ?? '',
  ...(c.detail ? { detail: c.detail as OrderCancelled['detail'] } : {}),
  ...(c.cartId ? { cartId: c.cartId } : {}),
});

export const orderCompletedPayload = (c: OrderContext): OrderCompleted => ({
  orderId: c.orderId,
  customerId: c.customerId ?? '',
  completedAt: c.completedAt ?? '',
});

const statusOf: Record<string, GetOrderResponse['status'] | undefined> = {
  created: 'CREATED',
  completed: 'COMPLETED',
  cancelled: 'CANCELLED',
};

/** get-order's view of an order, or undefined for one the service does not hold (new, rejected). */
export function orderView(s: AnyMachineSnapshot): GetOrderResponse | undefined {
  const status = statusOf[String(s.value)];
  const c = ctx(s);
  if (!status || !c.customerId) return undefined;
  return {
    orderId: c.orderId,
    orderNumber: orderNumberOf(c.orderId),
    customerId: c.customerId,
    status,
    items: c.items.map((i) => ({ productId: i.productId, quantity: i.quantity, unitPrice: i.unitPrice })),
    total: c.total,
    currency: c.currency,
    ...(c.createdAt ? { createdAt: c.createdAt } : {}),
  };
}

/** Prepared once per connection: preparing costs more than running this statement. */
const indexStatements = new WeakMap<Db, Statement>();

function index(fx: Effects, s: AnyMachineSnapshot): void {
  const view = orderView(s);
  if (!view) return;
  let stmt = indexStatements.get(fx.db);
  if (!stmt) {
    stmt = fx.db.prepare(
      `INSERT INTO order_index (order_id, customer_id, status, updated_at, number) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at`,
    );
    indexStatements.set(fx.db, stmt);
  }
  stmt.run(view.orderId, view.customerId, view.status, fx.now, orderNumberHexOf(view.orderId));
}

export const orderDefinition: ActorDefinition<typeof orderMachine> = {
  kind: 'order',
  machine: orderMachine,
  version: orderMachineVersion,
  context: OrderContextSchema,
  executors: {
    publishOrderCreated: (_p, fx, s) => {
      fx.publish({ subject: Event.orderCreated, type: MessageType.orderCreated, payload: orderCreatedPayload(ctx(s)) });
      index(fx, s);
    },
    publishOrderCancelled: (_p, fx, s) => {
      fx.publish({ subject: Event.orderCancelled, type: MessageType.orderCancelled, payload: orderCancelledPayload(ctx(s)) });
      index(fx, s);
    },
    publishOrderCompleted: (_p, fx, s) => {
      fx.publish({ subject: Event.orderCompleted, type: MessageType.orderCompleted, payload: orderCompletedPayload(ctx(s)) });
      index(fx, s);
    },
  },
};

/**
 * Ordering: the Order Service (order-management-system). Catalog messages under
 * domains/Ordering/systems/order-management-system/services/OrderService, plus our additions.
 */
import { z } from 'zod';
import { CanonicalOrderNumber } from '../order-number.ts';
import { Currency, DateTime, Money, NonNegativeMoney, PricedLineItem, SkuLineItem, Uuid } from './common.ts';

/** The catalog's cancellation reasons (cancel-order, order-cancelled). */
export const CancellationReason = z.enum(['CUSTOMER_REQUESTED', 'PAYMENT_FAILED', 'OUT_OF_STOCK', 'FRAUD']);
export type CancellationReason = z.infer<typeof CancellationReason>;

/**
 * Ours: the precise cause of a cancellation, carried next to the catalog's coarser `reason`
 * (e.g. reason PAYMENT_FAILED with detail PAYMENT_TIMEOUT).
 */
export const CancellationDetail = z.enum([
  'OUT_OF_STOCK',
  'INVENTORY_TIMEOUT',
  'PAYMENT_DECLINED',
  'PAYMENT_TIMEOUT',
  'FRAUD',
  'ORDER_REJECTED',
  'ORDER_TIMEOUT',
  'CUSTOMER_REQUESTED',
]);
export type CancellationDetail = z.infer<typeof CancellationDetail>;

/**
 * The catalog's reason for each precise cause. The catalog's list is closed, so a cause it has no
 * word for gets the least misleading one, and `detail` keeps the cause (docs/contracts.md has the
 * table and the why of each row). The one map: the saga, the status document and the Order
 * Service all read it.
 */
export const reasonForCause = {
  OUT_OF_STOCK: 'OUT_OF_STOCK',
  // Stock was not secured and no payment was attempted: blaming the payment would name a step that never ran.
  INVENTORY_TIMEOUT: 'OUT_OF_STOCK',
  PAYMENT_DECLINED: 'PAYMENT_FAILED',
  PAYMENT_TIMEOUT: 'PAYMENT_FAILED',
  FRAUD: 'FRAUD',
  // The Order Service's policy refused this customer or amount: a risk refusal that another card will not change.
  ORDER_REJECTED: 'FRAUD',
  // A system failure after the authorization, which is voided: the order ends unpaid, and checking out again is the remedy.
  ORDER_TIMEOUT: 'PAYMENT_FAILED',
  CUSTOMER_REQUESTED: 'CUSTOMER_REQUESTED',
} as const satisfies Record<CancellationDetail, CancellationReason>;

/** get-order's statuses (uppercase, decision 6). */
export const OrderStatus = z.enum(['CREATED', 'COMPLETED', 'CANCELLED']);
export type OrderStatus = z.infer<typeof OrderStatus>;

// ---- Catalog: commands ---------------------------------------------------------------------

/**
 * catalog `create-order`, plus our optional `orderId`: the order id allocated when the checkout
 * started (decision 4). The catalog's command has no orderId, so without it the Order Service
 * would have to invent one the shopper has never seen.
 */
export const CreateOrder = z.object({
  cartId: Uuid,
  customerId: Uuid,
  items: z.array(PricedLineItem),
  total: NonNegativeMoney,
  currency: Currency,
  paymentAuthorizationId: z.string().optional(),
  orderId: Uuid.optional(),
});
export type CreateOrder = z.infer<typeof CreateOrder>;

/**
 * catalog `cancel-order`, plus optional fields of ours:
 * - `detail`: the precise cause (the catalog `reason` stays the coarse enum);
 * - `cartId`, `customerId`, `items`, `total`, `currency`: sent by the orchestrator on the failure
 *   path, where the order was never created (decision 4). They let the Order Service record the
 *   CANCELLED order and still answer get-order in full (its response requires customerId, items,
 *   total and currency).
 * - `requestedBy`: the customer asking, when a shopper cancels (the gateway sets it from the token
 *   under AUTH=jwt). An order that is not theirs, or not there, answers NOT_FOUND and changes nothing.
 * The reply is {@link OrderCancelled}.
 */
export const CancelOrder = z.object({
  orderId: Uuid,
  reason: CancellationReason,
  detail: CancellationDetail.optional(),
  cartId: Uuid.optional(),
  customerId: Uuid.optional(),
  items: z.array(PricedLineItem).optional(),
  total: NonNegativeMoney.optional(),
  currency: Currency.optional(),
  requestedBy: Uuid.optional(),
});
export type CancelOrder = z.infer<typeof CancelOrder>;

// ---- Catalog: events -----------------------------------------------------------------------

/** catalog `order-created`, the 7-field 1.0.0 shape (decision 5): lowercase `created`, items by SKU. */
export const OrderCreated = z.object({
  orderId: Uuid,
  customerId: Uuid,
  total: Money,
  currency: Currency,
  status: z.literal('created'),
  items: z.array(SkuLineItem),
  createdAt: DateTime,
});
export type OrderCreated = z.infer<typeof OrderCreated>;

/** catalog `order-cancelled`, plus our optional `detail`. Also the reply to cancel-order. */
export const OrderCancelled = z.object({
  orderId: Uuid,
  customerId: Uuid.optional(),
  reason: CancellationReason,
  cancelledAt: DateTime,
  detail: CancellationDetail.optional(),
});
export type OrderCancelled = z.infer<typeof OrderCancelled>;

/** catalog `order-completed`. Also the reply to complete-order. */
export const OrderCompleted = z.object({
  orderId: Uuid,
  customerId: Uuid,
  completedAt: DateTime,
});
export type OrderCompleted = z.infer<typeof OrderCompleted>;

// ---- Catalog: queries ----------------------------------------------------------------------

/**
 * catalog `get-order`, the `request` half, plus `requestedBy` (ours): the customer asking, under
 * AUTH=jwt; another customer's order answers NOT_FOUND, as if it did not exist.
 */
export const GetOrderRequest = z.object({
  orderId: Uuid,
  requestedBy: Uuid.optional(),
});
export type GetOrderRequest = z.infer<typeof GetOrderRequest>;

/**
 * catalog `get-order`, the `response` half, plus our optional `orderNumber`: the short number the
 * shopper is shown (`orderNumberOf(orderId)`, src/contracts/order-number.ts).
 */
export const GetOrderResponse = z.object({
  orderId: Uuid,
  orderNumber: CanonicalOrderNumber.optional(),
  customerId: Uuid,
  status: OrderStatus,
  items: z.array(PricedLineItem),
  total: Money,
  currency: Currency,
  createdAt: DateTime.optional(),
});
export type GetOrderResponse = z.infer<typeof GetOrderResponse>;

// ---- Additions (1.0.0) ---------------------------------------------------------------------

/** `complete-order`: an operator or fulfilment call completes a CREATED order (decision 9). */
export const CompleteOrder = z.object({
  orderId: Uuid,
});
export type CompleteOrder = z.infer<typeof CompleteOrder>;

/** `order-rejected`: reply to create-order when the Order Service refuses to create the order. */
export const OrderRejected = z.object({
  orderId: Uuid,
  reason: z.string(),
  rejectedAt: DateTime,
});
export type OrderRejected = z.infer<typeof OrderRejected>;

/** `list-customer-orders` query. */
export const ListCustomerOrdersRequest = z.object({
  customerId: Uuid,
});
export type ListCustomerOrdersRequest = z.infer<typeof ListCustomerOrdersRequest>;

export const ListCustomerOrdersResponse = z.object({
  orders: z.array(GetOrderResponse),
});
export type ListCustomerOrdersResponse = z.infer<typeof ListCustomerOrdersResponse>;

/**
 * `find-orders-by-number` query: the orders whose id has this short number, written as the shop
 * writes it (`canonicalOrderNumber` turns what a person typed into that). Usually one; two orders share a number only in a shop of about a million orders, and
 * the caller decides (the gateway answers 409). `requestedBy` (AUTH=jwt) keeps it to that
 * customer's orders, as get-order does.
 */
export const FindOrdersByNumberRequest = z.object({
  orderNumber: CanonicalOrderNumber,
  requestedBy: Uuid.optional(),
});
export type FindOrdersByNumberRequest = z.infer<typeof FindOrdersByNumberRequest>;

export const FindOrdersByNumberResponse = z.object({
  orders: z.array(GetOrderResponse),
});
export type FindOrdersByNumberResponse = z.infer<typeof FindOrdersByNumberResponse>;

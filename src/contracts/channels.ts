/**
 * Who sends what where: every request/reply subject and every event subject with the message types
 * it carries, the service that answers or publishes, and the services that ask or consume. The
 * generated contract artifacts (`npm run contracts`: AsyncAPI, EventCatalog) are drawn from this
 * table, and tests hold the services to it (the wire tap checks every observed subject is here).
 */
import type { MessageType } from './index.ts';
import { Command, Durable, Event, Query, Service, streamOf, type StreamName } from './subjects.ts';

/** A request/reply subject, answered by the queue group named after `receiver`. */
export interface RequestChannel {
  readonly kind: 'command' | 'query';
  readonly subject: Command | Query;
  readonly request: MessageType;
  /** Every reply type besides `error`, which any request may get. */
  readonly replies: readonly MessageType[];
  readonly receiver: Service;
  readonly senders: readonly Service[];
}

/** A domain event published to JetStream, consumed through durable consumers. */
export interface EventChannel {
  readonly subject: Event;
  readonly message: MessageType;
  readonly stream: StreamName;
  readonly publisher: Service;
  readonly consumers: readonly { readonly service: Service; readonly durable: Durable }[];
}

const S = Service;

const cmd = (
  subject: Command,
  request: MessageType,
  replies: readonly MessageType[],
  receiver: Service,
  senders: readonly Service[],
): RequestChannel => ({ kind: 'command', subject, request, replies, receiver, senders });

const qry = (subject: Query, request: MessageType, reply: MessageType, receiver: Service, senders: readonly Service[]): RequestChannel => ({
  kind: 'query',
  subject,
  request,
  replies: [reply],
  receiver,
  senders,
});

/** Every request/reply subject (the services' pings and the explorer's diagnostics aside). */
export const requestChannels: readonly RequestChannel[] = [
  cmd(Command.addItemToCart, 'add-item-to-cart', ['cart'], S.cart, [S.gateway]),
  cmd(Command.removeItemFromCart, 'remove-item-from-cart', ['cart'], S.cart, [S.gateway]),
  cmd(Command.checkoutCart, 'checkout-cart', ['cart'], S.cart, [S.gateway]),
  qry(Query.getCart, 'get-cart.request', 'get-cart.response', S.cart, [S.gateway]),
  qry(Query.listProducts, 'list-products.request', 'list-products.response', S.cart, [S.gateway]),
  qry(Query.getProduct, 'get-product.request', 'get-product.response', S.cart, [S.gateway]),
  cmd(Command.calculateDiscount, 'calculate-discount.request', ['calculate-discount.response'], S.promotion, [S.cart]),
  qry(Query.quotePromotion, 'quote-promotion.request', 'quote-promotion.response', S.promotion, [S.gateway]),
  cmd(Command.reserveInventory, 'reserve-inventory', ['inventory-reserved', 'inventory-unavailable'], S.inventory, [S.checkout]),
  cmd(Command.releaseInventory, 'release-inventory', ['inventory-released'], S.inventory, [S.checkout]),
  qry(Query.getStockLevel, 'get-stock-level.request', 'get-stock-level.response', S.inventory, [S.gateway]),
  cmd(Command.authorizePayment, 'authorize-payment', ['payment-authorized', 'payment-declined'], S.payment, [S.checkout]),
  cmd(Command.voidPayment, 'void-payment', ['payment-voided'], S.payment, [S.checkout]),
  qry(Query.getPayment, 'get-payment.request', 'get-payment.response', S.payment, [S.gateway]),
  cmd(Command.createOrder, 'create-order', ['order-created', 'order-rejected'], S.order, [S.checkout]),
  cmd(Command.cancelOrder, 'cancel-order', ['order-cancelled'], S.order, [S.checkout, S.gateway]),
  cmd(Command.completeOrder, 'complete-order', ['order-completed'], S.order, [S.gateway]),
  qry(Query.getOrder, 'get-order.request', 'get-order.response', S.order, [S.gateway]),
  qry(Query.listCustomerOrders, 'list-customer-orders.request', 'list-customer-orders.response', S.order, [S.gateway]),
  qry(Query.findOrdersByNumber, 'find-orders-by-number.request', 'find-orders-by-number.response', S.order, [S.gateway]),
  qry(Query.getCheckout, 'get-checkout.request', 'get-checkout.response', S.checkout, [S.gateway]),
];

const evt = (
  subject: Event,
  message: MessageType,
  publisher: Service,
  consumers: EventChannel['consumers'] = [],
): EventChannel => ({ subject, message, stream: streamOf(subject), publisher, consumers });

/** Every event subject, with its stream and durable consumers. */
export const eventChannels: readonly EventChannel[] = [
  evt(Event.cartCheckedOut, 'cart-checked-out', S.cart, [{ service: S.checkout, durable: Durable.checkoutStartsSagas }]),
  evt(Event.discountCalculated, 'discount-calculated', S.promotion),
  evt(Event.inventoryReserved, 'inventory-reserved', S.inventory),
  evt(Event.inventoryUnavailable, 'inventory-unavailable', S.inventory),
  evt(Event.inventoryReleased, 'inventory-released', S.inventory),
  evt(Event.inventoryConsumed, 'inventory-consumed', S.inventory),
  evt(Event.paymentAuthorized, 'payment-authorized', S.payment),
  evt(Event.paymentDeclined, 'payment-declined', S.payment),
  evt(Event.paymentVoided, 'payment-voided', S.payment),
  evt(Event.paymentCaptured, 'payment-captured', S.payment),
  evt(Event.orderCreated, 'order-created', S.order),
  evt(Event.orderCancelled, 'order-cancelled', S.order, [
    { service: S.inventory, durable: Durable.inventoryOnOrderCancelled },
    { service: S.payment, durable: Durable.paymentOnOrderCancelled },
    { service: S.cart, durable: Durable.cartReopensOnOrderCancelled },
  ]),
  evt(Event.orderCompleted, 'order-completed', S.order, [
    { service: S.inventory, durable: Durable.inventoryOnOrderCompleted },
    { service: S.payment, durable: Durable.paymentOnOrderCompleted },
  ]),
];

/** The event subjects some service consumes through a durable consumer. */
export const consumedEvents: readonly Event[] = eventChannels.filter((c) => c.consumers.length > 0).map((c) => c.subject);

/**
 * The catalog's Order Service AsyncAPI (written for Kafka) names two channels. Over NATS each is
 * one subscription: `ordering.orders` is the `ordering.evt.>` wildcard (stream ORDERING holds the
 * Order Service's events and nothing else), and `ordering.commands` is the Order Service's
 * command subjects, `order.cmd.>`, request/reply with a queue group.
 */
export const catalogChannelMapping = {
  'ordering.orders': 'ordering.evt.>',
  'ordering.commands': 'order.cmd.>',
} as const;

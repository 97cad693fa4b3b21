/**
 * The message registry: every message type, the zod schema that parses it, and where its wire
 * contract lives in the catalog.
 *
 * `MessageType` values go in the `ce-type` header. A catalog message uses its catalog id
 * (`reserve-inventory`); a query, or a catalog message with `request`/`response` halves, uses
 * `<id>.request` and `<id>.response`. Our additions follow the catalog's naming style.
 */
import type { z } from 'zod';
import {
  AddItemToCart,
  Cart,
  CartCheckedOut,
  CheckoutCart,
  GetCartRequest,
  GetProductRequest,
  ListProductsRequest,
  ListProductsResponse,
  Product,
  RemoveItemFromCart,
} from './messages/cart.ts';
import {
  CheckoutStatus,
  CheckoutTrace,
  ExplorerMessageType,
  GetCheckoutRequest,
  GetCheckoutTraceRequest,
  ListCheckoutsRequest,
  ListCheckoutsResponse,
} from './messages/checkout.ts';
import { ErrorBody, MESSAGE_VERSION } from './messages/common.ts';
import {
  GetStockLevelRequest,
  GetStockLevelResponse,
  InventoryConsumed,
  InventoryReleased,
  InventoryReserved,
  InventoryUnavailable,
  ReleaseInventory,
  ReserveInventory,
} from './messages/inventory.ts';
import {
  AuthorizePayment,
  GetPaymentRequest,
  GetPaymentResponse,
  PaymentAuthorized,
  PaymentCaptured,
  PaymentDeclined,
  PaymentVoided,
  VoidPayment,
} from './messages/payment.ts';
import {
  CancelOrder,
  CompleteOrder,
  CreateOrder,
  FindOrdersByNumberRequest,
  FindOrdersByNumberResponse,
  GetOrderRequest,
  GetOrderResponse,
  ListCustomerOrdersRequest,
  ListCustomerOrdersResponse,
  OrderCancelled,
  OrderCompleted,
  OrderCreated,
  OrderRejected,
} from './messages/order.ts';
import {
  CalculateDiscountRequest,
  CalculateDiscountResponse,
  DiscountCalculated,
  QuotePromotionRequest,
  QuotePromotionResponse,
} from './messages/promotion.ts';

export * from './messages/common.ts';
export * from './messages/cart.ts';
export * from './messages/promotion.ts';
export * from './messages/inventory.ts';
export * from './messages/payment.ts';
export * from './messages/order.ts';
export * from './messages/checkout.ts';
export * from './messages/operator.ts';

export const MessageType = {
  // Shopping: Cart API
  addItemToCart: 'add-item-to-cart',
  removeItemFromCart: 'remove-item-from-cart',
  checkoutCart: 'checkout-cart',
  cartCheckedOut: 'cart-checked-out',
  /** The Cart document: reply to add-item-to-cart, remove-item-from-cart and checkout-cart. */
  cart: 'cart',
  getCartRequest: 'get-cart.request',
  getCartResponse: 'get-cart.response',
  listProductsRequest: 'list-products.request',
  listProductsResponse: 'list-products.response',
  getProductRequest: 'get-product.request',
  getProductResponse: 'get-product.response',
  // Shopping: Promotion Service
  calculateDiscountRequest: 'calculate-discount.request',
  calculateDiscountResponse: 'calculate-discount.response',
  discountCalculated: 'discount-calculated',
  quotePromotionRequest: 'quote-promotion.request',
  quotePromotionResponse: 'quote-promotion.response',
  // Fulfilment: Inventory Service
  reserveInventory: 'reserve-inventory',
  inventoryReserved: 'inventory-reserved',
  inventoryUnavailable: 'inventory-unavailable',
  releaseInventory: 'release-inventory',
  inventoryReleased: 'inventory-released',
  inventoryConsumed: 'inventory-consumed',
  getStockLevelRequest: 'get-stock-level.request',
  getStockLevelResponse: 'get-stock-level.response',
  // Payments: Payment API
  authorizePayment: 'authorize-payment',
  paymentAuthorized: 'payment-authorized',
  paymentDeclined: 'payment-declined',
  voidPayment: 'void-payment',
  paymentVoided: 'payment-voided',
  paymentCaptured: 'payment-captured',
  getPaymentRequest: 'get-payment.request',
  getPaymentResponse: 'get-payment.response',
  // Ordering: Order Service
  createOrder: 'create-order',
  orderCreated: 'order-created',
  orderRejected: 'order-rejected',
  cancelOrder: 'cancel-order',
  orderCancelled: 'order-cancelled',
  completeOrder: 'complete-order',
  orderCompleted: 'order-completed',
  getOrderRequest: 'get-order.request',
  getOrderResponse: 'get-order.response',
  listCustomerOrdersRequest: 'list-customer-orders.request',
  listCustomerOrdersResponse: 'list-customer-orders.response',
  findOrdersByNumberRequest: 'find-orders-by-number.request',
  findOrdersByNumberResponse: 'find-orders-by-number.response',
  // Ordering: Checkout API
  getCheckoutRequest: 'get-checkout.request',
  getCheckoutResponse: 'get-checkout.response',
  /** An error reply; the `x-error-code` header is set too. */
  error: 'error',
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** The schema for each `ce-type`. Several types share a document schema (Cart, CheckoutStatus...). */
export const messageSchemas = {
  'add-item-to-cart': AddItemToCart,
  'remove-item-from-cart': RemoveItemFromCart,
  'checkout-cart': CheckoutCart,
  'cart-checked-out': CartCheckedOut,
  cart: Cart,
  'get-cart.request': GetCartRequest,
  'get-cart.response': Cart,
  'list-products.request': ListProductsRequest,
  'list-products.response': ListProductsResponse,
  'get-product.request': GetProductRequest,
  'get-product.response': Product,
  'calculate-discount.request': CalculateDiscountRequest,
  'calculate-discount.response': CalculateDiscountResponse,
  'discount-calculated': DiscountCalculated,
  'quote-promotion.request': QuotePromotionRequest,
  'quote-promotion.response': QuotePromotionResponse,
  'reserve-inventory': ReserveInventory,
  'inventory-reserved': InventoryReserved,
  'inventory-unavailable': InventoryUnavailable,
  'release-inventory': ReleaseInventory,
  'inventory-released': InventoryReleased,
  'inventory-consumed': InventoryConsumed,
  'get-stock-level.request': GetStockLevelRequest,
  'get-stock-level.response': GetStockLevelResponse,
  'authorize-payment': AuthorizePayment,
  'payment-authorized': PaymentAuthorized,
  'payment-declined': PaymentDeclined,
  'void-payment': VoidPayment,
  'payment-voided': PaymentVoided,
  'payment-captured': PaymentCaptured,
  'get-payment.request': GetPaymentRequest,
  'get-payment.response': GetPaymentResponse,
  'create-order': CreateOrder,
  'order-created': OrderCreated,
  'order-rejected': OrderRejected,
  'cancel-order': CancelOrder,
  'order-cancelled': OrderCancelled,
  'complete-order': CompleteOrder,
  'order-completed': OrderCompleted,
  'get-order.request': GetOrderRequest,
  'get-order.response': GetOrderResponse,
  'list-customer-orders.request': ListCustomerOrdersRequest,
  'list-customer-orders.response': ListCustomerOrdersResponse,
  'find-orders-by-number.request': FindOrdersByNumberRequest,
  'find-orders-by-number.response': FindOrdersByNumberResponse,
  'get-checkout.request': GetCheckoutRequest,
  'get-checkout.response': CheckoutStatus,
  error: ErrorBody,
} as const satisfies Record<MessageType, z.ZodType>;

/** The parsed body of a message of type `T`. */
export type MessageOf<T extends MessageType> = z.infer<(typeof messageSchemas)[T]>;

/**
 * What a service needs to serve a request: its subject, its `ce-type` and that type's schema,
 * the schema taken from the one table above rather than named again at each registration.
 */
export function requestContract<T extends MessageType>(subject: string, type: T) {
  return { subject, type, schema: messageSchemas[type] };
}

const messageTypes: ReadonlySet<string> = new Set(Object.values(MessageType));

export function isMessageType(s: string): s is MessageType {
  return messageTypes.has(s);
}

/** The explorer's diagnostic queries: not part of the shop's contract, but on the wire all the same. */
export const explorerSchemas = {
  'list-checkouts.request': ListCheckoutsRequest,
  'list-checkouts.response': ListCheckoutsResponse,
  'get-checkout-trace.request': GetCheckoutTraceRequest,
  'get-checkout-trace.response': CheckoutTrace,
} as const satisfies Record<ExplorerMessageType, z.ZodType>;

/** Every `ce-type` that has a schema: the shop's messages and the explorer's. */
export type SchemaType = MessageType | ExplorerMessageType;

const schemaTypes: ReadonlySet<string> = new Set([...messageTypes, ...Object.values(ExplorerMessageType)]);

/** The zod schema of any `ce-type` with one. */
export function schemaOf(type: SchemaType): z.ZodType {
  return isMessageType(type) ? messageSchemas[type] : explorerSchemas[type];
}

/**
 * Each message's contract version (semver). A change that every existing consumer accepts (an
 * optional field added, a constraint relaxed) bumps the minor version in place. A breaking change
 * (a field removed, renamed, retyped or made required; an enum value removed) bumps the major
 * version and is published beside the old version, under the same `ce-type` with its own
 * `ce-dataschema`, until the old one's consumers have moved (docs/contracts.md).
 */
const versionOverrides: Partial<Record<SchemaType, string>> = {};

/** The version of the contract a message of this type follows. */
export function versionOf(type: SchemaType): string {
  return versionOverrides[type] ?? MESSAGE_VERSION;
}

/**
 * The `ce-dataschema` of a message: the `$id` of its committed JSON Schema
 * (`contracts/schemas/<type>.json`), naming the type and its version. Undefined for a type
 * without a schema (the readiness ping).
 */
export function dataSchemaOf(type: string): string | undefined {
  if (!schemaTypes.has(type)) return undefined;
  return `urn:place-an-order:schema:${type}:${versionOf(type as SchemaType)}`;
}

/**
 * Where a message's wire contract lives: `path` relative to the catalog root, and a JSON Pointer
 * into that document ('' for the whole document; `/properties/request` or `/properties/response`
 * for one half of a catalog query; `/components/schemas/X` for an openapi.yml schema).
 */
export interface CatalogSchemaRef {
  readonly path: string;
  readonly pointer: string;
}

const CART_API = 'domains/Shopping/systems/cart-system/services/CartAPI';
const PROMOTION = 'domains/Shopping/systems/promotion-system/services/PromotionService';
const ORCHESTRATOR = 'domains/Ordering/systems/checkout-system/services/CheckoutOrchestrator';
const ORDER_SERVICE = 'domains/Ordering/systems/order-management-system/services/OrderService';
const INVENTORY = 'domains/Fulfilment/systems/inventory-system/services/InventoryService';

const whole = (path: string): CatalogSchemaRef => ({ path, pointer: '' });
const half = (path: string, which: 'request' | 'response'): CatalogSchemaRef => ({
  path,
  pointer: `/properties/${which}`,
});
const openapi = (name: string): CatalogSchemaRef => ({
  path: `${CART_API}/openapi.yml`,
  pointer: `/components/schemas/${name}`,
});

/** The catalog contract of each catalog message. Types absent here are our additions. */
export const catalogSchemaPath: Partial<Record<MessageType, CatalogSchemaRef>> = {
  'add-item-to-cart': whole(`${CART_API}/commands/AddItemToCart/schema.json`),
  'remove-item-from-cart': whole(`${CART_API}/commands/RemoveItemFromCart/schema.json`),
  'checkout-cart': whole(`${CART_API}/commands/CheckoutCart/schema.json`),
  'cart-checked-out': whole(`${CART_API}/events/CartCheckedOut/schema.json`),
  cart: openapi('Cart'),
  'get-cart.response': openapi('Cart'),
  'calculate-discount.request': half(`${PROMOTION}/commands/CalculateDiscount/schema.json`, 'request'),
  'calculate-discount.response': half(`${PROMOTION}/commands/CalculateDiscount/schema.json`, 'response'),
  'discount-calculated': whole(`${PROMOTION}/events/DiscountCalculated/schema.json`),
  'reserve-inventory': whole(`${ORCHESTRATOR}/commands/ReserveInventory/schema.json`),
  'authorize-payment': whole(`${ORCHESTRATOR}/commands/AuthorizePayment/schema.json`),
  'inventory-reserved': whole(`${INVENTORY}/events/InventoryReserved/schema.json`),
  'inventory-unavailable': whole(`${INVENTORY}/events/InventoryUnavailable/schema.json`),
  'release-inventory': whole(`${INVENTORY}/commands/ReleaseInventory/schema.json`),
  'get-stock-level.request': half(`${INVENTORY}/queries/GetStockLevel/schema.json`, 'request'),
  'get-stock-level.response': half(`${INVENTORY}/queries/GetStockLevel/schema.json`, 'response'),
  'create-order': whole(`${ORDER_SERVICE}/commands/CreateOrder/schema.json`),
  'cancel-order': whole(`${ORDER_SERVICE}/commands/CancelOrder/schema.json`),
  'order-created': whole(`${ORDER_SERVICE}/events/OrderCreated/schema.json`),
  'order-cancelled': whole(`${ORDER_SERVICE}/events/OrderCancelled/schema.json`),
  'order-completed': whole(`${ORDER_SERVICE}/events/OrderCompleted/schema.json`),
  'get-order.request': half(`${ORDER_SERVICE}/queries/GetOrder/schema.json`, 'request'),
  'get-order.response': half(`${ORDER_SERVICE}/queries/GetOrder/schema.json`, 'response'),
  error: openapi('Error'),
};

/**
 * The backend services, as data: their names in start order, each one's CloudEvents source and
 * its store's migrations. Both the composition root (system.ts) and the service threads'
 * entry (threads/) read it here, so neither has to import the other to know what a service is.
 */
import { cartMigrations } from './actors/cart/schema.ts';
import { checkoutMigrations } from './actors/checkout/schema.ts';
import { inventoryMigrations } from './actors/inventory/schema.ts';
import { orderMigrations } from './actors/order/schema.ts';
import { paymentMigrations } from './actors/payment/schema.ts';
import { promotionMigrations } from './actors/promotion/schema.ts';
import type { Service } from './contracts/subjects.ts';
import type { Migration } from './runtime/store.ts';

/** The services of the flow, in start order: participants before those that call them. */
export const backendServices = ['order', 'inventory', 'payment', 'promotion', 'cart', 'checkout'] as const satisfies readonly Service[];
export type BackendService = (typeof backendServices)[number];

/** Each service's CloudEvents `source`: the one place it is written. */
export const serviceSources = {
  order: 'urn:acme:ordering:order-service',
  inventory: 'urn:acme:fulfilment:inventory-service',
  payment: 'urn:acme:payments:payment-api',
  promotion: 'urn:acme:shopping:promotion-service',
  cart: 'urn:acme:shopping:cart-api',
  checkout: 'urn:acme:ordering:checkout-orchestrator',
} as const satisfies Record<BackendService, string>;

/** Each service's store schema, applied in order when its store opens. */
export const serviceMigrations: Record<BackendService, readonly Migration[]> = {
  order: orderMigrations,
  inventory: inventoryMigrations,
  payment: paymentMigrations,
  promotion: promotionMigrations,
  cart: cartMigrations,
  checkout: checkoutMigrations,
};

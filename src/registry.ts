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

/**
 * SQLite page size of a service's new store file (absent: SQLite's 4 KiB). The orchestrator's, the
 * cart's and the promotion service's stores are mostly their append-only journal (70-87% of their
 * WAL frames, embedded C=64), and each commit rewrites the journal's last leaf, its parent and the
 * header page: with 16 KiB pages a batch of records takes a quarter of the frames, each a write
 * syscall for its header and one for its page. The other stores keep 4 KiB: a third to a half of
 * their frames are random-key index pages (payments, the order index, reservations), where a
 * larger page is more bytes for the same one key.
 */
export const servicePageSizes: Partial<Record<BackendService, number>> = { checkout: 16_384, cart: 16_384, promotion: 16_384 };

/** Each service's store schema, applied in order when its store opens. */
export const serviceMigrations: Record<BackendService, readonly Migration[]> = {
  order: orderMigrations,
  inventory: inventoryMigrations,
  payment: paymentMigrations,
  promotion: promotionMigrations,
  cart: cartMigrations,
  checkout: checkoutMigrations,
};

/**
 * Every NATS subject and JetStream stream of Place an Order, in one place.
 *
 * Commands and queries are request/reply on `<service>.cmd.<message>` / `<service>.qry.<message>`,
 * answered by a queue group named after the service. Domain events are published to JetStream on
 * `<domain>.evt.<message>`, one stream per domain, and consumed by durable consumers.
 * `nats.conf` grants each service user exactly the subjects listed for it here.
 */

export const Service = {
  gateway: 'gateway',
  cart: 'cart',
  promotion: 'promotion',
  checkout: 'checkout',
  inventory: 'inventory',
  payment: 'payment',
  order: 'order',
} as const;
export type Service = (typeof Service)[keyof typeof Service];

/** Command subjects (request/reply). The key is the message's catalog id (or our addition's id). */
export const Command = {
  // Shopping: Cart API
  addItemToCart: 'cart.cmd.add-item-to-cart',
  removeItemFromCart: 'cart.cmd.remove-item-from-cart',
  checkoutCart: 'cart.cmd.checkout-cart',
  // Shopping: Promotion Service
  calculateDiscount: 'promotion.cmd.calculate-discount',
  // Fulfilment: Inventory Service
  reserveInventory: 'inventory.cmd.reserve-inventory',
  releaseInventory: 'inventory.cmd.release-inventory',
  // Payments: Payment API
  authorizePayment: 'payment.cmd.authorize-payment',
  voidPayment: 'payment.cmd.void-payment',
  // Ordering: Order Service
  createOrder: 'order.cmd.create-order',
  cancelOrder: 'order.cmd.cancel-order',
  completeOrder: 'order.cmd.complete-order',
} as const;
export type Command = (typeof Command)[keyof typeof Command];

/**
 * Commands between the partitions of a partitioned Inventory Service (PARTITIONS_INVENTORY > 1):
 * internal, not the catalog's (src/contracts/messages/inventory-partitions.ts). A reservation's
 * actor asks each product's partition for a hold of its lines there, and releases or consumes it.
 */
export const InventoryInternalCommand = {
  holdStock: 'inventory.cmd.hold-stock',
  releaseStock: 'inventory.cmd.release-stock',
  consumeStock: 'inventory.cmd.consume-stock',
} as const;
export type InventoryInternalCommand = (typeof InventoryInternalCommand)[keyof typeof InventoryInternalCommand];

/** Query subjects (request/reply, no state change): `<service>.qry.<message>`. */
export const Query = {
  // Shopping: Cart API
  getCart: 'cart.qry.get-cart',
  listProducts: 'cart.qry.list-products',
  getProduct: 'cart.qry.get-product',
  // Shopping: Promotion Service
  quotePromotion: 'promotion.qry.quote-promotion',
  // Fulfilment: Inventory Service
  getStockLevel: 'inventory.qry.get-stock-level',
  // Payments: Payment API
  getPayment: 'payment.qry.get-payment',
  // Ordering: Order Service
  getOrder: 'order.qry.get-order',
  listCustomerOrders: 'order.qry.list-customer-orders',
  findOrdersByNumber: 'order.qry.find-orders-by-number',
  // Ordering: Checkout API
  getCheckout: 'checkout.qry.get-checkout',
  // Every service answers a ping on `<service>.qry.ping` for readiness checks.
} as const;
export type Query = (typeof Query)[keyof typeof Query];

export const pingSubject = (service: Service): string => `${service}.qry.ping`;

/**
 * The live saga explorer's queries: diagnostics for developers, answered by the orchestrator from
 * its own store. Kept apart from `Command` (the catalog's and the shop's contract); the gateway's
 * NATS user may request them under `checkout.qry.*`.
 */
export const ExplorerQuery = {
  listCheckouts: 'checkout.qry.list-checkouts',
  getCheckoutTrace: 'checkout.qry.get-checkout-trace',
} as const;
export type ExplorerQuery = (typeof ExplorerQuery)[keyof typeof ExplorerQuery];

/**
 * One orchestrator instance's own trace subject: an instance asked for a saga another instance
 * owns (by the saga-owners claim) forwards the query there.
 */
export const traceAtInstance = (instanceId: string): string => `checkout.qry.trace.${instanceId}`;

/**
 * One orchestrator instance's own status subject: get-checkout for a saga whose document is not in
 * the `checkouts` bucket is answered by the saga, and an instance that does not hold it forwards
 * the query there.
 */
export const statusAtInstance = (instanceId: string): string => `checkout.qry.status.${instanceId}`;

/** One orchestrator instance's own list subject: the instance asked for a list gathers every instance's page. */
export const listAtInstance = (instanceId: string): string => `checkout.qry.list.${instanceId}`;

/**
 * Operator commands, answered by the orchestrator (any instance; the one asked forwards to the
 * owner's own subject). The gateway's NATS user may send them; the gateway checks the operator.
 */
export const OperatorCommand = {
  retryCheckout: 'checkout.cmd.operator-retry',
} as const;
export type OperatorCommand = (typeof OperatorCommand)[keyof typeof OperatorCommand];

/** One orchestrator instance's own retry subject. */
export const retryAtInstance = (instanceId: string): string => `checkout.cmd.retry.${instanceId}`;

/** JetStream streams, one per domain. */
export const Stream = {
  shopping: { name: 'SHOPPING', subjects: ['shopping.evt.>'] },
  fulfilment: { name: 'FULFILMENT', subjects: ['fulfilment.evt.>'] },
  payments: { name: 'PAYMENTS', subjects: ['payments.evt.>'] },
  ordering: { name: 'ORDERING', subjects: ['ordering.evt.>'] },
} as const;
export type StreamName = (typeof Stream)[keyof typeof Stream]['name'];

/**
 * The replicated journals (not domain events: nothing consumes them but a store being rebuilt):
 * one subject per store slot, `journal.<service>.<slot>` (src/runtime/replication.ts). A slot is
 * what a partition of the service will be.
 */
export const JournalStream = { name: 'JOURNAL', subjects: ['journal.>'] } as const;
export const journalSubject = (service: Service, slot: string): string => `journal.${service}.${slot.replace(/[^\w-]/g, '_')}`;

/** Domain event subjects. */
export const Event = {
  cartCheckedOut: 'shopping.evt.cart-checked-out',
  discountCalculated: 'shopping.evt.discount-calculated',
  inventoryReserved: 'fulfilment.evt.inventory-reserved',
  inventoryUnavailable: 'fulfilment.evt.inventory-unavailable',
  inventoryReleased: 'fulfilment.evt.inventory-released',
  inventoryConsumed: 'fulfilment.evt.inventory-consumed',
  paymentAuthorized: 'payments.evt.payment-authorized',
  paymentDeclined: 'payments.evt.payment-declined',
  paymentVoided: 'payments.evt.payment-voided',
  paymentCaptured: 'payments.evt.payment-captured',
  orderCreated: 'ordering.evt.order-created',
  orderCancelled: 'ordering.evt.order-cancelled',
  orderCompleted: 'ordering.evt.order-completed',
} as const;
export type Event = (typeof Event)[keyof typeof Event];

/** The stream an event subject belongs to. */
export function streamOf(subject: string): StreamName {
  for (const s of Object.values(Stream)) {
    if (s.subjects.some((p) => subject.startsWith(p.slice(0, -1)))) return s.name;
  }
  throw new Error(`no stream captures subject ${subject}`);
}

/** Key-value buckets (NATS KV). */
export const Bucket = {
  /** checkoutId -> owning orchestrator instance; `create` makes the claim atomic across instances. */
  sagaOwners: 'saga-owners',
  /** checkoutId -> latest checkout status document, watched by the gateway for SSE. */
  checkouts: 'checkouts',
  /** `<service>.<slot>` -> the process that owns that store slot now (src/runtime/slot-lease.ts; distributed mode only). */
  journalLeases: 'journal-leases',
} as const;
export type Bucket = (typeof Bucket)[keyof typeof Bucket];

/**
 * How long a bucket keeps a key after its last write (the bucket's TTL, `max_age` of its stream;
 * nats-server 2.9 has no TTL per key). A checkout's status document is read by its shopper within
 * minutes; after a day an expired one is answered from the saga's own store (get-checkout).
 *
 * `saga-owners`: a claim is written once (on NATS; embedded, the sole orchestrator claims nothing:
 * CheckoutConfig.soleInstance), when its cart-checked-out is first handled, and decides
 * the saga's start only while that event can be delivered again: on NATS no longer than the
 * stream keeps it (EVENT_RETENTION_MS, a day from its publication, which came before the claim),
 * so a claim kept a day outlives every redelivery of its event. After that it only spares
 * `forwardToHolder` asking every instance in turn for a saga whose status document (a day after
 * its last write) is gone. Without a TTL the bucket grew by a claim per checkout for good. The
 * instances' registrations in the same bucket are rewritten every hour while their instance runs
 * (instances.ts, `keepRegistered`). journal-leases keeps its keys: one per slot, renewed by its holders.
 */
export const BucketTtlMs: Readonly<Partial<Record<Bucket, number>>> = {
  [Bucket.checkouts]: 24 * 3_600_000,
  [Bucket.sagaOwners]: 24 * 3_600_000,
};

/**
 * The buckets that hold derived documents only, kept in memory by the embedded (in-process)
 * transport instead of in bus.db, with at most `maxKeys` keys (the least recently written go
 * first) and each key no longer than the bucket's TTL (BucketTtlMs). Over NATS every bucket stays
 * a JetStream KV; this only says what embedded mode need not make durable.
 *
 * `checkouts`: a status document is rewritten four or five times per checkout, about 3.5 of
 * bus.db's writes per checkout (docs/benchmarks.md, "Status documents in memory, embedded"), and
 * what it says is durable in the saga's own store (checkout.db): a document that is gone (evicted,
 * expired, or a restart emptied the bucket) is answered by the saga (get-checkout, publishedStatus),
 * and the gateway asks it on a miss. Its revisions still only grow, across restarts as well (the
 * bucket's reserve in bus.db, written once per KV_REVISION_BLOCK revisions), so an SSE stream's
 * Last-Event-ID stays comparable after a restart. 10,000 documents (a document of about 350
 * bytes with its key and entry, about 0.5 KiB of memory each: 5 MiB): ten seconds of checkouts at
 * a thousand a second, hours at a shop's usual rates. The live ones reach their shoppers through
 * the watch as they are written; the saga answers for older ones.
 */
export const BucketInMemoryEmbedded: Readonly<Partial<Record<Bucket, { maxKeys: number }>>> = {
  [Bucket.checkouts]: { maxKeys: 10_000 },
};

/** Durable consumer names, one per (service, purpose). */
export const Durable = {
  checkoutStartsSagas: 'checkout-api-cart-checked-out',
  inventoryOnOrderCancelled: 'inventory-order-cancelled',
  inventoryOnOrderCompleted: 'inventory-order-completed',
  paymentOnOrderCancelled: 'payment-order-cancelled',
  paymentOnOrderCompleted: 'payment-order-completed',
  cartReopensOnOrderCancelled: 'cart-order-cancelled',
} as const;
export type Durable = (typeof Durable)[keyof typeof Durable];

/**
 * Partitions (#15). A partitioned service runs P partitions, each a slot of its own (store, journal
 * subject, lease; src/runtime/slot-set.ts), and a command reaches the partition that owns its
 * entity by subject: `<subject>.<partition>`, the partition being the FNV-1a hash of the entity's
 * key modulo P. With P = 1 (the default, and always embedded) every subject is the plain one, so
 * nothing changes for a deployment that does not partition.
 *
 * The key of each partitioned subject is read from the payload, which stays exactly the catalog's:
 * a cart's id for the Cart API and the Promotion Service (so a checkout's cart and its discount
 * share a partition number), an order's id for the Order Service and the Payment API (so an order
 * and its authorization share one). Inventory is partitioned only by its own setting
 * (PARTITIONS_INVENTORY): stock by productId, a reservation by its reservationId, the reservation
 * a saga of holds across the products' partitions (docs/architecture.md, "Partitions").
 */
export const partitionedServices = ['cart', 'promotion', 'payment', 'order'] as const satisfies readonly Service[];
/** The services that can run partitions: those PARTITIONS sets, and inventory (PARTITIONS_INVENTORY only). */
export type PartitionedService = (typeof partitionedServices)[number] | 'inventory';
/** Partitions per service; a service not named has one. */
export type Partitions = Readonly<Partial<Record<PartitionedService, number>>>;
/** nats.conf names each partition's durable consumers (`<durable>-p<k>`), up to this many. */
export const MAX_PARTITIONS = 8;

interface Keyed {
  cartId?: unknown;
  orderId?: unknown;
  reservationId?: unknown;
  productId?: unknown;
  items?: unknown;
}
const byCart = (p: Keyed): unknown => p.cartId;
const byOrder = (p: Keyed): unknown => p.orderId;
const byReservation = (p: Keyed): unknown => p.reservationId;
const byProduct = (p: Keyed): unknown => p.productId;
/** An inventory partition's internal command names only lines of that partition: the first one routes it. */
const byFirstLine = (p: Keyed): unknown => (Array.isArray(p.items) ? (p.items[0] as Keyed | undefined)?.productId : undefined);

/** The entity key of every partitioned request subject, read from its payload. */
const partitionKeys: Readonly<Record<string, (p: Keyed) => unknown>> = {
  [Command.addItemToCart]: byCart,
  [Command.removeItemFromCart]: byCart,
  [Command.checkoutCart]: byCart,
  [Query.getCart]: byCart,
  [Command.calculateDiscount]: byCart,
  [Command.authorizePayment]: byOrder,
  [Command.voidPayment]: byOrder,
  [Query.getPayment]: byOrder,
  [Command.createOrder]: byOrder,
  [Command.cancelOrder]: byOrder,
  [Command.completeOrder]: byOrder,
  [Query.getOrder]: byOrder,
  [Command.reserveInventory]: byReservation,
  [Command.releaseInventory]: byReservation,
  [Query.getStockLevel]: byProduct,
  [InventoryInternalCommand.holdStock]: byFirstLine,
  [InventoryInternalCommand.releaseStock]: byFirstLine,
  [InventoryInternalCommand.consumeStock]: byFirstLine,
};

/** Queries over many entities of a partitioned service: asked of every partition, answers merged (scatter-gather). */
export const gatheredQueries: readonly string[] = [Query.listCustomerOrders, Query.findOrdersByNumber];

/** The service a request subject is answered by (its first token). */
const serviceOfSubject = (subject: string): string => subject.slice(0, subject.indexOf('.'));

/** How many partitions the service answering `subject` has. */
export function partitionCount(subject: string, partitions: Partitions): number {
  return partitions[serviceOfSubject(subject) as PartitionedService] ?? 1;
}

/** FNV-1a (32 bits) of the key's UTF-16 code units, modulo `count`: stable across processes and releases. */
export function partitionOf(key: string, count: number): number {
  if (count <= 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % count;
}

/** Whether `subject` is answered per partition (keyed, or gathered) rather than by any process of the service. */
export const isPartitionedSubject = (subject: string): boolean => subject in partitionKeys || gatheredQueries.includes(subject);

/** The subject partition `index` of `count` answers for `subject`: the plain one when there is one partition or the subject is not partitioned. */
export function servedSubject(subject: string, index: number, count: number): string {
  return count > 1 && isPartitionedSubject(subject) ? `${subject}.${index}` : subject;
}

/** A request's entity key, if `subject` is keyed (the payload's cartId or orderId). */
export function partitionKeyOf(subject: string, payload: unknown): string | undefined {
  const key = partitionKeys[subject]?.(payload ?? {});
  return typeof key === 'string' ? key.toLowerCase() : undefined;
}

/**
 * The subject a request is sent on: the partition owning its key. A keyed subject whose payload
 * lacks the key cannot be routed once the service is partitioned (the saga always names it).
 */
export function routeTo(subject: string, payload: unknown, partitions: Partitions): string {
  const count = partitionCount(subject, partitions);
  if (count <= 1 || !(subject in partitionKeys)) return subject;
  const key = partitionKeyOf(subject, payload);
  if (key === undefined) throw new Error(`${subject} needs its entity key to reach one of ${count} partitions`);
  return `${subject}.${partitionOf(key, count)}`;
}

/** Every partition's subject of a gathered query (one subject when the service has one partition). */
export function gatherSubjects(subject: string, partitions: Partitions): string[] {
  const count = partitionCount(subject, partitions);
  return count <= 1 ? [subject] : Array.from({ length: count }, (_, k) => `${subject}.${k}`);
}

/** A partition's own durable consumer: each reads the whole subject and handles the keys it owns. */
export const partitionDurable = (durable: string, index: number, count: number): string => (count > 1 ? `${durable}-p${index}` : durable);

/** The Order Service's store: the actor host's tables, plus an index of orders by customer and by number. */
import { z } from 'zod';
import type { Db, Migration } from '../../runtime/store.ts';
import { orderIdRange, orderNumberHex } from '../../contracts/order-number.ts';
import { runtimeMigrations } from '../../runtime/schema.ts';
import { CancellationReason, Currency, PricedLineItem, Uuid } from '../../contracts/index.ts';

export const orderMigrations: readonly Migration[] = [
  ...runtimeMigrations,
  {
    version: 100,
    name: 'order index',
    sql: `
      CREATE TABLE order_index (
        order_id    TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('CREATED', 'COMPLETED', 'CANCELLED')),
        updated_at  INTEGER NOT NULL
      );
      CREATE INDEX order_index_customer ON order_index (customer_id, updated_at);
    `,
  },
  {
    // Order ids are time-ordered (v8) for carts made so: their number is no longer their prefix,
    // so it is stored. Rows from before keep a null number and are found by their id's prefix.
    version: 101,
    name: 'order numbers',
    sql: `
      ALTER TABLE order_index ADD COLUMN number TEXT;
      CREATE INDEX order_index_number ON order_index (number) WHERE number IS NOT NULL;
    `,
  },
  {
    // The index by customer held the time of the order's last change, so the order's completion or
    // cancellation moved its entry: a second random-key write per order (the customer is random by
    // nature), 13% of order.db's WAL frames. By customer alone (as the catalog's order-database
    // indexes orders), an entry is written once, at creation; a customer's list is sorted by
    // `updated_at` from the table, as it was.
    version: 102,
    name: 'order index by customer alone',
    sql: `
      DROP INDEX order_index_customer;
      CREATE INDEX order_index_by_customer ON order_index (customer_id);
    `,
  },
];

/** A customer's orders, most recently changed first, at most 100. */
export function ordersOfCustomer(db: Db): (customerId: string) => string[] {
  const query = db.prepare('SELECT order_id FROM order_index WHERE customer_id = ? ORDER BY updated_at DESC LIMIT 100').pluck();
  return (customerId) => query.all(customerId) as string[];
}

/**
 * The ids of the orders (at most 10) an order number stands for. An order's number is in the index
 * (contracts/order-number.ts); an order indexed before numbers were stored has a null one, and its
 * number is its id's first 40 bits: a range of the index's key.
 */
export function orderIdsByNumber(db: Db): (orderNumber: string) => string[] {
  const query = db.prepare(
    `SELECT order_id FROM order_index WHERE number = ?
     UNION SELECT order_id FROM order_index WHERE order_id >= ? AND order_id < ? AND number IS NULL
     ORDER BY order_id LIMIT 10`,
  ).pluck();
  return (orderNumber) => {
    const hex = orderNumberHex(orderNumber);
    const range = orderIdRange(orderNumber);
    return hex !== null && range ? (query.all(hex, range.from, range.to) as string[]) : [];
  };
}

/** A stored order context must parse before the host uses it. */
export const OrderContextSchema = z.object({
  orderId: Uuid,
  cartId: Uuid.nullable(),
  customerId: Uuid.nullable(),
  items: z.array(PricedLineItem.extend({ sku: z.string().optional() })),
  total: z.int(),
  currency: Currency,
  paymentAuthorizationId: z.string().nullable(),
  createdAt: z.string().nullable(),
  cancelledAt: z.string().nullable(),
  completedAt: z.string().nullable(),
  reason: CancellationReason.nullable(),
  detail: z.string().nullable(),
  rejection: z.string().nullable(),
});

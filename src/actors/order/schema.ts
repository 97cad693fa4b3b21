/** The Order Service's store: the actor host's tables, plus an index of orders by customer. */
import { z } from 'zod';
import type { Migration } from '../../runtime/store.ts';
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
];

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

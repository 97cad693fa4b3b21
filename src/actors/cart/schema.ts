/**
 * The Cart API's store: the actor host's tables (each cart is an actor snapshot), plus the product
 * catalogue it prices carts from. Column names follow the catalog's cart-database/schema.sql style.
 */
import { z } from 'zod';
import type { Migration } from '../../runtime/store.ts';
import { runtimeMigrations } from '../../runtime/schema.ts';
import { Currency, DateTime, NonNegativeMoney, PricedLineItem, Uuid } from '../../contracts/index.ts';

export const cartMigrations: readonly Migration[] = [
  ...runtimeMigrations,
  {
    version: 100,
    name: 'products',
    sql: `
      CREATE TABLE products (
        product_id       TEXT PRIMARY KEY,
        sku              TEXT NOT NULL UNIQUE,
        name             TEXT NOT NULL,
        description      TEXT,
        unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
        currency         TEXT NOT NULL CHECK (length(currency) = 3),
        image_url        TEXT
      );
    `,
  },
];

const PromotionRejection = z.object({ code: z.string(), reason: z.string() });

/** A stored cart context must parse before the host uses it. */
export const CartContextSchema = z.object({
  cartId: Uuid,
  customerId: Uuid.nullable(),
  items: z.array(PricedLineItem),
  currency: Currency,
  createdAt: DateTime.nullable(),
  updatedAt: DateTime.nullable(),
  checkedOutAt: DateTime.nullable(),
  abandonedAt: DateTime.nullable(),
  pricing: z
    .object({
      subtotal: NonNegativeMoney,
      discount: NonNegativeMoney,
      total: NonNegativeMoney,
      appliedPromotions: z.array(z.string()),
      promotionCode: z.string().nullable(),
      promotionRejection: PromotionRejection.nullable(),
    })
    .nullable(),
  // Carts stored before reopening existed have no such field: they were not reopened from anything.
  restoredFrom: z.object({ cartId: Uuid, reason: z.string(), detail: z.string().nullable() }).nullable().default(null),
});

/**
 * The Inventory Service's store: the actor host's tables, plus the catalog's inventory-database
 * tables. `stock` is the system of record for levels; `reservations` and `reservation_items` are an
 * index of what each reservation holds, written by the reservation actor's executors in the same
 * transaction as its snapshot, so that events naming only an orderId find their reservation and
 * `reserved` can be checked against the held lines.
 */
import { z } from 'zod';
import type { Migration } from '../../runtime/store.ts';
import { runtimeMigrations } from '../../runtime/schema.ts';
import { DateTime, LineItem, ReleaseReason, UnavailableItem, Uuid } from '../../contracts/index.ts';

export const inventoryMigrations: readonly Migration[] = [
  ...runtimeMigrations,
  {
    version: 100,
    name: 'stock and reservations',
    sql: `
      CREATE TABLE stock (
        product_id TEXT PRIMARY KEY,
        available  INTEGER NOT NULL DEFAULT 0 CHECK (available >= 0),
        reserved   INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
        consumed   INTEGER NOT NULL DEFAULT 0 CHECK (consumed >= 0),
        updated_at INTEGER NOT NULL
      );

      CREATE TABLE reservations (
        reservation_id TEXT PRIMARY KEY,
        order_id       TEXT,
        cart_id        TEXT,
        status         TEXT NOT NULL CHECK (status IN ('HELD', 'RELEASED', 'CONSUMED')),
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL
      );
      CREATE INDEX reservations_order ON reservations (order_id);

      CREATE TABLE reservation_items (
        reservation_id TEXT NOT NULL REFERENCES reservations (reservation_id) ON DELETE CASCADE,
        product_id     TEXT NOT NULL,
        quantity       INTEGER NOT NULL CHECK (quantity > 0),
        PRIMARY KEY (reservation_id, product_id)
      );
    `,
  },
  {
    // A partitioned inventory (PARTITIONS_INVENTORY > 1): the holds this partition keeps for
    // reservations whose actor is in any partition, one row per (reservation, product). Empty
    // with one partition, where a reservation moves the stock itself.
    version: 101,
    name: 'stock holds of a partitioned inventory',
    sql: `
      CREATE TABLE stock_holds (
        reservation_id TEXT NOT NULL,
        product_id     TEXT NOT NULL,
        quantity       INTEGER NOT NULL CHECK (quantity > 0),
        status         TEXT NOT NULL CHECK (status IN ('HELD', 'RELEASED', 'CONSUMED')),
        updated_at     INTEGER NOT NULL,
        PRIMARY KEY (reservation_id, product_id)
      );
    `,
  },
];

/** A stored reservation context must parse before the host uses it. */
export const ReservationContextSchema = z.object({
  reservationId: Uuid,
  orderId: Uuid.nullable(),
  cartId: Uuid.nullable(),
  items: z.array(LineItem),
  unavailableItems: z.array(UnavailableItem),
  reservedAt: DateTime.nullable(),
  checkedAt: DateTime.nullable(),
  releasedAt: DateTime.nullable(),
  releaseReason: ReleaseReason.nullable(),
  consumedAt: DateTime.nullable(),
});

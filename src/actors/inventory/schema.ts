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

/** Each table's columns, as migration 100 (101: the holds) created them and 102 makes them again without a rowid. */
const STOCK_COLUMNS = `
        product_id TEXT PRIMARY KEY,
        available  INTEGER NOT NULL DEFAULT 0 CHECK (available >= 0),
        reserved   INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
        consumed   INTEGER NOT NULL DEFAULT 0 CHECK (consumed >= 0),
        updated_at INTEGER NOT NULL`;
const RESERVATION_COLUMNS = `
        reservation_id TEXT PRIMARY KEY,
        order_id       TEXT,
        cart_id        TEXT,
        status         TEXT NOT NULL CHECK (status IN ('HELD', 'RELEASED', 'CONSUMED')),
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL`;
/** A reservation's lines, bound to the table of reservations named `parent`. */
const reservationItemColumns = (parent: string) => `
        reservation_id TEXT NOT NULL REFERENCES ${parent} (reservation_id) ON DELETE CASCADE,
        product_id     TEXT NOT NULL,
        quantity       INTEGER NOT NULL CHECK (quantity > 0),
        PRIMARY KEY (reservation_id, product_id)`;
const STOCK_HOLD_COLUMNS = `
        reservation_id TEXT NOT NULL,
        product_id     TEXT NOT NULL,
        quantity       INTEGER NOT NULL CHECK (quantity > 0),
        status         TEXT NOT NULL CHECK (status IN ('HELD', 'RELEASED', 'CONSUMED')),
        updated_at     INTEGER NOT NULL,
        PRIMARY KEY (reservation_id, product_id)`;

/** `table` made again WITHOUT ROWID with the same columns and rows (create, copy, drop, rename), for a table no other references. */
const withoutRowid = (table: string, columns: string, names: string) => `
      CREATE TABLE ${table}_v2 (${columns}
      ) WITHOUT ROWID;
      INSERT INTO ${table}_v2 (${names}) SELECT ${names} FROM ${table};
      DROP TABLE ${table};
      ALTER TABLE ${table}_v2 RENAME TO ${table};`;

export const inventoryMigrations: readonly Migration[] = [
  ...runtimeMigrations,
  {
    version: 100,
    name: 'stock and reservations',
    sql: `
      CREATE TABLE stock (${STOCK_COLUMNS}
      );

      CREATE TABLE reservations (${RESERVATION_COLUMNS}
      );
      CREATE INDEX reservations_order ON reservations (order_id);

      CREATE TABLE reservation_items (${reservationItemColumns('reservations')}
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
      CREATE TABLE stock_holds (${STOCK_HOLD_COLUMNS}
      );
    `,
  },
  {
    // Each table here keyed by TEXT was a rowid table and the index SQLite makes for its key: two
    // B-trees, and an insert dirtied a leaf of each (the census in docs/benchmarks.md: a
    // reservation's rows wrote four B-trees and its index by order a fifth, 29% of inventory.db's
    // bytes; the lines' key index alone 5.3 MB of 3,000 checkouts). WITHOUT ROWID, each table is
    // its key's B-tree (rows of 50-130 bytes, well under SQLite's 1/20 of a page). Every query
    // still seeks: by product, by reservation (a lines' and holds' key prefix), by order
    // (`reservations_order`, which now holds the reservation id in place of a rowid).
    // The lines are copied while both `reservations` exist, and reference the new one from the
    // start: dropping a parent that a child still references would delete the child's rows
    // (ON DELETE CASCADE runs in DROP TABLE's implicit DELETE; foreign_keys cannot be turned off
    // within the migration's transaction). Renaming the parent renames the reference with it.
    version: 102,
    name: 'service tables without rowid',
    sql: `
      ${withoutRowid('stock', STOCK_COLUMNS, 'product_id, available, reserved, consumed, updated_at')}

      CREATE TABLE reservations_v2 (${RESERVATION_COLUMNS}
      ) WITHOUT ROWID;
      INSERT INTO reservations_v2 (reservation_id, order_id, cart_id, status, created_at, updated_at)
        SELECT reservation_id, order_id, cart_id, status, created_at, updated_at FROM reservations;
      CREATE TABLE reservation_items_v2 (${reservationItemColumns('reservations_v2')}
      ) WITHOUT ROWID;
      INSERT INTO reservation_items_v2 (reservation_id, product_id, quantity)
        SELECT reservation_id, product_id, quantity FROM reservation_items;
      DROP TABLE reservation_items;
      DROP TABLE reservations;
      ALTER TABLE reservations_v2 RENAME TO reservations;
      ALTER TABLE reservation_items_v2 RENAME TO reservation_items;
      CREATE INDEX reservations_order ON reservations (order_id);
      ${withoutRowid('stock_holds', STOCK_HOLD_COLUMNS, 'reservation_id, product_id, quantity, status, updated_at')}
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

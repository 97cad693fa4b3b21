/**
 * The services' own tables (inventory's stock, reservations, reservation lines and partition holds;
 * payment's payments) on real SQLite files: a store written before their last migrations
 * (inventory 102, payment 101) opens converted with every row kept, directly or from a checkpoint
 * image made before the migration; each of inventory's tables is one B-tree (WITHOUT ROWID),
 * payments has no index by status; and every query the services run on them is still a seek.
 * (The order index keeps its rowid: docs/benchmarks.md, "Fewer B-trees per message".)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { inventoryMigrations } from '../../src/actors/inventory/schema.ts';
import { heldReservationsOf, holdStock, stockLevels } from '../../src/actors/inventory/stock.ts';
import { authorizationStates, paymentMigrations } from '../../src/actors/payment/schema.ts';
import { checkpointImage, fullImage } from '../../src/runtime/checkpoint-image.ts';
import { ManualClock } from '../../src/runtime/clock.ts';
import { checkoutIdsFor } from '../../src/runtime/ids.ts';
import { Journal } from '../../src/runtime/journal.ts';
import { Store, type Db, type Migration } from '../../src/runtime/store.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const freshPath = (name: string): string => {
  const dir = mkdtempSync(join(tmpdir(), 'service-tables-'));
  dirs.push(dir);
  return join(dir, name);
};
const open = (path: string, migrations: readonly Migration[]) => new Store({ path, migrations, synchronous: 'NORMAL' });
const before = (migrations: readonly Migration[], version: number) => migrations.filter((m) => m.version < version);

/** Every row of each table, in key order. */
const rowsOf = (db: Db, tables: Record<string, string>) =>
  Object.fromEntries(Object.entries(tables).map(([t, order]) => [t, db.prepare(`SELECT * FROM ${t} ORDER BY ${order}`).all()]));
const INVENTORY = { stock: 'product_id', reservations: 'reservation_id', reservation_items: 'reservation_id, product_id', stock_holds: 'reservation_id, product_id' };

/** The B-trees that hold a table: its own and its indexes', SQLite's included. */
const btreesOf = (db: Db, table: string) =>
  db.prepare(`SELECT name FROM sqlite_schema WHERE tbl_name = ? AND type IN ('table', 'index') AND rootpage > 0 ORDER BY name`).pluck().all(table);
const planOf = (db: Db, sql: string, ...args: unknown[]) =>
  (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((p) => p.detail).join(' | ');

const ids = [0, 1, 2].map((i) => checkoutIdsFor(`0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2${i}`));
const products = ['p-1', 'p-2', 'p-3'];

/** An inventory store as the code before migration 102 wrote it: stock, two reservations with their lines, a partition's holds. */
function oldInventory(path: string): Store {
  const store = open(path, before(inventoryMigrations, 102));
  const db = store.db;
  for (const p of products) db.prepare('INSERT INTO stock (product_id, available, reserved, consumed, updated_at) VALUES (?, 10, 0, 0, 1)').run(p);
  holdStock(db, { reservationId: ids[0]!.reservationId, orderId: ids[0]!.orderId, cartId: 'cart-0', items: [{ productId: 'p-1', quantity: 2 }, { productId: 'p-2', quantity: 1 }] }, 2);
  holdStock(db, { reservationId: ids[1]!.reservationId, orderId: ids[1]!.orderId, cartId: null, items: [{ productId: 'p-3', quantity: 3 }] }, 3);
  db.prepare(`UPDATE reservations SET status = 'RELEASED' WHERE reservation_id = ?`).run(ids[1]!.reservationId);
  db.prepare(`INSERT INTO stock_holds VALUES (?, 'p-1', 4, 'HELD', 5), (?, 'p-2', 1, 'CONSUMED', 6)`).run(ids[2]!.reservationId, ids[2]!.reservationId);
  return store;
}

/** What the converted inventory store must show, given the rows the old one held. */
function expectInventoryConverted(db: Db, rows: ReturnType<typeof rowsOf>): void {
  expect(rowsOf(db, INVENTORY)).toEqual(rows);
  expect(rows.reservation_items).toHaveLength(3);
  expect(rows.stock_holds).toHaveLength(2);
  // One B-tree per table, the index by order beside the reservations.
  expect(btreesOf(db, 'stock')).toEqual(['stock']);
  expect(btreesOf(db, 'reservations')).toEqual(['reservations', 'reservations_order']);
  expect(btreesOf(db, 'reservation_items')).toEqual(['reservation_items']);
  expect(btreesOf(db, 'stock_holds')).toEqual(['stock_holds']);
  // The lines still belong to the reservations table by name, and its constraint holds.
  expect(db.prepare(`SELECT "table" FROM pragma_foreign_key_list('reservation_items')`).pluck().all()).toEqual(['reservations']);
  expect(() => db.prepare(`INSERT INTO reservation_items VALUES ('no such reservation', 'p-1', 1)`).run()).toThrow(/FOREIGN KEY/);
  expect(db.prepare('PRAGMA foreign_key_check').all()).toEqual([]);
  // The code's queries work on it.
  expect(heldReservationsOf(db, ids[0]!.orderId)).toEqual([ids[0]!.reservationId]);
  expect(heldReservationsOf(db, ids[1]!.orderId)).toEqual([]);
  expect(stockLevels(db).map((s) => [s.productId, s.available, s.reserved])).toEqual([['p-1', 8, 2], ['p-2', 9, 1], ['p-3', 7, 3]]);
  holdStock(db, { reservationId: ids[2]!.reservationId, orderId: ids[2]!.orderId, cartId: null, items: [{ productId: 'p-1', quantity: 1 }] }, 7);
  expect(heldReservationsOf(db, ids[2]!.orderId)).toEqual([ids[2]!.reservationId]);
}

describe('the inventory tables', () => {
  it('convert a store of version 101: every row kept, each table one B-tree, the lines still bound to their reservations', async () => {
    const path = freshPath('inventory.db');
    const old = oldInventory(path);
    const rows = rowsOf(old.db, INVENTORY);
    expect(btreesOf(old.db, 'reservation_items')).toEqual(['reservation_items', 'sqlite_autoindex_reservation_items_1']);
    await old.close();

    const store = open(path, inventoryMigrations);
    expectInventoryConverted(store.db, rows);
    expect(store.db.prepare('PRAGMA integrity_check').pluck().get()).toBe('ok');
    await store.close();
  });

  it('open, once converted, on the code before the migration too: nothing is migrated back, and its statements run', async () => {
    const path = freshPath('inventory.db');
    const converted = open(path, inventoryMigrations);
    converted.db.prepare('INSERT INTO stock (product_id, available, reserved, consumed, updated_at) VALUES (?, 10, 0, 0, 1)').run('p-1');
    await converted.close();
    const older = open(path, before(inventoryMigrations, 102));
    expect(older.db.prepare('SELECT max(version) FROM schema_migrations').pluck().get()).toBe(102);
    holdStock(older.db, { reservationId: ids[0]!.reservationId, orderId: ids[0]!.orderId, cartId: null, items: [{ productId: 'p-1', quantity: 2 }] }, 2);
    expect(heldReservationsOf(older.db, ids[0]!.orderId)).toEqual([ids[0]!.reservationId]);
    expect(btreesOf(older.db, 'reservation_items')).toEqual(['reservation_items']);
    await older.close();
  });

  it('seek in every query the service runs', async () => {
    const store = open(freshPath('inventory.db'), inventoryMigrations);
    const db = store.db;
    const seek = (sql: string, using: RegExp) => expect(planOf(db, sql, ...Array.from(sql.matchAll(/\?/g), () => 'x'))).toMatch(using);
    seek('SELECT product_id AS productId, available, reserved, consumed FROM stock WHERE product_id = ?', /SEARCH stock USING PRIMARY KEY \(product_id=\?\)/);
    seek('UPDATE stock SET available = available - 1 WHERE product_id = ? AND available >= 1', /SEARCH stock USING PRIMARY KEY \(product_id=\?\)/);
    seek('UPDATE reservations SET status = ?, updated_at = ? WHERE reservation_id = ?', /SEARCH reservations USING PRIMARY KEY \(reservation_id=\?\)/);
    seek(`SELECT reservation_id FROM reservations WHERE order_id = ? AND status = 'HELD' ORDER BY created_at`, /SEARCH reservations USING INDEX reservations_order \(order_id=\?\)/);
    seek('UPDATE stock_holds SET status = ?, updated_at = ? WHERE reservation_id = ?', /SEARCH stock_holds USING PRIMARY KEY \(reservation_id=\?\)/);
    await store.close();
  });
});

describe('the payments table', () => {
  it('converts a store of version 100: every payment kept, no index by status', async () => {
    const path = freshPath('payment.db');
    const old = open(path, before(paymentMigrations, 101));
    const add = old.db.prepare(`INSERT INTO payments (order_id, authorization_id, status, created_at, updated_at) VALUES (?, ?, ?, 1, 2)`);
    add.run(ids[0]!.orderId, 'auth-0', 'AUTHORIZED');
    add.run(ids[1]!.orderId, null, 'DECLINED');
    const rows = old.db.prepare('SELECT * FROM payments ORDER BY order_id').all();
    expect(btreesOf(old.db, 'payments')).toContain('payments_status');
    await old.close();

    const store = open(path, paymentMigrations);
    expect(store.db.prepare('SELECT * FROM payments ORDER BY order_id').all()).toEqual(rows);
    expect(btreesOf(store.db, 'payments')).toEqual(['payments', 'sqlite_autoindex_payments_1']);
    expect(authorizationStates(store.db)).toEqual(new Map([[ids[0]!.orderId, 'AUTHORIZED'], [ids[1]!.orderId, 'DECLINED']]));
    expect(planOf(store.db, 'UPDATE payments SET status = ? WHERE order_id = ?', 'x', 'y')).toMatch(/SEARCH payments USING INDEX sqlite_autoindex_payments_1 \(order_id=\?\)/);
    await store.close();
  });
});

describe('a checkpoint image made before the migration', () => {
  /**
   * An old inventory store with a journal: records an hour old (covered by the checkpoint and the
   * relay's watermark, so the image leaves them out) and one recent.
   */
  async function oldInventoryWithJournal(path: string, clock: ManualClock): Promise<{ store: Store; journal: Journal; rows: ReturnType<typeof rowsOf> }> {
    const store = oldInventory(path);
    const journal = Journal.of(store, { clock, checkpointEvery: 1_000_000, checkpointMs: 3_600_000 });
    const append = (i: number) =>
      store.write(() =>
        journal.append({ kind: 'reservation', id: `r${i}`, seq: 1, at: clock.now(), event: { type: 'e' }, snapshot: { value: 'x', context: {}, status: 'active' }, version: '1' }, undefined),
      );
    for (let i = 0; i < 20; i++) await append(i);
    await journal.checkpointIfDirty();
    store.db.prepare(`INSERT INTO meta (key, value) VALUES ('relay_watermark', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(String(journal.head - 1));
    clock.advance(3_600_000);
    await append(20);
    return { store, journal, rows: rowsOf(store.db, INVENTORY) };
  }

  for (const [name, make] of [['with the recent journal only', checkpointImage], ['as the whole file', fullImage]] as const) {
    it(`opens converted, ${name}`, async () => {
      const clock = new ManualClock(Date.now());
      const { store, journal, rows } = await oldInventoryWithJournal(freshPath('inventory.db'), clock);
      const image = make(journal);
      await store.close();
      const path = freshPath('inventory.db');
      writeFileSync(path, image);
      const opened = open(path, inventoryMigrations);
      // The image without the history was made by copying rows into a new schema, not the file's pages.
      const records = opened.db.prepare('SELECT count(*) FROM journal').pluck().get() as number;
      if (name === 'as the whole file') expect(records).toBe(21);
      else expect(records).toBeLessThan(5);
      expect(opened.db.prepare('SELECT max(version) FROM schema_migrations').pluck().get()).toBe(102);
      expectInventoryConverted(opened.db, rows);
      await opened.close();
    });
  }
});

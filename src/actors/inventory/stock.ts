/**
 * Stock levels and the reservation index, in SQL. Every movement keeps, per product,
 * `available + reserved + consumed` equal to the seeded stock. The movements are guarded in the
 * WHERE clause as well as by the CHECK constraints: a movement that would go negative means the
 * machine was handed stale facts, and throwing rolls the whole delivery back rather than
 * half-applying it.
 */
import type { LineItem } from '../../contracts/index.ts';
import type { Seed } from '../seed/seed.ts';
import type { Db } from '../../runtime/store.ts';

export interface StockLevel {
  productId: string;
  available: number;
  reserved: number;
  consumed: number;
}

export type ReservationStatus = 'HELD' | 'RELEASED' | 'CONSUMED';

function statementsFor(db: Db) {
  return {
    count: db.prepare('SELECT COUNT(*) FROM stock').pluck(),
    insert: db.prepare(
      'INSERT INTO stock (product_id, available, reserved, consumed, updated_at) VALUES (?, ?, 0, 0, ?)',
    ),
    one: db.prepare(
      'SELECT product_id AS productId, available, reserved, consumed FROM stock WHERE product_id = ?',
    ),
    all: db.prepare(
      'SELECT product_id AS productId, available, reserved, consumed FROM stock ORDER BY product_id',
    ),
    hold: db.prepare(`UPDATE stock SET available = available - @q, reserved = reserved + @q, updated_at = @now
      WHERE product_id = @productId AND available >= @q`),
    unhold:
      db.prepare(`UPDATE stock SET available = available + @q, reserved = reserved - @q, updated_at = @now
      WHERE product_id = @productId AND reserved >= @q`),
    consume:
      db.prepare(`UPDATE stock SET reserved = reserved - @q, consumed = consumed + @q, updated_at = @now
      WHERE product_id = @productId AND reserved >= @q`),
    indexReservation:
      db.prepare(`INSERT INTO reservations (reservation_id, order_id, cart_id, status, created_at, updated_at)
      VALUES (?, ?, ?, 'HELD', ?, ?)`),
    indexItem: db.prepare(
      'INSERT INTO reservation_items (reservation_id, product_id, quantity) VALUES (?, ?, ?)',
    ),
    setStatus: db.prepare('UPDATE reservations SET status = ?, updated_at = ? WHERE reservation_id = ?'),
    insertHold: db.prepare(
      `INSERT INTO stock_holds (reservation_id, product_id, quantity, status, updated_at) VALUES (?, ?, ?, 'HELD', ?)`,
    ),
    setHoldStatus: db.prepare('UPDATE stock_holds SET status = ?, updated_at = ? WHERE reservation_id = ?'),
    byOrder: db
      .prepare(
        `SELECT reservation_id FROM reservations WHERE order_id = ? AND status = 'HELD' ORDER BY created_at`,
      )
      .pluck(),
  };
}

type Statements = ReturnType<typeof statementsFor>;
const cache = new WeakMap<Db, Statements>();

function stmts(db: Db): Statements {
  let s = cache.get(db);
  if (!s) {
    s = statementsFor(db);
    cache.set(db, s);
  }
  return s;
}

/**
 * Loads the seed's stock into an empty table; a table that has rows is left alone. A partition of
 * a partitioned inventory loads only the products it `owns`.
 */
export function seedStock(db: Db, seed: Seed, now: number, owns: (productId: string) => boolean = () => true): number {
  const s = stmts(db);
  if ((s.count.get() as number) > 0) return 0;
  const mine = seed.products.filter((p) => owns(p.productId));
  for (const p of mine) s.insert.run(p.productId, p.stock, now);
  return mine.length;
}

export function stockLevel(db: Db, productId: string): StockLevel | undefined {
  return stmts(db).one.get(productId) as StockLevel | undefined;
}

/** Every product's levels, for invariant checks: `available + reserved + consumed` is constant. */
export function stockLevels(db: Db): StockLevel[] {
  return stmts(db).all.all() as StockLevel[];
}

/** Units available per product; a product the table does not know is simply absent. */
export function availableFor(db: Db, items: readonly LineItem[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { productId } of items) {
    if (productId in out) continue;
    const row = stockLevel(db, productId);
    if (row) out[productId] = row.available;
  }
  return out;
}

type Movement = 'hold' | 'unhold' | 'consume';

function move(db: Db, movement: Movement, items: readonly LineItem[], now: number): void {
  const st = stmts(db)[movement];
  for (const i of items) {
    const r = st.run({ productId: i.productId, q: i.quantity, now });
    if (r.changes !== 1)
      throw new Error(`stock ${movement} of ${i.quantity} x ${i.productId} would go negative`);
  }
}

/** available -= q, reserved += q; and the reservation enters the index as HELD. */
export function holdStock(
  db: Db,
  r: { reservationId: string; orderId: string | null; cartId: string | null; items: readonly LineItem[] },
  now: number,
): void {
  move(db, 'hold', r.items, now);
  const s = stmts(db);
  s.indexReservation.run(r.reservationId, r.orderId, r.cartId, now, now);
  for (const i of r.items) s.indexItem.run(r.reservationId, i.productId, i.quantity);
}

/** The reverse of a hold. */
export function returnStock(db: Db, reservationId: string, items: readonly LineItem[], now: number): void {
  move(db, 'unhold', items, now);
  stmts(db).setStatus.run('RELEASED', now, reservationId);
}

/** reserved -= q, consumed += q: the goods left with the order. */
export function consumeStock(db: Db, reservationId: string, items: readonly LineItem[], now: number): void {
  move(db, 'consume', items, now);
  stmts(db).setStatus.run('CONSUMED', now, reservationId);
}

/**
 * A partitioned inventory's reservation enters the index of its own partition as HELD, with its
 * lines, without moving stock: the holds in the products' partitions did ({@link holdInPartition}).
 */
export function indexReservation(
  db: Db,
  r: { reservationId: string; orderId: string | null; cartId: string | null; items: readonly LineItem[] },
  now: number,
): void {
  const s = stmts(db);
  s.indexReservation.run(r.reservationId, r.orderId, r.cartId, now, now);
  for (const i of r.items) s.indexItem.run(r.reservationId, i.productId, i.quantity);
}

export function setReservationStatus(db: Db, reservationId: string, status: ReservationStatus, now: number): void {
  stmts(db).setStatus.run(status, now, reservationId);
}

/** A partition's hold of a reservation's lines: available -= q, reserved += q, one stock_holds row per product. */
export function holdInPartition(db: Db, reservationId: string, items: readonly LineItem[], now: number): void {
  move(db, 'hold', items, now);
  const s = stmts(db);
  for (const i of items) s.insertHold.run(reservationId, i.productId, i.quantity, now);
}

/** The reverse of a partition's hold. */
export function returnHold(db: Db, reservationId: string, items: readonly LineItem[], now: number): void {
  move(db, 'unhold', items, now);
  stmts(db).setHoldStatus.run('RELEASED', now, reservationId);
}

/** A partition's hold leaves with its order: reserved -= q, consumed += q. */
export function consumeHold(db: Db, reservationId: string, items: readonly LineItem[], now: number): void {
  move(db, 'consume', items, now);
  stmts(db).setHoldStatus.run('CONSUMED', now, reservationId);
}

/** The reservations still held for an order (normally one). */
export function heldReservationsOf(db: Db, orderId: string): string[] {
  return stmts(db).byOrder.all(orderId) as string[];
}

/**
 * The Order Service's index of orders by number: a time-ordered order id's number is stored with
 * it; an order indexed before numbers were stored (migration 101) is found by its id's prefix. And
 * by customer (migration 102): an entry written once per order, whose later changes leave it where
 * it is; a customer's list is still the most recently changed first.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { orderIdsByNumber, orderMigrations, ordersOfCustomer } from '../../src/actors/order/schema.ts';
import { orderNumberHexOf, orderNumberOf } from '../../src/contracts/order-number.ts';
import { checkoutIdsFor } from '../../src/runtime/ids.ts';
import { Store } from '../../src/runtime/store.ts';
import { v7At } from '../support/v7.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A new order store with the migrations before `version` applied. */
function storeBefore(version: number): { path: string; before: Store } {
  const dir = mkdtempSync(join(tmpdir(), 'order-index-'));
  dirs.push(dir);
  const path = join(dir, 'order.db');
  return { path, before: new Store({ path, migrations: orderMigrations.filter((m) => m.version < version), synchronous: 'NORMAL' }) };
}

const insert = (store: Store, orderId: string, number: string | null) =>
  store.db.prepare(`INSERT INTO order_index (order_id, customer_id, status, updated_at, number) VALUES (?, 'c', 'CREATED', 1, ?)`).run(orderId, number);

describe('the order index by number', () => {
  it('finds a time-ordered order by its stored number, and an order from before numbers were stored by its id', async () => {
    // A store as it was before order numbers were stored, with an order in it.
    const { path, before } = storeBefore(101);
    const old = checkoutIdsFor('0b7f3c2e-9a41-4d6b-8e25-3f1a7c9d2e41').orderId;
    before.db.prepare(`INSERT INTO order_index (order_id, customer_id, status, updated_at) VALUES (?, 'c', 'CREATED', 1)`).run(old);
    await before.close();

    const store = new Store({ path, migrations: orderMigrations, synchronous: 'NORMAL' });
    const fresh = checkoutIdsFor(v7At()).orderId;
    const v5 = checkoutIdsFor('0b7f3c2e-9a41-4d6b-8e25-3f1a7c9d2e42').orderId;
    insert(store, fresh, orderNumberHexOf(fresh));
    insert(store, v5, orderNumberHexOf(v5));
    const byNumber = orderIdsByNumber(store.db);
    expect(byNumber(orderNumberOf(fresh))).toEqual([fresh]);
    expect(byNumber(orderNumberOf(v5))).toEqual([v5]);
    expect(byNumber(orderNumberOf(old))).toEqual([old]);
    expect(byNumber(orderNumberOf(old).toLowerCase().replace('acme-', ''))).toEqual([old]);
    expect(byNumber('ACME-ZZZZ-ZZZZ')).toEqual([]);
    expect(byNumber('not a number')).toEqual([]);
    const plan = store.db.prepare('EXPLAIN QUERY PLAN SELECT order_id FROM order_index WHERE number = ?').all('x') as { detail: string }[];
    expect(plan.map((p) => p.detail).join(' ')).toContain('order_index_number');
    await store.close();
  });
});

describe('the order index by customer', () => {
  it('opens a store indexed by customer and change time, lists most recently changed first, and indexes the customer alone', async () => {
    const { path, before } = storeBefore(102);
    const ids = [0, 1, 2].map((i) => checkoutIdsFor(`0b7f3c2e-9a41-4d6b-8e25-3f1a7c9d2e5${i}`).orderId);
    const add = before.db.prepare(`INSERT INTO order_index (order_id, customer_id, status, updated_at, number) VALUES (?, ?, 'CREATED', ?, NULL)`);
    add.run(ids[0], 'c1', 1);
    add.run(ids[1], 'c1', 2);
    add.run(ids[2], 'c2', 3);
    await before.close();

    const store = new Store({ path, migrations: orderMigrations, synchronous: 'NORMAL' });
    const indexes = store.db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'order_index' AND sql IS NOT NULL ORDER BY name`).pluck().all();
    expect(indexes).toEqual(['order_index_by_customer', 'order_index_number']);
    const byCustomer = ordersOfCustomer(store.db);
    expect(byCustomer('c1')).toEqual([ids[1], ids[0]]);
    // The index holds the customer alone, so a change of status and time does not touch it.
    expect(store.db.prepare(`SELECT name FROM pragma_index_info('order_index_by_customer')`).pluck().all()).toEqual(['customer_id']);
    // The first order completes later: it comes first.
    store.db.prepare(`UPDATE order_index SET status = 'COMPLETED', updated_at = 4 WHERE order_id = ?`).run(ids[0]);
    expect(byCustomer('c1')).toEqual([ids[0], ids[1]]);
    expect(byCustomer('c2')).toEqual([ids[2]]);
    const plan = store.db.prepare('EXPLAIN QUERY PLAN SELECT order_id FROM order_index WHERE customer_id = ? ORDER BY updated_at DESC LIMIT 100').all('c1') as { detail: string }[];
    expect(plan.map((p) => p.detail).join(' ')).toContain('order_index_by_customer');
    await store.close();
  });
});

/**
 * The Order Service's index of orders by number: a time-ordered order id's number is stored with
 * it; an order indexed before numbers were stored (migration 101) is found by its id's prefix.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { orderIdsByNumber, orderMigrations } from '../../src/actors/order/schema.ts';
import { orderNumberHexOf, orderNumberOf } from '../../src/contracts/order-number.ts';
import { checkoutIdsFor } from '../../src/runtime/ids.ts';
import { Store } from '../../src/runtime/store.ts';
import { v7At } from '../support/v7.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const insert = (store: Store, orderId: string, number: string | null) =>
  store.db.prepare(`INSERT INTO order_index (order_id, customer_id, status, updated_at, number) VALUES (?, 'c', 'CREATED', 1, ?)`).run(orderId, number);

describe('the order index by number', () => {
  it('finds a time-ordered order by its stored number, and an order from before numbers were stored by its id', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'order-index-'));
    dirs.push(dir);
    const path = join(dir, 'order.db');
    // A store as it was before order numbers were stored, with an order in it.
    const before = new Store({ path, migrations: orderMigrations.filter((m) => m.version < 101), synchronous: 'NORMAL' });
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

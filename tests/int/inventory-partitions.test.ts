/**
 * A partitioned Inventory Service (PARTITIONS_INVENTORY=2) over a real nats-server, each partition
 * a slot with its own SQLite store: stock by product, a reservation a saga of holds across the
 * products' partitions. Concurrent reservations of overlapping products never oversell, each is
 * all or nothing, stock is conserved in every partition, releases give everything back, a repeat
 * is answered from state, stock levels answer for every product, and checkouts run through it.
 */
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { GetStockLevelResponse, InventoryReleased, InventoryReserved, InventoryUnavailable, MessageType } from '../../src/contracts/index.ts';
import { Command, partitionOf, Query } from '../../src/contracts/subjects.ts';
import { productIdFor, type Seed, type SeedProduct } from '../../src/actors/seed/seed.ts';
import { ServiceClient } from '../../src/runtime/client.ts';
import { systemClock } from '../../src/runtime/clock.ts';
import { isTransient } from '../../src/runtime/transport/errors.ts';
import { startTestSystem, type TestSystem } from '../support/system-fixture.ts';
import { eventually } from '../support/waiting.ts';

const P = 2;
const product = (sku: string, stock: number): SeedProduct => ({ productId: productIdFor(sku), sku, name: sku, unitPrice: 100, currency: 'USD', stock });
/** Six scarce products, at least two in each partition (checked below). */
const products = ['ANVIL', 'MAGNET', 'ROPE', 'ROCKET', 'SKATES', 'GLUE', 'SPRING', 'TNT'].map((sku, i) => product(`PART-${sku}`, 4 + (i % 3)));
const seed: Seed = { products, promotions: [] };
const initial = new Map(products.map((p) => [p.productId, p.stock]));
const partitionOfProduct = (productId: string) => partitionOf(productId.toLowerCase(), P);

interface Row {
  product_id: string;
  available: number;
  reserved: number;
  consumed: number;
}

describe('a partitioned inventory (PARTITIONS_INVENTORY=2, real nats-server)', () => {
  let t: TestSystem;
  let client: ServiceClient;
  let gateway: ServiceClient;

  beforeAll(async () => {
    t = await startTestSystem('nats', (c) => {
      c.partitions = { ...c.partitions, inventory: P };
      c.seed = seed;
    });
    // The saga's side: requests routed to the partition owning their key.
    client = new ServiceClient(await t.system.transportFor('checkout'), 'urn:test:saga', systemClock, t.config.partitions);
    gateway = new ServiceClient(await t.system.transportFor('gateway'), 'urn:test:gateway', systemClock, t.config.partitions);
    await eventually(() => expect([...t.system.slotRuntimes('inventory').keys()].sort()).toEqual([0, 1]), 15_000);
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
  });

  /** Every partition's store, read-only: its stock rows and its held lines per product. */
  const partitionStores = () =>
    Array.from({ length: P }, (_, k) => {
      const db = new Database(join(t.dataDir, `inventory-slot-${k}.db`), { readonly: true, fileMustExist: true });
      try {
        const stock = db.prepare('SELECT product_id, available, reserved, consumed FROM stock').all() as Row[];
        const held = new Map((db.prepare(`SELECT product_id, SUM(quantity) AS q FROM stock_holds WHERE status = 'HELD' GROUP BY product_id`).all() as { product_id: string; q: number }[]).map((r) => [r.product_id, r.q]));
        return { k, stock, held };
      } finally {
        db.close();
      }
    });

  /** Stock conserved in each partition, each product in its own partition only, reserved = what its holds hold. */
  const expectConserved = () => {
    const seen = new Set<string>();
    for (const { k, stock, held } of partitionStores()) {
      for (const s of stock) {
        expect(partitionOfProduct(s.product_id), `${s.product_id} in partition ${k}`).toBe(k);
        expect(s.available + s.reserved + s.consumed).toBe(initial.get(s.product_id));
        expect(s.reserved).toBe(held.get(s.product_id) ?? 0);
        seen.add(s.product_id);
      }
    }
    expect(seen.size).toBe(products.length);
  };

  /** Like the saga's relay: the same key until a reply that is not transient. */
  const reserve = async (reservationId: string, items: { productId: string; quantity: number }[]) => {
    for (;;) {
      try {
        const r = await client.call(Command.reserveInventory, MessageType.reserveInventory, { cartId: randomUUID(), reservationId, items }, z.unknown(), { timeoutMs: 5_000, idempotencyKey: `${reservationId}:reserve-inventory` });
        if (r.meta?.type === MessageType.inventoryReserved) return { reserved: true as const, body: InventoryReserved.parse(r.payload) };
        if (r.meta?.type === MessageType.inventoryUnavailable) return { reserved: false as const, body: InventoryUnavailable.parse(r.payload) };
        throw new Error(`unexpected reply ${r.meta?.type}`);
      } catch (err) {
        if (!isTransient(err)) throw err;
      }
    }
  };
  const release = async (reservationId: string) => {
    for (;;) {
      try {
        return (await client.call(Command.releaseInventory, MessageType.releaseInventory, { reservationId, reason: 'CHECKOUT_FAILED' }, InventoryReleased, { timeoutMs: 5_000, idempotencyKey: `${reservationId}:release-inventory` })).payload;
      } catch (err) {
        if (!isTransient(err)) throw err;
      }
    }
  };
  const quiet = async () => {
    // Releases and tombstones travel after the replies: wait until no hold is left in flight.
    for (const rt of t.system.slotRuntimes('inventory').values()) await eventually(() => expect(rt.relay.backlog()).toBe(0), 15_000);
  };

  it('spreads the products over both partitions, and answers every stock level with the seeded stock', async () => {
    const counts = [0, 0];
    for (const p of products) counts[partitionOfProduct(p.productId)]!++;
    expect(counts.every((n) => n >= 2)).toBe(true);
    for (const p of products) {
      const level = await gateway.call(Query.getStockLevel, MessageType.getStockLevelRequest, { productId: p.productId }, GetStockLevelResponse, { timeoutMs: 5_000 });
      expect(level.payload).toEqual({ productId: p.productId, available: p.stock, reserved: 0 });
    }
  });

  it('never oversells under concurrent reservations of overlapping products, holds all or nothing, and releases give it all back', async () => {
    // 60 reservations of 2-3 products each, across partitions, all at once: far more than the stock.
    let rnd = 7;
    const next = () => (rnd = (rnd * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
    const asks = Array.from({ length: 60 }, () => {
      const picked = new Set<string>();
      while (picked.size < 2 + Math.floor(next() * 2)) picked.add(products[Math.floor(next() * products.length)]!.productId);
      return { reservationId: randomUUID(), items: [...picked].map((productId) => ({ productId, quantity: 1 + Math.floor(next() * 2) })) };
    });
    const outcomes = await Promise.all(asks.map((a) => reserve(a.reservationId, a.items)));
    const won = asks.filter((_, i) => outcomes[i]!.reserved);
    expect(won.length).toBeGreaterThan(0);
    expect(won.length).toBeLessThan(asks.length);
    for (const [i, o] of outcomes.entries()) {
      if (o.reserved) expect(o.body.items).toEqual(asks[i]!.items);
      else expect(o.body.unavailableItems.length).toBeGreaterThan(0);
    }
    await quiet();
    // What the winners hold is exactly what is reserved: the refused hold nothing anywhere.
    const wanted = new Map<string, number>();
    for (const a of won) for (const i of a.items) wanted.set(i.productId, (wanted.get(i.productId) ?? 0) + i.quantity);
    for (const { stock } of partitionStores()) for (const s of stock) expect(s.reserved, s.product_id).toBe(wanted.get(s.product_id) ?? 0);
    expectConserved();

    // A repeat is answered from state, changing nothing; so is a late one of a refused reservation.
    const first = asks.findIndex((_, i) => outcomes[i]!.reserved);
    const lost = asks.findIndex((_, i) => !outcomes[i]!.reserved);
    expect((await reserve(asks[first]!.reservationId, asks[first]!.items)).reserved).toBe(true);
    expect((await reserve(asks[lost]!.reservationId, asks[lost]!.items)).reserved).toBe(false);

    for (const a of won) expect((await release(a.reservationId)).reservationId).toBe(a.reservationId);
    await quiet();
    for (const { stock } of partitionStores()) for (const s of stock) expect(s).toMatchObject({ available: initial.get(s.product_id), reserved: 0 });
    expectConserved();
  }, 120_000);

  it('leaves a tombstone for a release before the reserve: the late reserve holds nothing', async () => {
    const reservationId = randomUUID();
    await release(reservationId);
    const late = await reserve(reservationId, [{ productId: products[0]!.productId, quantity: 1 }, { productId: products[1]!.productId, quantity: 1 }]);
    expect(late.reserved).toBe(false);
    await quiet();
    expectConserved();
    for (const { stock } of partitionStores()) for (const s of stock) expect(s.reserved).toBe(0);
  });

  it('runs checkouts through it: confirmed ones consume their holds in both partitions when completed', async () => {
    const [a, b] = [products.find((p) => partitionOfProduct(p.productId) === 0)!, products.find((p) => partitionOfProduct(p.productId) === 1)!];
    const cart = await t.shopper.buy(randomUUID(), [[a.productId, 1], [b.productId, 1]]);
    const status = await t.shopper.settle(cart.checkoutId);
    expect(status.status).toBe('CONFIRMED');
    await t.shopper.completeOrder(cart.orderId);
    await quiet();
    await eventually(() => {
      const consumed = new Map(partitionStores().flatMap((s) => s.stock.map((r) => [r.product_id, r.consumed] as const)));
      expect(consumed.get(a.productId)).toBe(1);
      expect(consumed.get(b.productId)).toBe(1);
    }, 15_000);
    expectConserved();
  }, 60_000);
});

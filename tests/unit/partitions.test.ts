/**
 * Routing to partitions (src/contracts/subjects.ts): the sender and the partition agree on who owns
 * a key, one partition changes no subject, and ids derived for a partition land in it.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { reopenedCartId } from '../../src/actors/cart/definition.ts';
import { configFromEnv } from '../../src/config.ts';
import { ConfigError } from '../../src/env.ts';
import { holdParts } from '../../src/actors/inventory/partitioned-service.ts';
import {
  Command,
  gatherSubjects,
  InventoryInternalCommand,
  partitionDurable,
  partitionOf,
  Query,
  routeTo,
  servedSubject,
} from '../../src/contracts/subjects.ts';

describe('partition routing', () => {
  it('is FNV-1a of the key modulo the count: stable values, and every partition gets a share', () => {
    // FNV-1a 32 of "a" is 0xe40c292c; of "" the offset basis 0x811c9dc5.
    expect(partitionOf('a', 1_000_003)).toBe(0xe40c292c % 1_000_003);
    expect(partitionOf('', 7)).toBe(0x811c9dc5 % 7);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4_000; i++) counts[partitionOf(randomUUID(), 4)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(850);
  });

  it('with one partition every subject stays the plain one', () => {
    const orderId = randomUUID();
    expect(routeTo(Command.createOrder, { orderId }, {})).toBe(Command.createOrder);
    expect(routeTo(Command.createOrder, { orderId }, { order: 1 })).toBe(Command.createOrder);
    expect(servedSubject(Command.createOrder, 0, 1)).toBe(Command.createOrder);
    expect(gatherSubjects(Query.listCustomerOrders, {})).toEqual([Query.listCustomerOrders]);
    expect(partitionDurable('payment-order-cancelled', 0, 1)).toBe('payment-order-cancelled');
  });

  it('sends a keyed request to the subject its owning partition answers', () => {
    const partitions = { order: 4, payment: 4, cart: 3 };
    for (let i = 0; i < 50; i++) {
      const orderId = randomUUID();
      const cartId = randomUUID();
      const k = partitionOf(orderId, 4);
      expect(routeTo(Command.createOrder, { orderId, cartId }, partitions)).toBe(servedSubject(Command.createOrder, k, 4));
      // An order and its authorization share the key, so their partition numbers agree.
      expect(routeTo(Command.authorizePayment, { orderId, cartId }, partitions)).toBe(`${Command.authorizePayment}.${k}`);
      expect(routeTo(Query.getCart, { cartId }, partitions)).toBe(`${Query.getCart}.${partitionOf(cartId, 3)}`);
    }
    // Keys are routed case-insensitively (a UUID is one id however it is spelled).
    const id = randomUUID();
    expect(routeTo(Query.getOrder, { orderId: id.toUpperCase() }, partitions)).toBe(routeTo(Query.getOrder, { orderId: id }, partitions));
    // Unkeyed subjects, and services that are not partitioned, keep the plain subject.
    expect(routeTo(Query.listProducts, {}, partitions)).toBe(Query.listProducts);
    expect(routeTo(Command.reserveInventory, { reservationId: id }, partitions)).toBe(Command.reserveInventory);
    expect(servedSubject(Query.listProducts, 2, 3)).toBe(Query.listProducts);
    // A gathered query is asked of every partition.
    expect(gatherSubjects(Query.findOrdersByNumber, partitions)).toEqual([0, 1, 2, 3].map((k) => `${Query.findOrdersByNumber}.${k}`));
    expect(() => routeTo(Command.createOrder, { cartId: id }, partitions)).toThrow(/entity key/);
  });

  it("routes inventory by reservation, product and a hold's first line, and groups a reservation's lines by their product's partition", () => {
    const partitions = { inventory: 3 };
    for (let i = 0; i < 30; i++) {
      const reservationId = randomUUID();
      const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
      const k = partitionOf(reservationId, 3);
      expect(routeTo(Command.reserveInventory, { reservationId, cartId: randomUUID(), items: [] }, partitions)).toBe(`${Command.reserveInventory}.${k}`);
      expect(routeTo(Command.releaseInventory, { reservationId }, partitions)).toBe(`${Command.releaseInventory}.${k}`);
      expect(routeTo(Query.getStockLevel, { productId: a }, partitions)).toBe(`${Query.getStockLevel}.${partitionOf(a, 3)}`);
      const parts = holdParts([{ productId: a, quantity: 1 }, { productId: b, quantity: 2 }, { productId: a, quantity: 1 }, { productId: c, quantity: 1 }], 3);
      expect(parts.map((p) => p.partition)).toEqual([...new Set([a, b, c].map((p) => partitionOf(p, 3)))].sort());
      for (const part of parts) {
        for (const line of part.items) expect(partitionOf(line.productId, 3)).toBe(part.partition);
        const hold = { reservationId, items: part.items };
        for (const subject of Object.values(InventoryInternalCommand)) expect(routeTo(subject, hold, partitions)).toBe(`${subject}.${part.partition}`);
      }
      expect(parts.flatMap((p) => p.items).find((l) => l.productId === a)?.quantity).toBe(2);
    }
    // The saga always names the reservation; without it a partitioned inventory cannot be reached.
    expect(() => routeTo(Command.reserveInventory, { cartId: randomUUID() }, partitions)).toThrow(/entity key/);
    expect(routeTo(Command.reserveInventory, { cartId: randomUUID() }, { inventory: 1 })).toBe(Command.reserveInventory);
  });

  it("derives a reopened cart in the old cart's partition, and the same id as ever with one partition", () => {
    for (let i = 0; i < 50; i++) {
      const cartId = randomUUID();
      expect(reopenedCartId(cartId, 1)).toBe(reopenedCartId(cartId));
      for (const p of [2, 4, 8]) {
        const id = reopenedCartId(cartId, p);
        expect(partitionOf(id, p)).toBe(partitionOf(cartId, p));
        expect(reopenedCartId(cartId, p)).toBe(id);
      }
    }
  });

  it('reads PARTITIONS and per-service overrides, and refuses them embedded', () => {
    const nats = { NATS_URL: 'nats://127.0.0.1:4222' };
    expect(configFromEnv({}).partitions).toEqual({ cart: 1, promotion: 1, payment: 1, order: 1, inventory: 1 });
    // Inventory only by its own variable: a partitioned inventory makes every reservation a saga of holds.
    expect(configFromEnv({ ...nats, PARTITIONS: '4', PARTITIONS_CART: '2' }).partitions).toEqual({ cart: 2, promotion: 4, payment: 4, order: 4, inventory: 1 });
    expect(configFromEnv({ ...nats, PARTITIONS_INVENTORY: '3' }).partitions).toMatchObject({ cart: 1, inventory: 3 });
    expect(() => configFromEnv({ PARTITIONS: '2' })).toThrow(ConfigError);
    expect(() => configFromEnv({ PARTITIONS_INVENTORY: '2' })).toThrow(ConfigError);
    expect(() => configFromEnv({ ...nats, PARTITIONS: '9' })).toThrow(/at most 8/);
  });
});

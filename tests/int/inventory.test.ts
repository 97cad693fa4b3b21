import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  GetStockLevelResponse,
  InventoryReleased,
  InventoryReserved,
  InventoryUnavailable,
  MessageType,
} from '../../src/contracts/index.ts';
import { Command, Event, Query } from '../../src/contracts/subjects.ts';
import { serviceSources } from '../../src/registry.ts';
import {
  inventoryMigrations,
  startInventoryService,
  stockLevels,
} from '../../src/actors/inventory/service.ts';
import { productIdFor, type Seed, type SeedProduct } from '../../src/actors/seed/seed.ts';
import { ServiceClient } from '../../src/runtime/client.ts';
import { systemClock } from '../../src/runtime/clock.ts';
import { checkoutIdsFor, newId } from '../../src/runtime/ids.ts';
import { ServiceRuntime } from '../../src/runtime/service.ts';
import { Store } from '../../src/runtime/store.ts';
import { RemoteError } from '../../src/runtime/transport/errors.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import type { Message } from '../../src/runtime/transport/transport.ts';
import { eventually, publishEvent } from '../support/waiting.ts';

const product = (sku: string, stock: number): SeedProduct => ({
  productId: productIdFor(sku),
  sku,
  name: sku,
  unitPrice: 100,
  currency: 'USD',
  stock,
});

const SCARCE = productIdFor('TEST-SCARCE');
const PLENTY = productIdFor('TEST-PLENTY');
const LAST = productIdFor('TEST-LAST');
const UNKNOWN = productIdFor('TEST-NOT-IN-STOCK');
const seed: Seed = {
  products: [product('TEST-SCARCE', 5), product('TEST-PLENTY', 1_000), product('TEST-LAST', 1)],
  promotions: [],
};
const initial = new Map(seed.products.map((p) => [p.productId, p.stock]));

interface World {
  dir: string;
  transport: InProcessTransport;
  rt: ServiceRuntime;
  client: ServiceClient;
  published: Message[];
}

async function open(dir: string, withSeed: Seed = seed): Promise<World> {
  const transport = new InProcessTransport({ path: join(dir, 'bus.db') });
  const store = new Store({ path: join(dir, 'inventory.db'), migrations: inventoryMigrations });
  const rt = new ServiceRuntime({ service: 'inventory', source: serviceSources.inventory, store, transport });
  await startInventoryService(rt, { seed: withSeed });
  await rt.start();
  const published: Message[] = [];
  await transport.subscribeAll('fulfilment.evt.>', (m) => published.push(m));
  return { dir, transport, rt, client: new ServiceClient(transport, 'urn:test', systemClock), published };
}

async function close(w: World): Promise<void> {
  await w.rt.stop();
  await w.transport.drain();
}

type ReserveOutcome =
  | { type: 'inventory-reserved'; body: InventoryReserved }
  | { type: 'inventory-unavailable'; body: InventoryUnavailable };

async function reserve(w: World, payload: object, idempotencyKey: string = newId()): Promise<ReserveOutcome> {
  const r = await w.client.call(
    Command.reserveInventory,
    MessageType.reserveInventory,
    payload,
    z.unknown(),
    {
      timeoutMs: 10_000,
      idempotencyKey,
    },
  );
  if (r.meta?.type === MessageType.inventoryReserved)
    return { type: 'inventory-reserved', body: InventoryReserved.parse(r.payload) };
  if (r.meta?.type === MessageType.inventoryUnavailable) {
    return { type: 'inventory-unavailable', body: InventoryUnavailable.parse(r.payload) };
  }
  throw new Error(`unexpected reply type ${r.meta?.type}`);
}

async function release(
  w: World,
  reservationId: string,
  idempotencyKey: string = newId(),
): Promise<InventoryReleased> {
  const r = await w.client.call(
    Command.releaseInventory,
    MessageType.releaseInventory,
    { reservationId, reason: 'CHECKOUT_FAILED' },
    InventoryReleased,
    { timeoutMs: 10_000, idempotencyKey },
  );
  expect(r.meta?.type).toBe(MessageType.inventoryReleased);
  return r.payload;
}

async function stockOf(w: World, productId: string): Promise<GetStockLevelResponse> {
  const r = await w.client.call(
    Query.getStockLevel,
    MessageType.getStockLevelRequest,
    { productId },
    GetStockLevelResponse,
    {
      timeoutMs: 10_000,
    },
  );
  return r.payload;
}

async function failure(p: Promise<unknown>): Promise<RemoteError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RemoteError);
  return err as RemoteError;
}

/** Seeded stock is conserved, and `reserved` is exactly what held reservations hold. */
function expectInvariants(w: World): void {
  const levels = stockLevels(w.rt.store.db);
  const held = new Map(
    (
      w.rt.store.db
        .prepare(
          `SELECT i.product_id AS productId, SUM(i.quantity) AS q FROM reservation_items i
           JOIN reservations r USING (reservation_id) WHERE r.status = 'HELD' GROUP BY i.product_id`,
        )
        .all() as { productId: string; q: number }[]
    ).map((r) => [r.productId, r.q]),
  );
  for (const l of levels) {
    expect(l.available + l.reserved + l.consumed).toBe(initial.get(l.productId));
    expect(l.reserved).toBe(held.get(l.productId) ?? 0);
  }
}

const level = (w: World, productId: string) =>
  stockLevels(w.rt.store.db).find((l) => l.productId === productId);

const cart = () => newId();
const request = (cartId: string, items: { productId: string; quantity: number }[], extra: object = {}) => ({
  cartId,
  items,
  ...extra,
});

describe('inventory', () => {
  let dir: string;
  let w: World;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'inventory-'));
    w = await open(dir);
  });

  afterEach(async () => {
    if (!w.rt.store.closed) expectInvariants(w);
    await close(w);
    await rm(dir, { recursive: true, force: true });
  });

  describe('when every item is in stock', () => {
    it('holds them all, replies inventory-reserved and publishes it', async () => {
      const cartId = cart();
      const ids = checkoutIdsFor(cartId);
      const r = await reserve(
        w,
        request(cartId, [
          { productId: SCARCE, quantity: 2 },
          { productId: PLENTY, quantity: 3 },
        ]),
      );

      expect(r.type).toBe('inventory-reserved');
      expect(r.body).toMatchObject({ reservationId: ids.reservationId, orderId: ids.orderId, cartId });
      expect(await stockOf(w, SCARCE)).toEqual({ productId: SCARCE, available: 3, reserved: 2 });
      expect(await stockOf(w, PLENTY)).toEqual({ productId: PLENTY, available: 997, reserved: 3 });
      await eventually(() => expect(w.published.map((m) => m.subject)).toEqual([Event.inventoryReserved]));
    });

    it('uses the reservationId and orderId the orchestrator sends', async () => {
      const reservationId = newId();
      const orderId = newId();
      const r = await reserve(
        w,
        request(cart(), [{ productId: PLENTY, quantity: 1 }], { reservationId, orderId }),
      );
      expect(r.body).toMatchObject({ reservationId, orderId });
    });
  });

  describe('when one item of several is short', () => {
    it('holds nothing at all and names what is missing', async () => {
      const r = await reserve(
        w,
        request(cart(), [
          { productId: PLENTY, quantity: 10 },
          { productId: SCARCE, quantity: 6 },
        ]),
      );

      expect(r.type).toBe('inventory-unavailable');
      expect(r.body).toMatchObject({ unavailableItems: [{ productId: SCARCE, requested: 6, available: 5 }] });
      expect(level(w, PLENTY)).toMatchObject({ available: 1_000, reserved: 0 });
      expect(level(w, SCARCE)).toMatchObject({ available: 5, reserved: 0 });
      await eventually(() => expect(w.published.map((m) => m.subject)).toEqual([Event.inventoryUnavailable]));
    });

    it('treats an unknown product as unavailable', async () => {
      const r = await reserve(
        w,
        request(cart(), [
          { productId: UNKNOWN, quantity: 1 },
          { productId: PLENTY, quantity: 1 },
        ]),
      );
      expect(r.type).toBe('inventory-unavailable');
      expect(r.body).toMatchObject({
        unavailableItems: [{ productId: UNKNOWN, requested: 1, available: 0 }],
      });
      expect(level(w, PLENTY)).toMatchObject({ reserved: 0 });
    });
  });

  describe('when 50 checkouts race for scarce stock', () => {
    it('holds exactly the stock there is and never goes negative', async () => {
      const outcomes = await Promise.all(
        Array.from({ length: 50 }, () =>
          reserve(
            w,
            request(cart(), [
              { productId: PLENTY, quantity: 1 },
              { productId: SCARCE, quantity: 1 },
            ]),
          ),
        ),
      );

      const held = outcomes.filter((o) => o.type === 'inventory-reserved');
      expect(held).toHaveLength(5);
      expect(level(w, SCARCE)).toMatchObject({ available: 0, reserved: 5 });
      // All or nothing: the plentiful item was held only alongside the scarce one.
      expect(level(w, PLENTY)).toMatchObject({ reserved: 5 });
    });

    it('gives the last unit to exactly one of them', async () => {
      const outcomes = await Promise.all(
        Array.from({ length: 50 }, () => reserve(w, request(cart(), [{ productId: LAST, quantity: 1 }]))),
      );
      expect(outcomes.filter((o) => o.type === 'inventory-reserved')).toHaveLength(1);
      expect(level(w, LAST)).toMatchObject({ available: 0, reserved: 1 });
    });
  });

  describe('when a reserve is repeated', () => {
    it('with the same idempotency key, replays the same reply and holds once', async () => {
      const payload = request(cart(), [{ productId: SCARCE, quantity: 2 }]);
      const first = await reserve(w, payload, 'key-1');
      const again = await Promise.all([reserve(w, payload, 'key-1'), reserve(w, payload, 'key-1')]);

      expect(again).toEqual([first, first]);
      expect(level(w, SCARCE)).toMatchObject({ available: 3, reserved: 2 });
    });

    it('with a different key, answers with the same reservation and holds once', async () => {
      const payload = request(cart(), [{ productId: SCARCE, quantity: 2 }]);
      const first = await reserve(w, payload, 'key-1');
      const second = await reserve(w, payload, 'key-2');

      expect(second).toEqual(first);
      expect(level(w, SCARCE)).toMatchObject({ available: 3, reserved: 2 });
    });
  });

  describe('when a reservation is released', () => {
    it('returns the stock, replies inventory-released and publishes it', async () => {
      const r = await reserve(w, request(cart(), [{ productId: SCARCE, quantity: 4 }]));
      const released = await release(w, r.body.reservationId!);

      expect(released).toMatchObject({ reservationId: r.body.reservationId, reason: 'CHECKOUT_FAILED' });
      expect(level(w, SCARCE)).toMatchObject({ available: 5, reserved: 0 });
      await eventually(() =>
        expect(w.published.map((m) => m.subject)).toEqual([Event.inventoryReserved, Event.inventoryReleased]),
      );
    });

    it('is idempotent: a second release succeeds and returns nothing more', async () => {
      const r = await reserve(w, request(cart(), [{ productId: SCARCE, quantity: 4 }]));
      const first = await release(w, r.body.reservationId!);
      const second = await release(w, r.body.reservationId!);

      expect(second).toEqual(first);
      expect(level(w, SCARCE)).toMatchObject({ available: 5, reserved: 0 });
    });

    it('succeeds for a reservation that was never made', async () => {
      const reservationId = newId();
      expect(await release(w, reservationId)).toMatchObject({ reservationId });
    });
  });

  describe('when a reserve arrives after its release', () => {
    it('is refused, so nothing is held that nobody will release', async () => {
      const cartId = cart();
      const { reservationId } = checkoutIdsFor(cartId);
      await release(w, reservationId);

      const late = await reserve(w, request(cartId, [{ productId: SCARCE, quantity: 1 }]));

      expect(late.type).toBe('inventory-unavailable');
      expect(late.body).toMatchObject({
        reservationId,
        unavailableItems: [{ productId: SCARCE, requested: 1, available: 0 }],
      });
      expect(level(w, SCARCE)).toMatchObject({ available: 5, reserved: 0 });
    });
  });

  describe('when an order is cancelled', () => {
    it('releases the reservation of that order, once, however often the event arrives', async () => {
      const orderId = newId();
      await reserve(w, request(cart(), [{ productId: SCARCE, quantity: 3 }], { orderId }));
      const eventId = newId();
      const cancelled = { orderId, reason: 'CUSTOMER_REQUESTED', cancelledAt: new Date().toISOString() };

      await publishEvent(w.transport, Event.orderCancelled, MessageType.orderCancelled, cancelled, eventId);
      await eventually(() => expect(level(w, SCARCE)).toMatchObject({ available: 5, reserved: 0 }));
      await publishEvent(w.transport, Event.orderCancelled, MessageType.orderCancelled, cancelled, eventId);

      await eventually(() =>
        expect(w.published.map((m) => m.subject)).toEqual([Event.inventoryReserved, Event.inventoryReleased]),
      );
      expect(JSON.parse(w.published[1]!.data)).toMatchObject({ orderId, reason: 'ORDER_CANCELLED' });
    });

    it('acknowledges and ignores an order that holds nothing', async () => {
      await publishEvent(w.transport, Event.orderCancelled, MessageType.orderCancelled, {
        orderId: newId(),
        reason: 'OUT_OF_STOCK',
        cancelledAt: new Date().toISOString(),
      });
      const r = await reserve(w, request(cart(), [{ productId: SCARCE, quantity: 1 }]));
      expect(r.type).toBe('inventory-reserved');
      await new Promise((r) => setTimeout(r, 100));
      expect(level(w, SCARCE)).toMatchObject({ available: 4, reserved: 1 });
    });
  });

  describe('when an order is completed', () => {
    it('consumes its reservation, which can then no longer be released', async () => {
      const orderId = newId();
      const r = await reserve(w, request(cart(), [{ productId: SCARCE, quantity: 2 }], { orderId }));
      const completed = { orderId, customerId: newId(), completedAt: new Date().toISOString() };

      await publishEvent(w.transport, Event.orderCompleted, MessageType.orderCompleted, completed);
      await eventually(() =>
        expect(level(w, SCARCE)).toEqual({ productId: SCARCE, available: 3, reserved: 0, consumed: 2 }),
      );
      await eventually(() =>
        expect(w.published.map((m) => m.subject)).toEqual([Event.inventoryReserved, Event.inventoryConsumed]),
      );

      const err = await failure(release(w, r.body.reservationId!));
      expect(err.code).toBe('CONFLICT');
      expect(level(w, SCARCE)).toMatchObject({ available: 3, consumed: 2 });
    });
  });

  describe('when the input is bad', () => {
    const cases: [string, object][] = [
      ['a cartId that is not a uuid', { cartId: 'not-a-uuid', items: [{ productId: SCARCE, quantity: 1 }] }],
      ['a quantity of 0', { cartId: newId(), items: [{ productId: SCARCE, quantity: 0 }] }],
      ['a productId that is not a uuid', { cartId: newId(), items: [{ productId: 'anvil', quantity: 1 }] }],
      ['no items array', { cartId: newId() }],
    ];

    it.each(cases)('refuses %s with BAD_REQUEST and changes nothing', async (_name, payload) => {
      const err = await failure(reserve(w, payload));
      expect(err.code).toBe('BAD_REQUEST');
      expect(level(w, SCARCE)).toMatchObject({ available: 5, reserved: 0 });
      expect(w.rt.store.db.prepare('SELECT COUNT(*) FROM actors').pluck().get()).toBe(0);
    });

    it('refuses a message without CloudEvents headers', async () => {
      const body = JSON.stringify(request(cart(), [{ productId: SCARCE, quantity: 1 }]));
      const err = await failure(
        w.transport.request(Command.reserveInventory, body, { timeoutMs: 5_000, headers: {} }),
      );
      expect(err.code).toBe('BAD_REQUEST');
      expect(level(w, SCARCE)).toMatchObject({ available: 5, reserved: 0 });
    });

    it('refuses a release whose reservationId is not a uuid', async () => {
      const err = await failure(release(w, 'nope'));
      expect(err.code).toBe('BAD_REQUEST');
    });
  });

  describe('when asked for a stock level', () => {
    it('answers NOT_FOUND for a product it does not stock', async () => {
      const err = await failure(stockOf(w, UNKNOWN));
      expect(err.code).toBe('NOT_FOUND');
    });
  });

  describe('when the service restarts', () => {
    it('keeps its reservations and stock, and does not seed again', async () => {
      const cartId = cart();
      const held = await reserve(w, request(cartId, [{ productId: SCARCE, quantity: 2 }]));
      await close(w);

      w = await open(dir, { products: [product('TEST-SCARCE', 99)], promotions: [] });

      expect(await stockOf(w, SCARCE)).toEqual({ productId: SCARCE, available: 3, reserved: 2 });
      expect(await reserve(w, request(cartId, [{ productId: SCARCE, quantity: 2 }]))).toEqual(held);
      await release(w, held.body.reservationId!);
      expect(await stockOf(w, SCARCE)).toEqual({ productId: SCARCE, available: 5, reserved: 0 });
    });
  });
});

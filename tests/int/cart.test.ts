import { mkdtemp, rm } from 'node:fs/promises';
import { orderNumberOf } from '../../src/contracts/order-number.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Cart,
  CartCheckedOut,
  DiscountCalculated,
  ListProductsResponse,
  MessageType,
  Product,
  type CartStatus,
} from '../../src/contracts/index.ts';
import { Command, Event, Query, Stream } from '../../src/contracts/subjects.ts';
import { cartCheckedOutEventId } from '../../src/actors/cart/definition.ts';
import { cartMigrations } from '../../src/actors/cart/schema.ts';
import { startCartService, type CartServiceConfig } from '../../src/actors/cart/service.ts';
import { serviceSources } from '../../src/registry.ts';
import { promotionMigrations } from '../../src/actors/promotion/schema.ts';
import { startPromotionService } from '../../src/actors/promotion/service.ts';
import { defaultSeed, productIdFor } from '../../src/actors/seed/seed.ts';
import type { CartContext } from '../../src/machines/cart.ts';
import { ServiceClient } from '../../src/runtime/client.ts';
import { ManualClock } from '../../src/runtime/clock.ts';
import { checkoutIdsFor, newId } from '../../src/runtime/ids.ts';
import { ServiceRuntime } from '../../src/runtime/service.ts';
import { Store } from '../../src/runtime/store.ts';
import { RemoteError } from '../../src/runtime/transport/errors.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import type { Delivery } from '../../src/runtime/transport/transport.ts';
import { eventually, settle } from '../support/waiting.ts';

const ANVIL = productIdFor('ACME-ANVIL-01'); // 12_900
const MAGNET = productIdFor('ACME-GIANT-MAG'); // 3_999
const BIRDSEED = productIdFor('ACME-BIRDSEED'); // 1_250
const NOT_A_PRODUCT = productIdFor('ACME-NOTHING');
const CUSTOMER = '44444444-4444-4444-8444-444444444444';
const ABANDON_MS = 60 * 60 * 1000;

const config: Partial<CartServiceConfig> = {
  maxQuantityPerLine: 5,
  abandonAfterMs: ABANDON_MS,
  discountTimeoutMs: 300,
};

interface World {
  dir: string;
  clock: ManualClock;
  transport: InProcessTransport;
  cart: ServiceRuntime;
  promotion: ServiceRuntime | undefined;
  client: ServiceClient;
  /** Every message stored in the SHOPPING stream, as a consumer of it sees them. */
  stream: Delivery[];
}

async function startCart(w: Pick<World, 'dir' | 'clock' | 'transport'>): Promise<ServiceRuntime> {
  const store = new Store({ path: join(w.dir, 'cart.db'), migrations: cartMigrations });
  const rt = new ServiceRuntime({
    service: 'cart',
    source: serviceSources.cart,
    store,
    transport: w.transport,
    clock: w.clock,
  });
  await startCartService(rt, { ...config, seed: defaultSeed });
  await rt.start();
  return rt;
}

async function startPromotion(w: Pick<World, 'dir' | 'clock' | 'transport'>): Promise<ServiceRuntime> {
  const store = new Store({ path: join(w.dir, 'promotion.db'), migrations: promotionMigrations });
  const rt = new ServiceRuntime({
    service: 'promotion',
    source: serviceSources.promotion,
    store,
    transport: w.transport,
    clock: w.clock,
  });
  await startPromotionService(rt, { seed: defaultSeed });
  await rt.start();
  return rt;
}

async function open(dir: string, opts: { promotion: boolean } = { promotion: true }): Promise<World> {
  const clock = new ManualClock(Date.parse('2026-01-01T00:00:00Z'));
  const transport = new InProcessTransport({ path: join(dir, 'bus.db') });
  const base = { dir, clock, transport };
  const cart = await startCart(base);
  const promotion = opts.promotion ? await startPromotion(base) : undefined;
  const stream: Delivery[] = [];
  await transport.ensureStream(Stream.shopping.name, Stream.shopping.subjects);
  await transport.consume(
    {
      stream: Stream.shopping.name,
      durable: 'test-shopping',
      filterSubjects: ['shopping.evt.>'],
      ackWaitMs: 5_000,
    },
    async (d) => void stream.push(d),
  );
  return { ...base, cart, promotion, stream, client: new ServiceClient(transport, 'urn:test', clock) };
}

async function close(w: World): Promise<void> {
  await w.cart.stop();
  await w.promotion?.stop();
  await w.transport.drain();
}

// One attempt each: these cases read the Cart API's own answer (an UNAVAILABLE is not asked again).
const call = (w: World, subject: string, type: string, payload: object, idempotencyKey: string = newId()) =>
  w.client.call(subject, type, payload, Cart, { timeoutMs: 5_000, idempotencyKey, retry: false }).then((r) => r.payload);
const add = (w: World, cartId: string, productId: string, quantity: number, key?: string) =>
  call(w, Command.addItemToCart, MessageType.addItemToCart, { cartId, productId, quantity }, key);
const remove = (w: World, cartId: string, productId: string, quantity?: number) =>
  call(w, Command.removeItemFromCart, MessageType.removeItemFromCart, {
    cartId,
    productId,
    ...(quantity ? { quantity } : {}),
  });
const checkout = (w: World, cartId: string, promotionCode?: string, key?: string) =>
  call(
    w,
    Command.checkoutCart,
    MessageType.checkoutCart,
    { cartId, customerId: CUSTOMER, ...(promotionCode ? { promotionCode } : {}) },
    key,
  );
const getCart = (w: World, cartId: string) =>
  w.client
    .call(Query.getCart, MessageType.getCartRequest, { cartId }, Cart, { timeoutMs: 5_000 })
    .then((r) => r.payload);

async function failure(p: Promise<unknown>): Promise<RemoteError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RemoteError);
  return err as RemoteError;
}

const checkedOutEvents = (w: World) =>
  w.stream
    .filter((d) => d.subject === Event.cartCheckedOut)
    .map((d) => CartCheckedOut.parse(JSON.parse(d.data)));
const discountEvents = (w: World) =>
  w.stream
    .filter((d) => d.subject === Event.discountCalculated)
    .map((d) => DiscountCalculated.parse(JSON.parse(d.data)));
const stored = (w: World, cartId: string) =>
  w.cart.hosts.get('cart')?.peek(cartId)?.context as CartContext | undefined;
const rows = (w: World, table: string) =>
  w.cart.store.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;

describe('cart', () => {
  let dir: string;
  let w: World;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cart-'));
    w = await open(dir);
  });

  afterEach(async () => {
    await close(w);
    await rm(dir, { recursive: true, force: true });
  });

  describe('when a shopper browses the catalogue', () => {
    it('lists the seeded products and gets one by id, or NOT_FOUND', async () => {
      const list = await w.client.call(
        Query.listProducts,
        MessageType.listProductsRequest,
        {},
        ListProductsResponse,
        { timeoutMs: 5_000 },
      );
      expect(list.payload.products).toHaveLength(defaultSeed.products.length);
      const one = await w.client.call(
        Query.getProduct,
        MessageType.getProductRequest,
        { productId: ANVIL },
        Product,
        { timeoutMs: 5_000 },
      );
      expect(one.payload).toMatchObject({
        productId: ANVIL,
        sku: 'ACME-ANVIL-01',
        unitPrice: 12_900,
        currency: 'USD',
      });
      const err = await failure(
        w.client.call(
          Query.getProduct,
          MessageType.getProductRequest,
          { productId: NOT_A_PRODUCT },
          Product,
          { timeoutMs: 5_000 },
        ),
      );
      expect(err.code).toBe('NOT_FOUND');
    });
  });

  describe('when the first item is added to a new cartId', () => {
    it('creates an OPEN cart holding the item at the catalogue price', async () => {
      const cartId = newId();
      expect((await failure(getCart(w, cartId))).code).toBe('NOT_FOUND');
      const cart = await add(w, cartId, ANVIL, 2);
      expect(cart).toEqual({
        cartId,
        status: 'OPEN',
        items: [{ productId: ANVIL, quantity: 2, unitPrice: 12_900, sku: 'ACME-ANVIL-01' }],
        subtotal: 25_800,
        currency: 'USD',
      });
      expect(await getCart(w, cartId)).toEqual(cart);
    });
  });

  describe('when items are added and removed', () => {
    it('adds to an existing line, removes some, then the whole line', async () => {
      const cartId = newId();
      await add(w, cartId, ANVIL, 1);
      await add(w, cartId, MAGNET, 1);
      expect((await add(w, cartId, ANVIL, 2)).items).toEqual([
        { productId: ANVIL, quantity: 3, unitPrice: 12_900, sku: 'ACME-ANVIL-01' },
        { productId: MAGNET, quantity: 1, unitPrice: 3_999, sku: 'ACME-GIANT-MAG' },
      ]);
      expect((await remove(w, cartId, ANVIL, 2)).items[0]).toEqual({
        productId: ANVIL,
        quantity: 1,
        unitPrice: 12_900,
        sku: 'ACME-ANVIL-01',
      });
      expect((await remove(w, cartId, ANVIL)).items).toEqual([
        { productId: MAGNET, quantity: 1, unitPrice: 3_999, sku: 'ACME-GIANT-MAG' },
      ]);
      const last = await remove(w, cartId, MAGNET, 1);
      expect(last).toMatchObject({ status: 'OPEN', items: [], subtotal: 0 });
    });

    it('answers NOT_FOUND for an unknown cart or an item not in the cart', async () => {
      expect((await failure(remove(w, newId(), ANVIL))).code).toBe('NOT_FOUND');
      const cartId = newId();
      await add(w, cartId, ANVIL, 1);
      expect((await failure(remove(w, cartId, MAGNET))).code).toBe('NOT_FOUND');
    });
  });

  describe('when the request is bad', () => {
    it('answers BAD_REQUEST and changes nothing', async () => {
      const cartId = newId();
      await add(w, cartId, ANVIL, 5);
      const before = { cart: await getCart(w, cartId), journal: rows(w, 'journal') };
      const bad: Array<[string, Promise<unknown>]> = [
        ['unknown product', add(w, cartId, NOT_A_PRODUCT, 1)],
        ['unknown product on a new cart', add(w, newId(), NOT_A_PRODUCT, 1)],
        ['zero quantity', add(w, cartId, MAGNET, 0)],
        ['fractional quantity', add(w, cartId, MAGNET, 1.5)],
        ['over the per-line limit', add(w, cartId, ANVIL, 1)],
        ['a new line over the limit', add(w, cartId, MAGNET, 6)],
        ['removing more than the line holds', remove(w, cartId, ANVIL, 6)],
        ['a cartId that is not a uuid', add(w, 'cart-1', ANVIL, 1)],
        ['no customerId at checkout', call(w, Command.checkoutCart, MessageType.checkoutCart, { cartId })],
      ];
      for (const [what, p] of bad) expect((await failure(p)).code, what).toBe('BAD_REQUEST');
      expect((await failure(add(w, cartId, NOT_A_PRODUCT, 1))).message).toBe(
        `unknown product ${NOT_A_PRODUCT}`,
      );
      expect({
        cart: await getCart(w, cartId),
        journal: rows(w, 'journal'),
      }).toEqual(before);
    });
  });

  describe('when the cart is checked out', () => {
    it('prices it with WELCOME10, publishes cart-checked-out and names the order', async () => {
      const cartId = newId();
      await add(w, cartId, ANVIL, 2);
      const cart = await checkout(w, cartId, 'WELCOME10');
      const ids = checkoutIdsFor(cartId);
      expect(cart).toEqual({
        cartId,
        customerId: CUSTOMER,
        status: 'CHECKED_OUT',
        items: [{ productId: ANVIL, quantity: 2, unitPrice: 12_900, sku: 'ACME-ANVIL-01' }],
        subtotal: 25_800,
        discount: 2_580,
        total: 23_220,
        currency: 'USD',
        orderId: ids.orderId,
        orderNumber: orderNumberOf(ids.orderId),
        checkoutId: ids.checkoutId,
      });
      await eventually(() => expect(checkedOutEvents(w)).toHaveLength(1));
      expect(checkedOutEvents(w)[0]).toEqual({
        eventId: cartCheckedOutEventId(cartId),
        occurredAt: '2026-01-01T00:00:00.000Z',
        cartId,
        customerId: CUSTOMER,
        items: cart.items,
        subtotal: 25_800,
        discount: 2_580,
        total: 23_220,
        currency: 'USD',
      });
      await eventually(() =>
        expect(discountEvents(w)).toMatchObject([
          { cartId, discount: 2_580, appliedPromotions: ['WELCOME10'] },
        ]),
      );
    });

    it('applies SAVE5 only from its minimum spend', async () => {
      const small = newId();
      await add(w, small, BIRDSEED, 2); // 2_500 < 5_000
      expect(await checkout(w, small, 'SAVE5')).toMatchObject({ subtotal: 2_500, discount: 0, total: 2_500 });
      expect(stored(w, small)?.pricing?.promotionRejection).toEqual({
        code: 'SAVE5',
        reason: 'MIN_SPEND_NOT_MET',
      });
      const big = newId();
      await add(w, big, BIRDSEED, 4); // 5_000
      expect(await checkout(w, big, 'SAVE5')).toMatchObject({ subtotal: 5_000, discount: 500, total: 4_500 });
    });

    it('checks out at full price with an expired code, and records why it gave nothing', async () => {
      const cartId = newId();
      await add(w, cartId, MAGNET, 1);
      expect(await checkout(w, cartId, 'SPRING2024')).toMatchObject({
        status: 'CHECKED_OUT',
        subtotal: 3_999,
        discount: 0,
        total: 3_999,
      });
      expect(stored(w, cartId)?.pricing).toMatchObject({
        promotionCode: 'SPRING2024',
        appliedPromotions: [],
        promotionRejection: { code: 'SPRING2024', reason: 'EXPIRED' },
      });
    });

    it('refuses an empty cart with CONFLICT, and an unknown cart with NOT_FOUND', async () => {
      const cartId = newId();
      await add(w, cartId, ANVIL, 1);
      await remove(w, cartId, ANVIL);
      expect((await failure(checkout(w, cartId))).code).toBe('CONFLICT');
      expect((await failure(checkout(w, newId()))).code).toBe('NOT_FOUND');
      await settle();
      expect(discountEvents(w)).toEqual([]);
    });

    it('refuses a second checkout with CONFLICT, replays a retry of the first, and publishes once', async () => {
      const cartId = newId();
      const key = newId();
      await add(w, cartId, ANVIL, 1);
      const first = await checkout(w, cartId, 'WELCOME10', key);
      expect((await failure(checkout(w, cartId, 'WELCOME10'))).code).toBe('CONFLICT');
      expect(await checkout(w, cartId, 'WELCOME10', key)).toEqual(first);
      expect((await failure(add(w, cartId, MAGNET, 1))).code).toBe('CONFLICT');
      expect((await failure(remove(w, cartId, ANVIL))).code).toBe('CONFLICT');
      await eventually(() => expect(checkedOutEvents(w)).toHaveLength(1));
      await settle();
      expect(checkedOutEvents(w)).toHaveLength(1);
      expect(discountEvents(w)).toHaveLength(1);
    });

    it('publishes cart-checked-out once even when the outbox sends it again', async () => {
      const cartId = newId();
      await add(w, cartId, ANVIL, 1);
      await checkout(w, cartId);
      await eventually(() => expect(checkedOutEvents(w)).toHaveLength(1));
      const sent: string[] = [];
      await w.transport.subscribeAll(Event.cartCheckedOut, (m) => sent.push(m.data));
      // As after a crash between publishing and the relay's watermark moving past it: the restarted
      // relay resends everything above the persisted watermark.
      await w.cart.store.write((db) => db.prepare(`UPDATE meta SET value = '0' WHERE key = 'relay_watermark'`).run());
      (w.cart.journal as unknown as { watermark: number }).watermark = 0;
      w.cart.relay.rescan();
      await eventually(() => expect(sent).toHaveLength(1));
      await settle();
      expect(checkedOutEvents(w)).toHaveLength(1);
    });
  });

  describe('when the Promotion Service does not answer', () => {
    it('answers UNAVAILABLE, leaves the cart open, and a retry succeeds once it is back', async () => {
      await w.promotion?.stop();
      w.promotion = undefined;
      const cartId = newId();
      await add(w, cartId, ANVIL, 1);
      const err = await failure(checkout(w, cartId, 'WELCOME10'));
      expect(err.code).toBe('UNAVAILABLE');
      expect((await getCart(w, cartId)).status).toBe('OPEN');

      // A promotion service that hangs past the deadline is no different.
      const hung = await w.transport.respond(
        Command.calculateDiscount,
        () => new Promise((r) => setTimeout(() => r({ data: '{"discount":0}' }), 600)),
      );
      expect((await failure(checkout(w, cartId, 'WELCOME10'))).code).toBe('UNAVAILABLE');
      expect((await getCart(w, cartId)).status).toBe('OPEN');
      await hung.close();

      w.promotion = await startPromotion(w);
      expect(await checkout(w, cartId, 'WELCOME10')).toMatchObject({
        status: 'CHECKED_OUT',
        discount: 1_290,
      });
      await eventually(() => expect(checkedOutEvents(w)).toHaveLength(1));
    });
  });

  describe('when a cart is left alone', () => {
    const statusAfter = async (cartId: string): Promise<CartStatus> => (await getCart(w, cartId)).status;

    it('is abandoned once nothing has changed for abandonAfterMs, and then refuses changes', async () => {
      const cartId = newId();
      await add(w, cartId, ANVIL, 1);
      w.clock.advance(ABANDON_MS / 2);
      await add(w, cartId, MAGNET, 1); // re-arms the timer
      w.clock.advance(ABANDON_MS / 2 + 1);
      expect(await w.cart.scheduler.runDue()).toBe(0);
      expect(await statusAfter(cartId)).toBe('OPEN');
      w.clock.advance(ABANDON_MS / 2);
      expect(await w.cart.scheduler.runDue()).toBe(1);
      expect(await statusAfter(cartId)).toBe('ABANDONED');
      expect((await failure(add(w, cartId, ANVIL, 1))).code).toBe('CONFLICT');
      expect((await failure(checkout(w, cartId))).code).toBe('CONFLICT');
    });

    it('abandons an emptied cart too, but never a checked-out one', async () => {
      const emptied = newId();
      await add(w, emptied, ANVIL, 1);
      await remove(w, emptied, ANVIL);
      const bought = newId();
      await add(w, bought, ANVIL, 1);
      await checkout(w, bought);
      w.clock.advance(ABANDON_MS + 1);
      await w.cart.scheduler.runDue();
      expect(await statusAfter(emptied)).toBe('ABANDONED');
      expect(await statusAfter(bought)).toBe('CHECKED_OUT');
    });

    it('keeps no arming it has replaced: each change re-arms the timer, and the old one leaves memory', async () => {
      const first = newId();
      await add(w, first, MAGNET, 1); // armed first: the earliest due, so the others' stale entries sit behind it
      const busy = newId();
      for (let i = 0; i < 100; i++) {
        await add(w, busy, ANVIL, 1);
        await remove(w, busy, ANVIL);
      }
      // 201 armings, 2 armed: the heap is rebuilt from the armed timers past 64 entries.
      expect(w.cart.scheduler.scheduled).toBeLessThanOrEqual(64);
      w.clock.advance(ABANDON_MS + 1);
      expect(await w.cart.scheduler.runDue()).toBe(2);
      expect(await statusAfter(first)).toBe('ABANDONED');
      expect(await statusAfter(busy)).toBe('ABANDONED');
    });
  });

  describe('when the Cart API restarts', () => {
    it('keeps its carts, open and checked out, and carries on', async () => {
      const openCart = newId();
      const doneCart = newId();
      await add(w, openCart, ANVIL, 2);
      await add(w, doneCart, MAGNET, 1);
      const done = await checkout(w, doneCart);
      await w.cart.stop();
      w.cart = await startCart(w);

      expect(await getCart(w, openCart)).toMatchObject({
        status: 'OPEN',
        items: [{ productId: ANVIL, quantity: 2 }],
      });
      expect(await getCart(w, doneCart)).toEqual(done);
      expect((await add(w, openCart, ANVIL, 1)).items[0]?.quantity).toBe(3);
      expect((await failure(checkout(w, doneCart))).code).toBe('CONFLICT');
      const list = await w.client.call(
        Query.listProducts,
        MessageType.listProductsRequest,
        {},
        ListProductsResponse,
        { timeoutMs: 5_000 },
      );
      expect(list.payload.products).toHaveLength(defaultSeed.products.length);
    });
  });
});

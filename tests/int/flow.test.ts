/**
 * Place an Order, end to end, with every real service: embedded (in-process transport) and over a
 * real nats-server with nats.conf's per-service users. After every scenario, the flow's invariants
 * are checked against the service stores.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import { MessageType } from '../../src/contracts/index.ts';
import { Event, Stream } from '../../src/contracts/subjects.ts';
import type { Delivery } from '../../src/runtime/transport/transport.ts';
import { startTestSystem, type Mode, type TestSystem } from '../support/system-fixture.ts';

const ANVIL = productIdFor('ACME-ANVIL-01'); // 12,900 each, 25 in stock
const BATSUIT = productIdFor('ACME-BATMAN-SUIT'); // 3 in stock
const BIRDSEED = productIdFor('ACME-BIRDSEED'); // 1,250 each, 200 in stock
const FRAUDSTER = randomUUID();
const SLOWPOKE = randomUUID();
const REFUSED = randomUUID();

describe.each<Mode>(['embedded', 'nats'])('place an order (%s)', (mode) => {
  let t: TestSystem;
  const events: Delivery[] = [];

  beforeAll(async () => {
    t = await startTestSystem(mode, (c) => {
      c.payment = { ...c.payment, declineAbove: 100_000, fraudCustomers: [FRAUDSTER], stallCustomers: [SLOWPOKE], stallMs: 4_500 };
      c.order = { refuseCustomers: [REFUSED], maxTotal: undefined };
    });
    // A wire tap on the ORDERING stream (embedded only: over NATS, nats.conf rightly forbids the
    // services' users an extra durable; tests/int/wire.test.ts taps NATS as admin).
    if (mode === 'embedded') {
      const bus = await t.system.transportFor('order');
      await bus.consume({ stream: Stream.ordering.name, durable: 'test-tap', filterSubjects: ['ordering.evt.>'], ackWaitMs: 30_000 }, async (d) => void events.push(d));
    }
  });
  afterAll(async () => t.stop());
  afterEach(() => expect(t.invariants()).toEqual([]));

  const eventsFor = (type: string, orderId: string) =>
    events.filter((e) => e.headers['ce-type'] === type && (JSON.parse(e.data) as { orderId: string }).orderId === orderId);

  it('confirms a checkout: the order is CREATED, order-created is published and stock is reduced', async () => {
    const before = await t.shopper.stock(BIRDSEED);
    const cart = await t.shopper.buy(randomUUID(), [[BIRDSEED, 2]]);
    const status = await t.shopper.settle(cart.checkoutId);
    expect(status).toMatchObject({ status: 'CONFIRMED', step: 'DONE', orderId: cart.orderId });
    expect(await t.shopper.order(cart.orderId)).toMatchObject({ status: 'CREATED', total: 2_500, currency: 'USD' });
    expect((await t.shopper.stock(BIRDSEED)).available).toBe(before.available - 2);
    if (mode === 'embedded') await expect.poll(() => eventsFor(MessageType.orderCreated, cart.orderId)).toHaveLength(1);
  });

  it('cancels with OUT_OF_STOCK when stock is short, and never asks for payment', async () => {
    const cart = await t.shopper.buy(randomUUID(), [[BIRDSEED, 1], [BATSUIT, 4]]);
    const status = await t.shopper.settle(cart.checkoutId);
    expect(status).toMatchObject({ status: 'CANCELLED', reason: 'OUT_OF_STOCK', detail: 'OUT_OF_STOCK' });
    expect(status.reasonText).toMatch(/out of stock/i);
    expect(await t.shopper.order(cart.orderId)).toMatchObject({ status: 'CANCELLED' });
  });

  it('cancels with PAYMENT_FAILED when the payment is declined, and releases the reservation', async () => {
    const before = await t.shopper.stock(ANVIL);
    const cart = await t.shopper.buy(randomUUID(), [[ANVIL, 8]]); // 103,200 > the 100,000 limit
    expect(await t.shopper.settle(cart.checkoutId)).toMatchObject({ status: 'CANCELLED', reason: 'PAYMENT_FAILED', detail: 'PAYMENT_DECLINED' });
    expect(await t.shopper.stock(ANVIL)).toEqual(before);
  });

  it('cancels with FRAUD when the fraud check refuses the payment', async () => {
    const cart = await t.shopper.buy(FRAUDSTER, [[BIRDSEED, 1]]);
    expect(await t.shopper.settle(cart.checkoutId)).toMatchObject({ status: 'CANCELLED', reason: 'FRAUD' });
  });

  it('compensates after the payment deadline, and voids the authorization that arrives late', async () => {
    const cart = await t.shopper.buy(SLOWPOKE, [[BIRDSEED, 1]]);
    expect(await t.shopper.settle(cart.checkoutId)).toMatchObject({ status: 'CANCELLED', reason: 'PAYMENT_FAILED', detail: 'PAYMENT_TIMEOUT' });
    // The processor answers after the stall; the void tombstone makes that authorization a no-op.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(t.invariants()).toEqual([]);
  }, 20_000);

  it('cancels and voids the payment when the Order Service refuses the order', async () => {
    const cart = await t.shopper.buy(REFUSED, [[BIRDSEED, 1]]);
    expect(await t.shopper.settle(cart.checkoutId)).toMatchObject({ status: 'CANCELLED', detail: 'ORDER_REJECTED' });
    expect(await t.shopper.order(cart.orderId)).toMatchObject({ status: 'CANCELLED' });
  });

  it('lets a shopper cancel a CREATED order, which releases stock and voids the payment', async () => {
    const before = await t.shopper.stock(BIRDSEED);
    const cart = await t.shopper.buy(randomUUID(), [[BIRDSEED, 3]]);
    await t.shopper.settle(cart.checkoutId);
    await t.shopper.cancelOrder(cart.orderId);
    expect(await t.shopper.order(cart.orderId)).toMatchObject({ status: 'CANCELLED' });
    await expect.poll(async () => (await t.shopper.stock(BIRDSEED)).available, { timeout: 5_000 }).toBe(before.available);
    // The payment is voided by its own consumer of order-cancelled, not before the stock comes back.
    await expect.poll(() => t.invariants(), { timeout: 5_000 }).toEqual([]);
  });

  it('completes an order, capturing the payment; a completed order cannot be cancelled', async () => {
    const cart = await t.shopper.buy(randomUUID(), [[BIRDSEED, 1]]);
    await t.shopper.settle(cart.checkoutId);
    const held = (await t.shopper.stock(BIRDSEED)).reserved ?? 0;
    await t.shopper.completeOrder(cart.orderId);
    expect(await t.shopper.order(cart.orderId)).toMatchObject({ status: 'COMPLETED' });
    await expect(t.shopper.cancelOrder(cart.orderId)).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect.poll(async () => (await t.shopper.stock(BIRDSEED)).reserved, { timeout: 5_000 }).toBe(held - 1);
  });

  it('starts exactly one saga when cart-checked-out is delivered twice', async () => {
    const cart = await t.shopper.buy(randomUUID(), [[BIRDSEED, 1]]);
    await t.shopper.settle(cart.checkoutId);
    // Re-publish the same event under a new message id, past JetStream's de-duplication.
    const cartTransport = await t.system.transportFor('cart');
    const original = { eventId: randomUUID(), occurredAt: new Date().toISOString(), cartId: cart.cartId, customerId: cart.customerId, items: cart.items, total: cart.total, currency: cart.currency };
    const id = randomUUID();
    await cartTransport.publish(Event.cartCheckedOut, JSON.stringify(original), { 'ce-id': id, 'ce-type': MessageType.cartCheckedOut, 'ce-source': 'urn:test', 'ce-time': new Date().toISOString(), 'ce-specversion': '1.0' }, id);
    await new Promise((r) => setTimeout(r, 300));
    expect(await t.shopper.order(cart.orderId)).toMatchObject({ status: 'CREATED' });
  });

  it('keeps every invariant through 200 concurrent checkouts competing for scarce stock', async () => {
    const carts = await Promise.all(
      Array.from({ length: 200 }, (_, i) => t.shopper.buy(randomUUID(), i % 2 ? [[BATSUIT, 1]] : [[BIRDSEED, 1], [ANVIL, 1]])),
    );
    const outcomes = await Promise.all(carts.map((c) => t.shopper.settle(c.checkoutId, ['CONFIRMED', 'CANCELLED', 'NEEDS_ATTENTION'], 60_000)));
    expect(outcomes.filter((o) => o.status === 'NEEDS_ATTENTION')).toEqual([]);
    const suits = outcomes.filter((o, i) => i % 2 === 1 && o.status === 'CONFIRMED');
    expect(suits.length).toBeLessThanOrEqual(3);
  }, 90_000);
});

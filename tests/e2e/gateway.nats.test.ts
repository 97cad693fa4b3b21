/**
 * The gateway as shoppers meet it in production: a listening server, connected to a real
 * nats-server as the `gateway` user of nats.conf (so its permissions are exercised, KV watch
 * included), every service over NATS, and node's fetch as the client.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import type { Cart, CheckoutStatus } from '../../src/contracts/index.ts';
import { startShop, type Shop } from './support/shop-server.ts';
import { readSse } from './support/sse-client.ts';

const BIRDSEED = productIdFor('ACME-BIRDSEED'); // 12.50
const HOLE = productIdFor('ACME-PAINT-HOLE'); // 199.00, 8 in stock
const DECLINE_ABOVE = 50_000;

describe('gateway over NATS', () => {
  let shop: Shop;

  beforeAll(async () => {
    shop = await startShop('nats', {
      system: (c) => {
        c.payment = { ...c.payment, declineAbove: DECLINE_ABOVE };
      },
      gateway: { timeouts: { queryMs: 1_000 } },
    });
  });
  afterAll(async () => shop?.stop());

  const buy = async (customerId: string, lines: [string, number][], promotionCode?: string) => {
    const cartId = randomUUID();
    for (const [productId, quantity] of lines) {
      expect((await shop.http('POST', `/carts/${cartId}/items`, { productId, quantity })).status).toBe(200);
    }
    const res = await shop.http<Cart>('POST', `/carts/${cartId}/checkout`, { customerId, ...(promotionCode ? { promotionCode } : {}) }, {
      'idempotency-key': randomUUID(),
    });
    expect(res.status).toBe(200);
    return { cart: res.body, location: res.headers.get('location') ?? '' };
  };

  /** Follows the checkout's event stream to its end; returns every status it pushed. */
  const follow = async (location: string): Promise<CheckoutStatus[]> => {
    const stream = await readSse(`${shop.url}${location}/events`);
    await stream.ended(15_000);
    return stream.events.map((e) => e.data as CheckoutStatus);
  };

  it('is ready: the transport and every service answer', async () => {
    const res = await shop.http<{ status: string; checks: Record<string, { status: string }> }>('GET', '/readyz');
    expect(res.status).toBe(200);
    expect(Object.values(res.body.checks).every((c) => c.status === 'up')).toBe(true);
  });

  describe('when a shopper buys', () => {
    it('pushes the checkout from PENDING to CONFIRMED, and the order is CREATED', async () => {
      const customerId = randomUUID();
      const { cart, location } = await buy(customerId, [[BIRDSEED, 2]], 'WELCOME10');
      expect(location).toBe(`/checkouts/${cart.checkoutId}`);
      expect(cart).toMatchObject({ status: 'CHECKED_OUT', subtotal: 2_500, discount: 250, total: 2_250 });
      const statuses = await follow(location);
      expect(statuses[0]?.status).toBe('PENDING');
      expect(statuses.at(-1)).toMatchObject({ status: 'CONFIRMED', orderId: cart.orderId });
      expect((await shop.http('GET', location)).body).toMatchObject({ status: 'CONFIRMED' });
      expect((await shop.http('GET', `/orders/${cart.orderId}`)).body).toMatchObject({ status: 'CREATED', total: 2_250 });
      const history = await shop.http<{ orders: { orderId: string }[] }>('GET', `/customers/${customerId}/orders`);
      expect(history.body.orders.map((o) => o.orderId)).toContain(cart.orderId);
    });

    it('lets an operator complete the order, after which the shopper can no longer cancel it', async () => {
      const { cart, location } = await buy(randomUUID(), [[BIRDSEED, 1]]);
      await follow(location);
      const completed = await shop.http('POST', `/orders/${cart.orderId}/complete`);
      expect(completed.status).toBe(200);
      const cancel = await shop.http<{ message: string }>('POST', `/orders/${cart.orderId}/cancel`);
      expect(cancel.status).toBe(409);
      expect(cancel.body.message).toMatch(/return/);
      expect((await shop.http('GET', `/orders/${cart.orderId}`)).body).toMatchObject({ status: 'COMPLETED' });
    });

    it('lets the shopper cancel a confirmed order, and its stock comes back', async () => {
      const before = (await shop.http<{ available: number }>('GET', `/stock/${BIRDSEED}`)).body.available;
      const { cart, location } = await buy(randomUUID(), [[BIRDSEED, 3]]);
      await follow(location);
      const cancelled = await shop.http('POST', `/orders/${cart.orderId}/cancel`);
      expect(cancelled.status).toBe(200);
      expect(cancelled.body).toMatchObject({ orderId: cart.orderId, reason: 'CUSTOMER_REQUESTED' });
      expect((await shop.http('GET', `/orders/${cart.orderId}`)).body).toMatchObject({ status: 'CANCELLED' });
      await expect
        .poll(async () => (await shop.http<{ available: number }>('GET', `/stock/${BIRDSEED}`)).body.available, { timeout: 10_000 })
        .toBe(before);
    });
  });

  describe('when the payment is declined', () => {
    it('pushes CANCELLED with the reason in words, and takes no stock', async () => {
      const before = (await shop.http('GET', `/stock/${HOLE}`)).body;
      const { cart, location } = await buy(randomUUID(), [[HOLE, 3]]); // 59,700 > 50,000
      const final = (await follow(location)).at(-1);
      expect(final).toMatchObject({ status: 'CANCELLED', reason: 'PAYMENT_FAILED', detail: 'PAYMENT_DECLINED' });
      expect(final?.reasonText).toMatch(/declined/);
      expect((await shop.http('GET', `/orders/${cart.orderId}`)).body).toMatchObject({ status: 'CANCELLED' });
      await expect.poll(async () => (await shop.http('GET', `/stock/${HOLE}`)).body, { timeout: 10_000 }).toEqual(before);
    });
  });

  describe('when an order is unknown', () => {
    it('answers 404 for the order and for its checkout', async () => {
      expect((await shop.http('GET', `/orders/${randomUUID()}`)).status).toBe(404);
      expect((await shop.http('GET', `/checkouts/${randomUUID()}`)).status).toBe(404);
    });
  });

  describe('when a service stops answering', () => {
    it('answers 503 with Retry-After within the deadline, and /readyz names the service', async () => {
      await shop.t.system.runtimes.get('inventory')?.stop();
      const started = Date.now();
      const res = await shop.http('GET', `/stock/${BIRDSEED}`);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('2');
      expect(res.body).toEqual({ code: 'SERVICE_UNAVAILABLE', message: expect.any(String) as string });
      expect(Date.now() - started).toBeLessThan(1_500);
      const ready = await shop.http<{ checks: Record<string, { status: string }> }>('GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.checks.inventory?.status).toBe('down');
      expect(ready.body.checks.cart?.status).toBe('up');
      // The rest of the shop still works.
      expect((await shop.http('GET', '/products')).status).toBe(200);
    });
  });
});

/**
 * The storefront's API over the whole system (every service, the gateway listening), embedded and
 * over a real nats-server with nats.conf's users, so each new subject is also checked against the
 * least-privilege permissions: the short order number, the promotion quote before checkout, and
 * the cart that survives a failed checkout, a checkout whose status document expired. The browser tests (storefront.browser.test.ts) show
 * the same through the shopper's eyes.
 */
import { randomUUID } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import { orderNumberOf } from '../../src/contracts/order-number.ts';
import { uuidv7 } from '../../src/runtime/ids.ts';
import { Bucket, BucketInMemoryEmbedded } from '../../src/contracts/subjects.ts';
import { connectNats } from '../../src/runtime/transport/nats.ts';
import { credentialsFor } from '../support/nats-server.ts';
import { startShop, type Shop } from './support/shop-server.ts';

const MAGNET = productIdFor('ACME-GIANT-MAG'); // $39.99
const BIRDSEED = productIdFor('ACME-BIRDSEED'); // $12.50
const BATSUIT = productIdFor('ACME-BATMAN-SUIT'); // 3 in stock

interface Quote {
  promotionCode: string;
  applies: boolean;
  subtotal: number;
  discount: number;
  total: number;
  reason?: string;
  minSpend?: number;
}

interface CartBody {
  cartId: string;
  status: string;
  items: { productId: string; quantity: number }[];
  orderId?: string;
  orderNumber?: string;
  checkoutId?: string;
  reopenedAs?: string;
  restoredFrom?: { cartId: string; reason: string; detail?: string };
}

describe.each(['embedded', 'nats'] as const)('the storefront API (%s)', { timeout: 60_000 }, (mode) => {
  let shop: Shop;

  beforeAll(async () => {
    shop = await startShop(mode);
  });

  afterAll(async () => {
    await shop?.stop();
  });

  async function checkedOut(items: { productId: string; quantity: number }[], customerId = randomUUID(), cartId: string = randomUUID()): Promise<CartBody> {
    for (const item of items) expect((await shop.http('POST', `/carts/${cartId}/items`, item)).status).toBe(200);
    const res = await shop.http<CartBody>('POST', `/carts/${cartId}/checkout`, { customerId });
    expect(res.status).toBe(200);
    return res.body;
  }

  async function finalStatus(checkoutId: string): Promise<{ status: string; reason?: string }> {
    let doc: { status: string; reason?: string } = { status: 'PENDING' };
    await expect
      .poll(async () => {
        const res = await shop.http<{ status: string; reason?: string }>('GET', `/checkouts/${checkoutId}`);
        if (res.status === 200) doc = res.body;
        return doc.status === 'CONFIRMED' || doc.status === 'CANCELLED';
      }, { timeout: 20_000 })
      .toBe(true);
    return doc;
  }

  describe('the short order number', () => {
    it('is on the checked-out cart, and finds the order however the shopper types it', async () => {
      const cart = await checkedOut([{ productId: MAGNET, quantity: 1 }]);
      expect(cart.orderNumber).toBe(orderNumberOf(cart.orderId!));
      expect(cart.orderNumber).toMatch(/^ACME-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
      expect((await finalStatus(cart.checkoutId!)).status).toBe('CONFIRMED');

      const byNumber = await shop.http<{ orderId: string; orderNumber: string; status: string }>('GET', `/orders/${cart.orderNumber}`);
      expect(byNumber.status).toBe(200);
      expect(byNumber.body).toMatchObject({ orderId: cart.orderId, orderNumber: cart.orderNumber, status: 'CREATED' });
      const typed = cart.orderNumber!.slice('ACME-'.length).toLowerCase();
      expect((await shop.http<{ orderId: string }>('GET', `/orders/${typed}`)).body.orderId).toBe(cart.orderId);
      // The order document by id carries its number too.
      expect((await shop.http<{ orderNumber: string }>('GET', `/orders/${cart.orderId}`)).body.orderNumber).toBe(cart.orderNumber);
    });

    it('finds the order of a time-ordered cart (a UUID v7, as the storefront makes them) by its number', async () => {
      const cart = await checkedOut([{ productId: MAGNET, quantity: 1 }], randomUUID(), uuidv7());
      expect(cart.orderId![14]).toBe('8');
      expect((await finalStatus(cart.checkoutId!)).status).toBe('CONFIRMED');
      const byNumber = await shop.http<{ orderId: string; orderNumber: string }>('GET', `/orders/${cart.orderNumber}`);
      expect(byNumber.status).toBe(200);
      expect(byNumber.body).toMatchObject({ orderId: cart.orderId, orderNumber: orderNumberOf(cart.orderId!) });
    });

    it('answers 404 for a number no order has', async () => {
      const res = await shop.http<{ code: string }>('GET', '/orders/ACME-ZZZZ-ZZZZ');
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('NOT_FOUND');
    });
  });

  describe('the promotion quote before checkout', () => {
    async function openCart(items: { productId: string; quantity: number }[]): Promise<string> {
      const cartId = randomUUID();
      for (const item of items) expect((await shop.http('POST', `/carts/${cartId}/items`, item)).status).toBe(200);
      return cartId;
    }
    const quote = (cartId: string, code: string) => shop.http<Quote>('GET', `/carts/${cartId}/promotion-quote?code=${encodeURIComponent(code)}`);

    it('shows the discount a code takes off the cart, and checkout then takes the same', async () => {
      const cartId = await openCart([{ productId: BIRDSEED, quantity: 2 }]);
      const res = await quote(cartId, ' welcome10 ');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ promotionCode: 'WELCOME10', applies: true, subtotal: 2500, discount: 250, total: 2250, currency: 'USD' });
      const checkout = await shop.http<{ discount: number; total: number }>('POST', `/carts/${cartId}/checkout`, { customerId: randomUUID(), promotionCode: 'WELCOME10' });
      expect(checkout.body).toMatchObject({ discount: 250, total: 2250 });
    });

    it('says why a code gives nothing: unknown, expired, or a minimum spend not met', async () => {
      const cartId = await openCart([{ productId: BIRDSEED, quantity: 1 }]);
      expect((await quote(cartId, 'BOGUS')).body).toMatchObject({ promotionCode: 'BOGUS', applies: false, discount: 0, total: 1250, reason: 'UNKNOWN_CODE' });
      expect((await quote(cartId, 'SPRING2024')).body).toMatchObject({ applies: false, reason: 'EXPIRED' });
      expect((await quote(cartId, 'SAVE5')).body).toMatchObject({ applies: false, reason: 'MIN_SPEND_NOT_MET', minSpend: 5000 });
    });

    it('refuses a missing code (400), an unknown cart (404) and a checked-out cart (409)', async () => {
      const cartId = await openCart([{ productId: BIRDSEED, quantity: 1 }]);
      expect((await shop.http('GET', `/carts/${cartId}/promotion-quote?code=`)).status).toBe(400);
      expect((await quote(randomUUID(), 'WELCOME10')).status).toBe(404);
      await shop.http('POST', `/carts/${cartId}/checkout`, { customerId: randomUUID() });
      expect((await quote(cartId, 'WELCOME10')).status).toBe(409);
    });
  });

  /**
   * Removes the checkout's status document from the bucket, as its TTL (BucketTtlMs) does after a
   * day. Embedded, the bucket is in memory and bounded (BucketInMemoryEmbedded): as many newer
   * documents as it keeps push it out.
   */
  async function expireStatus(checkoutIds: string[]): Promise<void> {
    if (mode === 'embedded') {
      const kv = await (await shop.t.system.transportFor('gateway')).kv(Bucket.checkouts);
      for (const id of checkoutIds) expect(await kv.get(id)).toBeDefined();
      for (let i = 0; i < BucketInMemoryEmbedded[Bucket.checkouts]!.maxKeys; i++) await kv.put(`filler-${i}`, '{}');
      for (const id of checkoutIds) expect(await kv.get(id)).toBeUndefined();
      return;
    }
    const admin = await connectNats({ servers: shop.t.nats!.url, ...credentialsFor('admin'), inboxPrefix: '_INBOX.admin' });
    try {
      const kv = await new Kvm(admin.nc).open(Bucket.checkouts);
      for (const id of checkoutIds) await kv.purge(id);
    } finally {
      await admin.drain();
    }
  }

  describe('a checkout whose status document has expired', () => {
    it('is still answered with its final status, by its saga', async () => {
      const confirmed = await checkedOut([{ productId: BIRDSEED, quantity: 1 }]);
      const cancelled = await checkedOut([{ productId: BATSUIT, quantity: 4 }]);
      const before = [await finalStatus(confirmed.checkoutId!), await finalStatus(cancelled.checkoutId!)];
      expect(before.map((d) => d.status)).toEqual(['CONFIRMED', 'CANCELLED']);
      await expireStatus([confirmed.checkoutId!, cancelled.checkoutId!]);

      const after = await Promise.all([confirmed, cancelled].map((c) => shop.http<Record<string, unknown>>('GET', `/checkouts/${c.checkoutId}`)));
      expect(after.map((r) => r.status)).toEqual([200, 200]);
      // The same document, reason and words included; its time is the saga's last change.
      const { updatedAt: _kept, ...kept } = after[1]!.body;
      const { updatedAt: _was, ...was } = before[1] as Record<string, unknown>;
      expect(kept).toEqual(was);
      expect(after[0]!.body).toMatchObject({ status: 'CONFIRMED', step: 'DONE', checkoutId: confirmed.checkoutId, orderId: confirmed.orderId });
      expect((await shop.http('GET', `/checkouts/${randomUUID()}`)).status).toBe(404);
    });
  });

  describe('the cart after a failed checkout', () => {
    it('is reopened with the same lines and the reason, and checks out once the shopper fixes it', async () => {
      const customerId = randomUUID();
      const cart = await checkedOut([{ productId: BATSUIT, quantity: 5 }, { productId: BIRDSEED, quantity: 1 }], customerId);
      expect(await finalStatus(cart.checkoutId!)).toMatchObject({ status: 'CANCELLED', reason: 'OUT_OF_STOCK' });

      let reopenedAs: string | undefined;
      await expect
        .poll(async () => (reopenedAs = (await shop.http<CartBody>('GET', `/carts/${cart.cartId}`)).body.reopenedAs), { timeout: 10_000 })
        .toBeDefined();
      const reopened = await shop.http<CartBody>('GET', `/carts/${reopenedAs}`);
      expect(reopened.status).toBe(200);
      expect(reopened.body).toMatchObject({
        status: 'OPEN',
        customerId,
        items: [{ productId: BATSUIT, quantity: 5 }, { productId: BIRDSEED, quantity: 1 }],
        restoredFrom: { cartId: cart.cartId, reason: 'OUT_OF_STOCK', detail: 'OUT_OF_STOCK' },
      });

      // The shopper lowers the quantity to what is there and checks out again.
      expect((await shop.http('DELETE', `/carts/${reopenedAs}/items/${BATSUIT}?quantity=4`)).status).toBe(200);
      const again = await shop.http<CartBody>('POST', `/carts/${reopenedAs}/checkout`, { customerId });
      expect(again.status).toBe(200);
      expect((await finalStatus(again.body.checkoutId!)).status).toBe('CONFIRMED');
    });
  });
});

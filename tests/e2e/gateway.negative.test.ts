/**
 * Bad requests against the real system through a listening gateway. Each gets its documented
 * status and a `{code, message}` body, and none changes anything: the cart, the stock and the
 * shopper's orders read the same before and after.
 *
 *   malformed JSON, wrong types, bad UUIDs ............ 400 at the gateway (nothing is sent on)
 *   negative / zero / fractional / unsafe quantities .. 400 at the gateway
 *   a quantity over the cart's per-line limit ......... 400 from the Cart API
 *   an unknown product ................................ 400 from the Cart API
 *   an oversized body ................................. 413 at the gateway
 *   an unknown cart ................................... 404 from the Cart API
 *   an empty cart's checkout, a second checkout ....... 409 from the Cart API
 *   a retried checkout with the same Idempotency-Key .. 200, the first answer again
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import type { Cart } from '../../src/contracts/index.ts';
import { startShop, type Shop } from './support/shop-server.ts';

const ANVIL = productIdFor('ACME-ANVIL-01');
const MAGNET = productIdFor('ACME-GIANT-MAG');

describe('gateway with the real system', () => {
  let shop: Shop;
  const customerId = randomUUID();

  beforeAll(async () => {
    shop = await startShop('embedded');
  });
  afterAll(async () => shop?.stop());

  /** Everything a bad request could have changed. */
  const state = async (cartId: string) => ({
    cart: await shop.http('GET', `/carts/${cartId}`).then((r) => ({ status: r.status, body: r.body })),
    anvil: (await shop.http('GET', `/stock/${ANVIL}`)).body,
    magnet: (await shop.http('GET', `/stock/${MAGNET}`)).body,
    orders: (await shop.http('GET', `/customers/${customerId}/orders`)).body,
  });

  const expectProblem = (res: { status: number; body: unknown }, status: number, message: RegExp) => {
    expect(res.status).toBe(status);
    expect(res.body).toEqual({ code: expect.any(String) as string, message: expect.stringMatching(message) as string });
  };

  describe('when a cart receives bad requests', () => {
    const cartId = randomUUID();

    beforeAll(async () => {
      expect((await shop.http('POST', `/carts/${cartId}/items`, { productId: ANVIL, quantity: 2 })).status).toBe(200);
    });

    const cases: [string, () => ReturnType<Shop['http']>, number, RegExp][] = [
      ['malformed JSON', () => shop.http('POST', `/carts/${cartId}/items`, '{"productId": "'), 400, /not valid JSON/],
      ['a quantity of the wrong type', () => shop.http('POST', `/carts/${cartId}/items`, { productId: ANVIL, quantity: '3' }), 400, /body\.quantity/],
      ['a product id of the wrong type', () => shop.http('POST', `/carts/${cartId}/items`, { productId: 7, quantity: 1 }), 400, /body\.productId/],
      ['a negative quantity', () => shop.http('POST', `/carts/${cartId}/items`, { productId: ANVIL, quantity: -5 }), 400, /body\.quantity/],
      ['a zero quantity', () => shop.http('POST', `/carts/${cartId}/items`, { productId: ANVIL, quantity: 0 }), 400, /body\.quantity/],
      ['a huge quantity', () => shop.http('POST', `/carts/${cartId}/items`, { productId: ANVIL, quantity: 1e21 }), 400, /body\.quantity/],
      ['more than the per-line limit', () => shop.http('POST', `/carts/${cartId}/items`, { productId: ANVIL, quantity: 98 }), 400, /at most 99/],
      ['an unknown product', () => shop.http('POST', `/carts/${cartId}/items`, { productId: randomUUID(), quantity: 1 }), 400, /unknown product/],
      ['a bad UUID in the path', () => shop.http('POST', '/carts/12345/items', { productId: ANVIL, quantity: 1 }), 400, /params\.cartId/],
      ['a bad UUID for the product to remove', () => shop.http('DELETE', `/carts/${cartId}/items/anvil`), 400, /params\.productId/],
      ['removing a product not in the cart', () => shop.http('DELETE', `/carts/${cartId}/items/${MAGNET}`), 404, /not in cart/],
      ['removing more than the cart holds', () => shop.http('DELETE', `/carts/${cartId}/items/${ANVIL}?quantity=3`), 400, /holds only 2/],
      ['an oversized body', () => shop.http('POST', `/carts/${cartId}/items`, { productId: ANVIL, quantity: 1, note: 'x'.repeat(64 * 1024) }), 413, /too large/],
      ['a checkout without a customer', () => shop.http('POST', `/carts/${cartId}/checkout`, {}), 400, /body\.customerId/],
      ['a checkout with a bad customer id', () => shop.http('POST', `/carts/${cartId}/checkout`, { customerId: 'bob' }), 400, /body\.customerId/],
    ];

    for (const [what, send, status, message] of cases) {
      it(`answers ${what} with ${status} and changes nothing`, async () => {
        const before = await state(cartId);
        expectProblem(await send(), status, message);
        expect(await state(cartId)).toEqual(before);
      });
    }
  });

  describe('when the cart does not exist', () => {
    it('answers 404 to reading it, removing from it and checking it out, and does not create it', async () => {
      const cartId = randomUUID();
      expectProblem(await shop.http('GET', `/carts/${cartId}`), 404, /not found/);
      expectProblem(await shop.http('DELETE', `/carts/${cartId}/items/${ANVIL}`), 404, /not found/);
      expectProblem(await shop.http('POST', `/carts/${cartId}/checkout`, { customerId }), 404, /not found/);
      expect((await shop.http('GET', `/carts/${cartId}`)).status).toBe(404);
    });
  });

  describe('when an empty cart is checked out', () => {
    it('answers 409 and starts no checkout', async () => {
      const cartId = randomUUID();
      await shop.http('POST', `/carts/${cartId}/items`, { productId: MAGNET, quantity: 1 });
      await shop.http('DELETE', `/carts/${cartId}/items/${MAGNET}`);
      const before = await state(cartId);
      expectProblem(await shop.http('POST', `/carts/${cartId}/checkout`, { customerId }), 409, /empty/);
      expect(await state(cartId)).toEqual(before);
      expect(before.cart.body).toMatchObject({ status: 'OPEN', items: [] });
    });
  });

  describe('when a cart is checked out twice', () => {
    it('answers the second checkout 409 and runs one checkout', async () => {
      const cartId = randomUUID();
      await shop.http('POST', `/carts/${cartId}/items`, { productId: MAGNET, quantity: 1 });
      const first = await shop.http<Cart>('POST', `/carts/${cartId}/checkout`, { customerId });
      expect(first.status).toBe(200);
      await settled(first.body.checkoutId ?? '');
      const before = await state(cartId);
      expectProblem(await shop.http('POST', `/carts/${cartId}/checkout`, { customerId }), 409, /already checked out/);
      expect(await state(cartId)).toEqual(before);
      expect(shop.t.invariants()).toEqual([]);
    });

    it('answers a retry with the same Idempotency-Key with the first result, and runs one checkout', async () => {
      const cartId = randomUUID();
      await shop.http('POST', `/carts/${cartId}/items`, { productId: MAGNET, quantity: 1 });
      const key = { 'idempotency-key': randomUUID() };
      const first = await shop.http<Cart>('POST', `/carts/${cartId}/checkout`, { customerId }, key);
      const retry = await shop.http<Cart>('POST', `/carts/${cartId}/checkout`, { customerId }, key);
      expect(first.status).toBe(200);
      expect(retry.status).toBe(200);
      expect(retry.body).toEqual(first.body);
      expect(retry.headers.get('location')).toBe(first.headers.get('location'));
      await settled(first.body.checkoutId ?? '');
      const orders = (await shop.http<{ orders: { orderId: string }[] }>('GET', `/customers/${customerId}/orders`)).body.orders;
      expect(orders.filter((o) => o.orderId === first.body.orderId)).toHaveLength(1);
      expect(shop.t.invariants()).toEqual([]);
    });
  });

  async function settled(checkoutId: string): Promise<void> {
    await expect
      .poll(async () => (await shop.http<{ status: string }>('GET', `/checkouts/${checkoutId}`)).body.status, { timeout: 10_000 })
      .toMatch(/CONFIRMED|CANCELLED/);
  }
});

/**
 * The gateway's routes, driven with `inject` against the real in-process transport, with stand-in
 * responders for the services: what reaches a service, what the shopper gets back, and that bad
 * input and service trouble are answered without reaching (or waiting on) anything.
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Header } from '../../src/contracts/headers.ts';
import { orderNumberOf } from '../../src/contracts/order-number.ts';
import { Command, Query } from '../../src/contracts/subjects.ts';
import { ErrorCode, RemoteError } from '../../src/runtime/transport/errors.ts';
import { FakeServices } from '../e2e/support/fake-services.ts';

const cartId = '0b9c1a2e-3d4f-4a5b-8c6d-7e8f9a0b1c2d';
const productId = '5d1e2f3a-4b5c-4d6e-9f7a-8b9c0d1e2f3a';
const customerId = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';

const openCart = { cartId, status: 'OPEN', items: [{ productId, quantity: 2, unitPrice: 1250 }], subtotal: 2500, currency: 'USD' };

describe('gateway', () => {
  let fake: FakeServices;
  let app: FastifyInstance;

  beforeEach(async () => {
    fake = new FakeServices();
    app = await fake.app({ config: { rateLimit: false, timeouts: { queryMs: 150, commandMs: 150, checkoutMs: 150 } } });
  });

  afterEach(async () => {
    await app.close();
    await fake.close();
  });

  describe('when a shopper adds an item', () => {
    it('sends add-item-to-cart for that cart and answers the cart', async () => {
      await fake.on(Command.addItemToCart, () => openCart);
      const res = await app.inject({ method: 'POST', url: `/carts/${cartId}/items`, payload: { productId, quantity: 2 } });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual(openCart);
      expect(fake.sentTo(Command.addItemToCart)[0]?.payload).toEqual({ cartId, productId, quantity: 2 });
    });

    it('carries the caller’s correlation id into the NATS headers and the logs, and echoes the request id', async () => {
      await fake.on(Command.addItemToCart, () => openCart);
      const lines: string[] = [];
      await app.close();
      app = await fake.app({ config: { rateLimit: false }, logger: { level: 'info', stream: { write: (l: string) => lines.push(l) } } });
      const res = await app.inject({
        method: 'POST',
        url: `/carts/${cartId}/items`,
        headers: { 'x-request-id': 'req-123', 'x-correlation-id': 'journey-42' },
        payload: { productId, quantity: 2 },
      });
      expect(res.headers['x-request-id']).toBe('req-123');
      expect(res.headers['x-correlation-id']).toBe('journey-42');
      const headers = fake.sentTo(Command.addItemToCart)[0]?.headers ?? {};
      expect(headers[Header.correlationId]).toBe('journey-42');
      expect(headers[Header.causationId]).toBe('req-123');
      const logged = lines.map((l) => JSON.parse(l) as { requestId?: string; correlationId?: string; msg?: string });
      expect(logged.find((l) => l.msg === 'request completed')).toMatchObject({ requestId: 'req-123', correlationId: 'journey-42' });
    });

    it('replaces a request id that could forge log lines', async () => {
      await fake.on(Command.addItemToCart, () => openCart);
      const res = await app.inject({
        method: 'POST',
        url: `/carts/${cartId}/items`,
        headers: { 'x-request-id': 'evil\u0085"} {"level":60' },
        payload: { productId, quantity: 2 },
      });
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    });
  });

  describe('when the request is malformed', () => {
    const post = (payload: string | object, headers: Record<string, string> = {}, url = `/carts/${cartId}/items`) =>
      app.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json', ...headers } });

    const cases: [string, () => Promise<{ statusCode: number; json(): unknown }>, number, RegExp][] = [
      ['malformed JSON', () => post('{"productId": '), 400, /not valid JSON/],
      ['an empty body', () => post(''), 400, /empty/i],
      ['a quantity of the wrong type', () => post({ productId, quantity: 'two' }), 400, /body\.quantity/],
      ['a negative quantity', () => post({ productId, quantity: -1 }), 400, /body\.quantity/],
      ['a zero quantity', () => post({ productId, quantity: 0 }), 400, /body\.quantity/],
      ['a fractional quantity', () => post({ productId, quantity: 1.5 }), 400, /body\.quantity/],
      ['a quantity beyond a safe integer', () => post({ productId, quantity: 1e20 }), 400, /body\.quantity/],
      ['a product id that is not a UUID', () => post({ productId: 'anvil', quantity: 1 }), 400, /body\.productId/],
      ['a missing product id', () => post({ quantity: 1 }), 400, /body\.productId/],
      ['a cart id that is not a UUID', () => post({ productId, quantity: 1 }, {}, '/carts/not-a-uuid/items'), 400, /params\.cartId/],
      ['a body over the size limit', () => post({ productId, quantity: 1, pad: 'x'.repeat(20_000) }), 413, /too large/],
      ['a text body', () => post('quantity=1', { 'content-type': 'text/plain' }), 415, /content-type|media type/i],
      ['a form body', () => post('quantity=1', { 'content-type': 'application/x-www-form-urlencoded' }), 415, /content-type|media type/i],
      ['an Idempotency-Key with spaces', () => post({ productId, quantity: 1 }, { 'idempotency-key': 'a b' }), 400, /idempotency-key/],
    ];

    for (const [what, send, status, message] of cases) {
      it(`answers ${what} with ${status} and {code, message}, and sends nothing to the cart`, async () => {
        await fake.on(Command.addItemToCart, () => openCart);
        const res = await send();
        expect(res.statusCode).toBe(status);
        const body = res.json() as { code: string; message: string };
        expect(Object.keys(body).sort()).toEqual(['code', 'message']);
        expect(body.message).toMatch(message);
        expect(fake.sentTo(Command.addItemToCart)).toHaveLength(0);
      });
    }

    it('validates checkout bodies: a customerId that is not a UUID is named', async () => {
      await fake.on(Command.checkoutCart, () => openCart);
      const res = await post({ customerId: 42 }, {}, `/carts/${cartId}/checkout`);
      expect(res.statusCode).toBe(400);
      expect(res.json<{ message: string }>().message).toMatch(/body\.customerId/);
      expect(fake.sentTo(Command.checkoutCart)).toHaveLength(0);
    });

    it('validates a remove quantity given in the query', async () => {
      await fake.on(Command.removeItemFromCart, () => openCart);
      const res = await app.inject({ method: 'DELETE', url: `/carts/${cartId}/items/${productId}?quantity=-3` });
      expect(res.statusCode).toBe(400);
      expect(res.json<{ message: string }>().message).toMatch(/querystring\.quantity/);
      expect(fake.sentTo(Command.removeItemFromCart)).toHaveLength(0);
    });
  });

  describe('when a service refuses', () => {
    for (const [code, status] of [
      [ErrorCode.badRequest, 400],
      [ErrorCode.notFound, 404],
      [ErrorCode.conflict, 409],
    ] as const) {
      it(`relays ${code} as ${status} with the service’s message`, async () => {
        await fake.on(Command.checkoutCart, () => {
          throw new RemoteError(code, `cart ${cartId} says no`);
        });
        const res = await app.inject({ method: 'POST', url: `/carts/${cartId}/checkout`, payload: { customerId } });
        expect(res.statusCode).toBe(status);
        expect(res.json()).toEqual({ code, message: `cart ${cartId} says no` });
      });
    }
  });

  describe('when a service does not answer', () => {
    it('answers 503 with Retry-After at once when nobody listens', async () => {
      const started = Date.now();
      const res = await app.inject({ method: 'GET', url: `/carts/${cartId}` });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('2');
      expect(res.json()).toEqual({ code: 'SERVICE_UNAVAILABLE', message: expect.any(String) as string });
      expect(Date.now() - started).toBeLessThan(1_000);
    });

    it('answers 503 with Retry-After when the service misses its deadline, not a hang', async () => {
      // Answers long after the deadline (a responder that never answers would hold the transport's drain).
      await fake.on(Query.getStockLevel, () => new Promise((r) => setTimeout(() => r({ productId, available: 1 }), 600)));
      const started = Date.now();
      const res = await app.inject({ method: 'GET', url: `/stock/${productId}` });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('2');
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
      expect(Date.now() - started).toBeLessThan(1_500);
    });

    it('answers 503 when the service says it is unavailable', async () => {
      await fake.on(Command.checkoutCart, () => {
        throw new RemoteError(ErrorCode.unavailable, 'promotion service timed out');
      });
      const res = await app.inject({ method: 'POST', url: `/carts/${cartId}/checkout`, payload: { customerId } });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('2');
      expect(res.body).not.toContain('promotion');
    });
  });

  describe('when a service fails', () => {
    it('answers 502 and leaks nothing of the failure', async () => {
      await fake.on(Query.getOrder, () => {
        throw new Error('SQLITE_CORRUPT at /var/lib/order.db');
      });
      const res = await app.inject({ method: 'GET', url: `/orders/${cartId}` });
      expect(res.statusCode).toBe(502);
      expect(res.json()).toEqual({ code: 'BAD_GATEWAY', message: expect.any(String) as string });
      expect(res.body).not.toMatch(/SQLITE|order\.db|INTERNAL/);
    });

    it('answers 502 for a reply that does not match its schema', async () => {
      await fake.on(Query.getProduct, () => ({ productId, name: 'Anvil' }));
      const res = await app.inject({ method: 'GET', url: `/products/${productId}` });
      expect(res.statusCode).toBe(502);
      expect(res.body).not.toMatch(/sku|unitPrice/);
    });

    it('answers 502 for a reply that is not JSON', async () => {
      await fake.on(Query.listProducts, () => 'not json at all');
      const res = await app.inject({ method: 'GET', url: '/products' });
      expect(res.statusCode).toBe(502);
    });
  });

  describe('when the shopper removes an item', () => {
    it('removes the whole line, or the quantity given', async () => {
      await fake.on(Command.removeItemFromCart, () => openCart);
      await app.inject({ method: 'DELETE', url: `/carts/${cartId}/items/${productId}` });
      await app.inject({ method: 'DELETE', url: `/carts/${cartId}/items/${productId}?quantity=1` });
      expect(fake.sentTo(Command.removeItemFromCart).map((s) => s.payload)).toEqual([
        { cartId, productId },
        { cartId, productId, quantity: 1 },
      ]);
    });
  });

  describe('when the shopper cancels an order', () => {
    it('asks the Order Service to cancel it as CUSTOMER_REQUESTED', async () => {
      const cancelled = { orderId: cartId, customerId, reason: 'CUSTOMER_REQUESTED', cancelledAt: '2026-01-01T00:00:00.000Z' };
      await fake.on(Command.cancelOrder, () => cancelled);
      const res = await app.inject({ method: 'POST', url: `/orders/${cartId}/cancel` });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual(cancelled);
      expect(fake.sentTo(Command.cancelOrder)[0]?.payload).toMatchObject({ orderId: cartId, reason: 'CUSTOMER_REQUESTED' });
    });
  });

  describe('when a shopper looks an order up by its short number', () => {
    const orderId = '3f2a9c41-7d6e-5b8a-9c0d-1e2f3a4b5c6d';
    const order = (id: string) => ({ orderId: id, orderNumber: orderNumberOf(id), customerId, status: 'CREATED', items: [], total: 0, currency: 'USD' });

    it('asks find-orders-by-number with the number as the shop writes it, and answers the one order', async () => {
      await fake.on(Query.findOrdersByNumber, () => ({ orders: [order(orderId)] }));
      const typed = orderNumberOf(orderId).toLowerCase().replace('acme-', '').replace(/-/g, ' ');
      const res = await app.inject({ method: 'GET', url: `/orders/${encodeURIComponent(typed)}` });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual(order(orderId));
      expect(fake.sentTo(Query.findOrdersByNumber)[0]?.payload).toEqual({ orderNumber: orderNumberOf(orderId) });
      expect(fake.sentTo(Query.getOrder)).toEqual([]);
    });

    it('answers 404 when no order has the number, and 409 when two share it', async () => {
      let found = [order(orderId), order(orderId.replace(/d$/, 'e'))];
      await fake.on(Query.findOrdersByNumber, () => ({ orders: found }));
      const conflict = await app.inject({ method: 'GET', url: `/orders/${orderNumberOf(orderId)}` });
      expect(conflict.statusCode).toBe(409);
      expect(conflict.json()).toMatchObject({ code: 'CONFLICT' });
      found = [];
      const none = await app.inject({ method: 'GET', url: `/orders/${orderNumberOf(orderId)}` });
      expect(none.statusCode).toBe(404);
      expect(none.json()).toEqual({ code: 'NOT_FOUND', message: `no order has the number ${orderNumberOf(orderId)}` });
    });

    it('still takes the order id, and refuses what is neither an id nor a number without asking anyone', async () => {
      await fake.on(Query.getOrder, () => order(orderId));
      expect((await app.inject({ method: 'GET', url: `/orders/${orderId}` })).json()).toEqual(order(orderId));
      const bad = await app.inject({ method: 'GET', url: '/orders/ACME-UUUU-0000' });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ code: 'BAD_REQUEST' });
      expect(fake.sentTo(Query.findOrdersByNumber)).toEqual([]);
    });
  });

  it('answers an unknown route with 404 {code, message}', async () => {
    const res = await app.inject({ method: 'GET', url: '/admin/secrets' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ code: 'NOT_FOUND', message: 'no route GET /admin/secrets' });
  });
});

/**
 * Checkout through the gateway: the Location header, Idempotency-Key scoping, and checkout progress
 * read from (and pushed by) the `checkouts` KV bucket, including the moment between the cart's
 * answer and the saga's first report.
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Header } from '../../src/contracts/headers.ts';
import type { CheckoutStatus } from '../../src/contracts/index.ts';
import { Bucket, Command, Query } from '../../src/contracts/subjects.ts';
import { startServer, type RunningServer } from '../../src/gateway/server.ts';
import { checkoutIdsFor } from '../../src/runtime/ids.ts';
import { FakeServices } from '../e2e/support/fake-services.ts';
import { readSse } from '../e2e/support/sse-client.ts';

const cartId = '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f';
const otherCartId = '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a';
const productId = '5d1e2f3a-4b5c-4d6e-9f7a-8b9c0d1e2f3a';
const customerId = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const ids = checkoutIdsFor(cartId);

const checkedOut = (id: string) => ({
  cartId: id,
  customerId,
  status: 'CHECKED_OUT',
  items: [{ productId, quantity: 1, unitPrice: 1250 }],
  subtotal: 1250,
  discount: 0,
  total: 1250,
  currency: 'USD',
  ...checkoutIdsFor(id),
});

const status = (over: Partial<CheckoutStatus>): CheckoutStatus => ({
  checkoutId: ids.checkoutId,
  orderId: ids.orderId,
  cartId,
  customerId,
  status: 'PENDING',
  step: 'AUTHORIZING_PAYMENT',
  total: 1250,
  currency: 'USD',
  updatedAt: '2026-01-01T00:00:00.000Z',
  ...over,
});

describe('gateway checkout', () => {
  let fake: FakeServices;
  let app: FastifyInstance;

  beforeEach(async () => {
    fake = new FakeServices();
    await fake.on(Command.checkoutCart, (p) => checkedOut((p as { cartId: string }).cartId));
    app = await fake.app({ config: { rateLimit: false } });
  });

  afterEach(async () => {
    await app.close();
    await fake.close();
  });

  const checkout = (id: string, headers: Record<string, string> = {}, body: object = { customerId }) =>
    app.inject({ method: 'POST', url: `/carts/${id}/checkout`, headers, payload: body });

  describe('when the cart is checked out', () => {
    it('answers the cart with orderId and checkoutId, and Location pointing at the checkout', async () => {
      const res = await checkout(cartId);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ status: 'CHECKED_OUT', orderId: ids.orderId, checkoutId: ids.checkoutId });
      expect(res.headers.location).toBe(`/checkouts/${ids.checkoutId}`);
    });

    it('shows the checkout as PENDING at its first step before the saga reports', async () => {
      await checkout(cartId);
      const res = await app.inject({ method: 'GET', url: `/checkouts/${ids.checkoutId}` });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ status: 'PENDING', step: 'RESERVING_INVENTORY', orderId: ids.orderId, cartId });
    });
  });

  describe('when an Idempotency-Key is given', () => {
    it('sends one key for a retry of the same checkout, and different keys for another cart or body', async () => {
      await checkout(cartId, { 'idempotency-key': 'k-1' });
      await checkout(cartId, { 'idempotency-key': 'k-1' });
      await checkout(otherCartId, { 'idempotency-key': 'k-1' });
      await checkout(cartId, { 'idempotency-key': 'k-1' }, { customerId, promotionCode: 'WELCOME10' });
      await checkout(cartId);
      const keys = fake.sentTo(Command.checkoutCart).map((s) => s.headers[Header.idempotencyKey]);
      expect(keys[0]).toBeDefined();
      expect(keys[1]).toBe(keys[0]);
      expect(keys[2]).not.toBe(keys[0]);
      expect(keys[3]).not.toBe(keys[0]);
      // Without the header a second checkout is a new request: the cart answers it 409.
      expect(keys[4]).toBeUndefined();
    });
  });

  describe('when the checkout is tracked', () => {
    it('answers the status document the orchestrator wrote', async () => {
      const kv = await fake.transport.kv(Bucket.checkouts);
      const doc = status({ status: 'CANCELLED', step: 'DONE', reason: 'PAYMENT_FAILED', reasonText: 'Your payment was declined.' });
      await kv.put(ids.checkoutId, JSON.stringify(doc));
      const res = await app.inject({ method: 'GET', url: `/checkouts/${ids.checkoutId}` });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual(doc);
    });

    it('recognises a checkout accepted elsewhere when the caller names its cart', async () => {
      await fake.on(Query.getCart, () => checkedOut(cartId));
      const res = await app.inject({ method: 'GET', url: `/checkouts/${ids.checkoutId}?cartId=${cartId}` });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ status: 'PENDING', step: 'RESERVING_INVENTORY' });
    });

    it('does not take a cartId that does not belong to the checkout', async () => {
      await fake.on(Query.getCart, () => checkedOut(otherCartId));
      const res = await app.inject({ method: 'GET', url: `/checkouts/${ids.checkoutId}?cartId=${otherCartId}` });
      expect(res.statusCode).toBe(404);
      expect(fake.sentTo(Query.getCart)).toHaveLength(0);
    });

    it('answers 404 for a checkout nothing knows', async () => {
      const res = await app.inject({ method: 'GET', url: `/checkouts/${ids.checkoutId}` });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({ code: 'NOT_FOUND', message: `checkout ${ids.checkoutId} not found` });
    });

    it('answers 502, saying nothing, for a status document that does not parse', async () => {
      const kv = await fake.transport.kv(Bucket.checkouts);
      await kv.put(ids.checkoutId, '{"status":"WEIRD","secret":"x"}');
      const res = await app.inject({ method: 'GET', url: `/checkouts/${ids.checkoutId}` });
      expect(res.statusCode).toBe(502);
      expect(res.body).not.toMatch(/WEIRD|secret/);
    });
  });

  describe('when the shopper watches the checkout over SSE', () => {
    let server: RunningServer;

    beforeEach(async () => {
      server = await startServer({ transport: fake.transport, port: 0, config: { rateLimit: false, sse: { heartbeatMs: 50 } } });
    });

    afterEach(async () => {
      await server.close();
    });

    it('pushes each change as the orchestrator writes it, and ends after the final one', async () => {
      const kv = await fake.transport.kv(Bucket.checkouts);
      await kv.put(ids.checkoutId, JSON.stringify(status({ step: 'RESERVING_INVENTORY' })));
      const stream = await readSse(`${server.url}/checkouts/${ids.checkoutId}/events`);
      expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect(stream.headers.get('content-security-policy')).toBeTruthy();
      expect((await stream.next()).data).toMatchObject({ status: 'PENDING', step: 'RESERVING_INVENTORY' });
      await kv.put(ids.checkoutId, JSON.stringify(status({ step: 'AUTHORIZING_PAYMENT' })));
      expect((await stream.next()).data).toMatchObject({ status: 'PENDING', step: 'AUTHORIZING_PAYMENT' });
      await kv.put(ids.checkoutId, JSON.stringify(status({ status: 'CONFIRMED', step: 'DONE' })));
      expect((await stream.next()).data).toMatchObject({ status: 'CONFIRMED' });
      await stream.ended();
    });

    it('starts from the accepted placeholder, then the saga’s reports replace it', async () => {
      const res = await fetch(`${server.url}/carts/${cartId}/checkout`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ customerId }),
      });
      const stream = await readSse(`${server.url}${res.headers.get('location') ?? ''}/events`);
      const first = await stream.next();
      expect(first).toMatchObject({ id: '0', data: { status: 'PENDING', step: 'RESERVING_INVENTORY' } });
      const kv = await fake.transport.kv(Bucket.checkouts);
      await kv.put(ids.checkoutId, JSON.stringify(status({ status: 'CANCELLED', step: 'DONE', reason: 'OUT_OF_STOCK', reasonText: 'Sold out.' })));
      expect((await stream.next()).data).toMatchObject({ status: 'CANCELLED', reasonText: 'Sold out.' });
      await stream.ended();
    });

    it('sends keep-alive comments while nothing changes', async () => {
      const kv = await fake.transport.kv(Bucket.checkouts);
      await kv.put(ids.checkoutId, JSON.stringify(status({})));
      const stream = await readSse(`${server.url}/checkouts/${ids.checkoutId}/events`);
      await stream.next();
      await new Promise((r) => setTimeout(r, 180));
      expect(stream.comments).toBeGreaterThanOrEqual(2);
      stream.cancel();
    });

    it('does not resend what a reconnecting browser already has', async () => {
      const kv = await fake.transport.kv(Bucket.checkouts);
      const rev = await kv.put(ids.checkoutId, JSON.stringify(status({ status: 'CONFIRMED', step: 'DONE' })));
      const stream = await readSse(`${server.url}/checkouts/${ids.checkoutId}/events`, { 'last-event-id': String(rev) });
      await stream.ended();
      expect(stream.events).toHaveLength(0);
    });

    it('answers 404 before streaming for an unknown checkout', async () => {
      const res = await fetch(`${server.url}/checkouts/${ids.checkoutId}/events`);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ code: 'NOT_FOUND' });
    });

    it('ends open streams when the server closes, so shutdown does not hang', async () => {
      const kv = await fake.transport.kv(Bucket.checkouts);
      await kv.put(ids.checkoutId, JSON.stringify(status({})));
      const stream = await readSse(`${server.url}/checkouts/${ids.checkoutId}/events`);
      await stream.next();
      const started = Date.now();
      await server.close();
      await stream.ended();
      expect(Date.now() - started).toBeLessThan(2_000);
    });
  });
});

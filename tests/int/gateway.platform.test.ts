/**
 * What every route gets from the platform around it: probes, generated OpenAPI and Swagger UI, the
 * rate limit, security headers, the operator token, the storefront's files, and a 500 that says
 * nothing about its cause.
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Command, pingSubject, Query, type Service } from '../../src/contracts/subjects.ts';
import { FakeServices } from '../e2e/support/fake-services.ts';

const orderId = '3e4f5a6b-7c8d-4e9f-8a1b-2c3d4e5f6a7b';
const customerId = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';

describe('gateway platform', () => {
  let fake: FakeServices;
  let app: FastifyInstance;

  beforeEach(() => {
    fake = new FakeServices();
  });

  afterEach(async () => {
    await app.close();
    await fake.close();
  });

  describe('when probed', () => {
    const services: Service[] = ['cart', 'inventory', 'order'];

    it('is live whatever the services do', async () => {
      app = await fake.app({ config: { services } });
      const res = await app.inject({ method: 'GET', url: '/healthz' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ status: 'ok' });
    });

    it('is ready only when the transport and every service answer', async () => {
      for (const s of services) await fake.on(pingSubject(s), () => ({ ok: true }));
      app = await fake.app({ config: { services } });
      const res = await app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ status: 'ready', checks: { transport: { status: 'up' }, cart: { status: 'up' } } });
    });

    it('is not ready, with Retry-After, naming the service that does not answer', async () => {
      await fake.on(pingSubject('cart'), () => ({ ok: true }));
      await fake.on(pingSubject('order'), () => new Promise((r) => setTimeout(r, 400)));
      app = await fake.app({ config: { services, timeouts: { pingMs: 100 } } });
      const res = await app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBeDefined();
      const body = res.json<{ checks: Record<string, { status: string }> }>();
      expect(body.checks.cart?.status).toBe('up');
      expect(body.checks.inventory?.status).toBe('down');
      expect(body.checks.order?.status).toBe('down');
    });
  });

  describe('when the API is documented', () => {
    it('serves OpenAPI 3.1 generated from the route schemas', async () => {
      app = await fake.app();
      const res = await app.inject({ method: 'GET', url: '/openapi.json' });
      expect(res.statusCode).toBe(200);
      const doc = res.json<{ openapi: string; paths: Record<string, Record<string, { responses: Record<string, { headers?: object }> }>> }>();
      expect(doc.openapi).toBe('3.1.0');
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining(['/carts/{cartId}/items', '/checkouts/{checkoutId}/events', '/orders/{orderId}/complete']),
      );
      expect(doc.paths['/carts/{cartId}/checkout']?.post?.responses['200']?.headers).toHaveProperty('Location');
      expect(doc.paths['/products']?.get?.responses['503']?.headers).toHaveProperty('Retry-After');
      expect(Object.keys(doc.paths)).not.toContain('/');
    });

    it('serves Swagger UI at /docs', async () => {
      app = await fake.app();
      const res = await app.inject({ method: 'GET', url: '/docs/' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/text\/html/);
    });
  });

  describe('when a client sends too many requests', () => {
    it('answers 429 {code, message} with Retry-After, and never throttles the probes', async () => {
      await fake.on(Query.listProducts, () => ({ products: [] }));
      app = await fake.app({ config: { rateLimit: { max: 3, timeWindowMs: 60_000 } } });
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await app.inject({ method: 'GET', url: '/products' })).statusCode);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const res = await app.inject({ method: 'GET', url: '/products' });
      expect(res.headers['retry-after']).toBeDefined();
      expect(res.json()).toMatchObject({ code: 'RATE_LIMITED' });
      expect(fake.sentTo(Query.listProducts)).toHaveLength(3);
      for (let i = 0; i < 5; i++) expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    });
  });

  describe('when pages are served', () => {
    it('sends the storefront with security headers and a strict content policy', async () => {
      app = await fake.app();
      const res = await app.inject({ method: 'GET', url: '/' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/text\/html/);
      expect(res.headers['content-security-policy']).toMatch(/script-src 'self'/);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    });

    it('answers 304 to a browser that has the current file', async () => {
      app = await fake.app();
      const first = await app.inject({ method: 'GET', url: '/app.js' });
      expect(first.headers['content-type']).toMatch(/javascript/);
      const again = await app.inject({ method: 'GET', url: '/app.js', headers: { 'if-none-match': String(first.headers.etag) } });
      expect(again.statusCode).toBe(304);
    });
  });

  describe('when an operator completes an order', () => {
    const completed = { orderId, customerId, completedAt: '2026-01-01T00:00:00.000Z' };

    it('requires the operator token when one is configured', async () => {
      await fake.on(Command.completeOrder, () => completed);
      app = await fake.app({ config: { operatorToken: 's3cret' } });
      const anonymous = await app.inject({ method: 'POST', url: `/orders/${orderId}/complete` });
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.headers['www-authenticate']).toBe('Bearer realm="acme-shop"');
      const wrong = await app.inject({ method: 'POST', url: `/orders/${orderId}/complete`, headers: { authorization: 'Bearer guess' } });
      expect(wrong.statusCode).toBe(401);
      expect(fake.sentTo(Command.completeOrder)).toHaveLength(0);
      const operator = await app.inject({ method: 'POST', url: `/orders/${orderId}/complete`, headers: { authorization: 'Bearer s3cret' } });
      expect(operator.statusCode).toBe(200);
      expect(operator.json()).toEqual(completed);
    });
  });

  describe('when the gateway itself fails', () => {
    it('answers 500 {code, message} and keeps the cause in the log', async () => {
      const lines: string[] = [];
      app = await fake.app({ logger: { level: 'error', stream: { write: (l: string) => lines.push(l) } } });
      app.get('/boom', () => {
        throw new Error('password=hunter2 at db.ts:42');
      });
      const res = await app.inject({ method: 'GET', url: '/boom', headers: { 'x-request-id': 'trace-me' } });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({ code: 'INTERNAL', message: expect.any(String) as string });
      expect(res.body).not.toMatch(/hunter2|db\.ts/);
      const logged = lines.map((l) => JSON.parse(l) as { requestId?: string; err?: { message?: string } });
      expect(logged.some((l) => l.requestId === 'trace-me' && l.err?.message?.includes('hunter2'))).toBe(true);
    });
  });
});

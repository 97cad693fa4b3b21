/**
 * The live saga explorer's API, against the whole system (embedded) behind a tiny Fastify app
 * that registers the plugin under the gateway's CSP, exactly as the gateway will. Its data comes
 * over the transport only: the orchestrator's explorer queries, the participants' public queries
 * and the `checkouts` KV bucket.
 */
import helmet from '@fastify/helmet';
import Fastify, { type FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import type { ListCheckoutsResponse } from '../../src/contracts/index.ts';
import { explorerPlugin } from '../../src/devtools/explorer/plugin.ts';
import { checkoutIdsFor } from '../../src/runtime/ids.ts';
import type { CheckoutView } from '../../src/devtools/explorer/view.ts';
import { readSse } from '../e2e/support/sse-client.ts';
import { startTestSystem, type TestSystem } from '../support/system-fixture.ts';

const BIRDSEED = productIdFor('ACME-BIRDSEED');
const ANVIL = productIdFor('ACME-ANVIL-01');
const SLOWPOKE = randomUUID();

async function until(ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`not ready within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('saga explorer API', () => {
  let t: TestSystem;
  let app: FastifyInstance;
  let base: string;
  let confirmed: { checkoutId: string; orderId: string };
  let declined: { checkoutId: string; orderId: string };
  let stalled: { checkoutId: string; orderId: string };

  const get = async <T>(path: string) => {
    const res = await app.inject({ method: 'GET', url: path });
    return { status: res.statusCode, body: res.json<T>(), headers: res.headers };
  };
  const view = async (id: string) => (await get<CheckoutView>(`/explorer/api/checkouts/${id}`)).body;

  beforeAll(async () => {
    t = await startTestSystem('embedded', (c) => {
      // Long enough that the in-flight checkout is still waiting on payment while the tests look at it.
      c.payment = { ...c.payment, declineAbove: 100_000, stallCustomers: [SLOWPOKE], stallMs: 5_000 };
      c.checkout.deadlines = { ...c.checkout.deadlines, authorizePaymentMs: 15_000 };
    });
    app = Fastify();
    await app.register(helmet, { contentSecurityPolicy: { directives: { 'default-src': ["'self'"], 'script-src': ["'self'"], 'style-src': ["'self'", "'unsafe-inline'"], 'img-src': ["'self'", 'data:'] } } });
    await app.register(explorerPlugin, { transport: await t.system.transportFor('gateway'), pollMs: 100 });
    base = await app.listen({ port: 0, host: '127.0.0.1' });

    confirmed = await t.shopper.buy(randomUUID(), [[BIRDSEED, 2]]);
    declined = await t.shopper.buy(randomUUID(), [[ANVIL, 8]]); // above the 100,000 limit
    await t.shopper.settle(confirmed.checkoutId);
    await t.shopper.settle(declined.checkoutId);
    stalled = await t.shopper.buy(SLOWPOKE, [[BIRDSEED, 1]]);
    await until(async () => (await view(stalled.checkoutId))?.trace?.state === 'authorizingPayment', 5_000);
  });
  afterAll(async () => {
    await app?.close();
    await t?.stop();
  });

  describe('when listing checkouts', () => {
    it('lists only the checkouts still in flight when asked to', async () => {
      const { status, body } = await get<ListCheckoutsResponse>('/explorer/api/checkouts?inFlight=true');
      expect(status).toBe(200);
      const ids = body.checkouts.map((c) => c.checkoutId);
      expect(ids).toContain(stalled.checkoutId);
      expect(ids).not.toContain(confirmed.checkoutId);
      expect(body.checkouts.find((c) => c.checkoutId === stalled.checkoutId)).toMatchObject({ state: 'authorizingPayment', status: 'active', orderId: stalled.orderId });
    });

    it('filters by state, including every state inside a compound one', async () => {
      const inAuth = (await get<ListCheckoutsResponse>('/explorer/api/checkouts?state=authorizingPayment')).body.checkouts.map((c) => c.checkoutId);
      expect(inAuth).toEqual([stalled.checkoutId]);
      const cancelled = (await get<ListCheckoutsResponse>('/explorer/api/checkouts?state=cancelled')).body;
      expect(cancelled.checkouts.map((c) => c.checkoutId)).toEqual([declined.checkoutId]);
      expect(cancelled.checkouts[0]).toMatchObject({ status: 'done', failure: 'PAYMENT_DECLINED' });
      expect(cancelled.facets).toEqual([{ state: 'authorizingPayment', status: 'active', count: 1 }]);
      expect((cancelled as ListCheckoutsResponse & { states: string[] }).states).toEqual(expect.arrayContaining(['idle', 'compensating', 'compensating.voidingPayment.needsAttention', 'cancelled']));
    });

    it('pages with a cursor, without repeating a checkout', async () => {
      const first = (await get<ListCheckoutsResponse>('/explorer/api/checkouts?limit=2')).body;
      expect(first.checkouts).toHaveLength(2);
      expect(first.nextCursor).toBeDefined();
      const second = (await get<ListCheckoutsResponse>(`/explorer/api/checkouts?limit=2&cursor=${first.nextCursor}`)).body;
      expect(second.checkouts.map((c) => c.checkoutId)).toHaveLength(1);
      expect(new Set([...first.checkouts, ...second.checkouts].map((c) => c.checkoutId)).size).toBe(3);
      expect(second.nextCursor).toBeUndefined();
    });

    it('refuses a malformed filter with 400, before asking any service', async () => {
      expect((await get('/explorer/api/checkouts?state=not%20a%20state')).status).toBe(400);
      expect((await get('/explorer/api/checkouts?limit=0')).status).toBe(400);
    });
  });

  describe('when showing one checkout in flight', () => {
    it('shows its journal with times and the ids of the messages that caused each step', async () => {
      const v = await view(stalled.checkoutId);
      expect(v.trace.journal.map((j) => [j.event.type, j.to])).toEqual([
        ['checkout.started', 'reservingInventory'],
        ['inventory.reserved', 'authorizingPayment'],
      ]);
      for (const j of v.trace.journal) {
        expect(Date.parse(j.at)).toBeGreaterThan(Date.now() - 60_000);
        expect(j.messageId).toMatch(/^[0-9a-f-]{36}$/);
      }
      expect(v.trace.journal[0]!.actions.map((a) => a.type)).toEqual(['requestReserveInventory', 'startTimer', 'publishStatus']);
    });

    it('shows the armed deadline, the request still waiting in the outbox, and the undo steps registered so far', async () => {
      const v = await view(stalled.checkoutId);
      expect(v.trace.timers).toEqual([expect.objectContaining({ name: 'authorizePayment', armedAtSeq: 2 })]);
      expect(Date.parse(v.trace.timers[0]!.dueAt)).toBeGreaterThan(Date.now());
      const pending = v.trace.outbox.filter((o) => o.status === 'pending');
      expect(pending).toEqual([expect.objectContaining({ mode: 'request', type: 'authorize-payment', slot: 'authorizePayment', idempotencyKey: `${stalled.checkoutId}:authorize-payment` })]);
      expect(v.trace.compensation).toEqual({ registered: ['voidPayment', 'releaseInventory', 'cancelOrder'], started: false, done: [], pending: [] });
    });

    it('links the order and the participants', async () => {
      const v = await view(stalled.checkoutId);
      expect(v.links.order).toBe(`/orders/${stalled.orderId}`);
      expect(v.participants.map((p) => [p.kind, p.service, p.lastSeen])).toEqual([
        ['reservation', 'inventory', 'held'],
        ['authorization', 'payment', undefined],
        ['order', 'order', undefined],
      ]);
      expect(v.participants[1]!.href).toBe(`/explorer/participants/authorization/${stalled.orderId}?checkout=${stalled.checkoutId}`);
    });

    it('streams a saga from before it starts until it is confirmed', async () => {
      // Ids derive from the cart, so the stream can be open before the checkout exists.
      const cartId = randomUUID();
      const { checkoutId } = checkoutIdsFor(cartId);
      const sse = await readSse(`${base}/explorer/api/checkouts/${checkoutId}/events`);
      try {
        expect((await sse.next()).event).toBe('absent');
        await t.shopper.addItem(cartId, BIRDSEED, 1);
        await t.shopper.checkout(cartId, SLOWPOKE);
        const states: string[] = [];
        while (states[states.length - 1] !== 'confirmed') {
          const e = await sse.next(10_000);
          if (e.event === 'view') states.push((e.data as CheckoutView).trace.state);
        }
        expect(states).toContain('authorizingPayment');
        expect(states.indexOf('authorizingPayment')).toBeLessThan(states.indexOf('confirmed'));
      } finally {
        sse.cancel();
      }
    }, 20_000);
  });

  describe('when time travelling through a compensated checkout', () => {
    it('replays every journal step through the machine to the state the host recorded', async () => {
      const v = await view(declined.checkoutId);
      expect(v.replay).toMatchObject({ consistent: true, divergences: [], machineVersion: '1', storedVersion: '1' });
      expect(v.steps[0]).toMatchObject({ seq: 0, event: null, to: 'idle' });
      expect(v.steps.slice(1).map((s) => s.to)).toEqual(v.trace.journal.map((j) => j.to));
      expect(v.steps.map((s) => s.seq)).toEqual([0, ...v.trace.journal.map((j) => j.seq)]);
      const last = v.steps[v.steps.length - 1]!;
      expect(last.activeIds).toEqual(['checkout.cancelled']);
      expect(last.context).toMatchObject({ failure: 'PAYMENT_DECLINED', compensated: ['voidPayment', 'releaseInventory', 'cancelOrder'] });
    });

    it('names the lines each step went along, eventless routes included', async () => {
      const v = await view(declined.checkoutId);
      const declinedStep = v.steps.find((s) => s.event?.type === 'payment.declined')!;
      expect(declinedStep.takenEdges).toEqual(['checkout.authorizingPayment->checkout.compensating', 'checkout.compensating.next->checkout.compensating.voidingPayment']);
      expect(declinedStep.activeIds).toEqual(['checkout.compensating', 'checkout.compensating.voidingPayment', 'checkout.compensating.voidingPayment.trying']);
    });

    it('shows the compensation steps done, none pending', async () => {
      const v = await view(declined.checkoutId);
      expect(v.trace.compensation).toEqual({ registered: ['voidPayment', 'releaseInventory', 'cancelOrder'], started: true, done: ['voidPayment', 'releaseInventory', 'cancelOrder'], pending: [] });
      expect(v.trace.timers).toEqual([]);
      expect(v.trace.outbox.filter((o) => o.status === 'pending')).toEqual([]);
    });
  });

  describe('when showing a participant', () => {
    it("shows the authorization's live state from the payment service", async () => {
      const { body } = await get<{ state: string; stateSource: string; activeIds: string[]; exchange: unknown[] }>(
        `/explorer/api/participants/authorization/${confirmed.orderId}?checkout=${confirmed.checkoutId}`,
      );
      expect(body).toMatchObject({ state: 'authorized', stateSource: 'live', activeIds: ['authorization.authorized'] });
      expect(body.exchange).toEqual([
        expect.objectContaining({ direction: 'sent', type: 'authorize-payment', status: 'sent' }),
        expect.objectContaining({ direction: 'received', type: 'payment.authorized' }),
      ]);
    });

    it('shows the reservation as the saga last heard it, and says so', async () => {
      const unknown = (await get<{ state?: string; stateSource?: string }>(`/explorer/api/participants/reservation/${randomUUID()}`)).body;
      expect([unknown.state, unknown.stateSource]).toEqual([undefined, undefined]);
      const v = await view(declined.checkoutId);
      const res = await get<{ state: string; stateSource: string }>(`/explorer/api/participants/reservation/${v.trace.participants.reservationId}?checkout=${declined.checkoutId}`);
      expect(res.body).toMatchObject({ state: 'released', stateSource: 'saga' });
    });
  });

  describe('when asked for something that is not there', () => {
    it('answers 404 for an unknown checkout and 400 for an id that is not one', async () => {
      expect(await get(`/explorer/api/checkouts/${randomUUID()}`)).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
      expect(await get('/explorer/api/checkouts/nope')).toMatchObject({ status: 400, body: { code: 'BAD_REQUEST' } });
      expect((await get('/explorer/api/machines/nope')).status).toBe(404);
    });
  });

  describe('when serving the page', () => {
    it('serves everything from itself: no external script, style or font', async () => {
      const page = await app.inject({ method: 'GET', url: `/explorer/checkouts/${stalled.checkoutId}` });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-security-policy']).toContain("script-src 'self'");
      expect(page.body).not.toMatch(/(src|href)="(https?:)?\/\//);
      expect(page.body).not.toMatch(/<script>(?!<\/script>)/); // no inline script
      const js = await app.inject({ method: 'GET', url: '/explorer/assets/explorer.js' });
      expect(js.headers['content-type']).toContain('javascript');
      expect(js.body).not.toMatch(/https?:\/\//);
    });

    it('draws every state of the checkout machine, each addressable for highlighting', async () => {
      const { body } = await get<{ svg: string; mermaid: string }>('/explorer/api/machines/checkout');
      for (const id of ['checkout.idle', 'checkout.authorizingPayment', 'checkout.compensating.next', 'checkout.compensating.voidingPayment.needsAttention', 'checkout.cancelled']) {
        expect(body.svg).toContain(`data-state-id="${id}"`);
      }
      expect(body.mermaid).toContain('next --> voidingPayment : always [mustVoidPayment]');
    });
  });
});

/**
 * The explorer over a real nats-server, as the gateway's NATS user: nats.conf must let it ask the
 * orchestrator's explorer queries, the participants' public queries, and watch the `checkouts`
 * bucket (one key, and all of them). A missing nats-server fails this suite; it never skips.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import type { ListCheckoutsResponse } from '../../src/contracts/index.ts';
import { explorerPlugin } from '../../src/devtools/explorer/plugin.ts';
import type { CheckoutView } from '../../src/devtools/explorer/view.ts';
import { readSse } from '../e2e/support/sse-client.ts';
import { startTestSystem, type TestSystem } from '../support/system-fixture.ts';

describe('saga explorer over NATS, as the gateway user', () => {
  let t: TestSystem;
  let app: FastifyInstance;
  let base: string;
  let cart: { checkoutId: string; orderId: string };

  beforeAll(async () => {
    t = await startTestSystem('nats');
    app = Fastify();
    await app.register(explorerPlugin, { transport: await t.system.transportFor('gateway'), pollMs: 200 });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    cart = await t.shopper.buy(randomUUID(), [[productIdFor('ACME-BIRDSEED'), 1]]);
    await t.shopper.settle(cart.checkoutId);
  });
  afterAll(async () => {
    await app?.close();
    await t?.stop();
  });

  it('lists and traces checkouts, and asks the payment service about a participant', async () => {
    const list = (await app.inject({ method: 'GET', url: '/explorer/api/checkouts?state=confirmed' })).json<ListCheckoutsResponse>();
    expect(list.checkouts.map((c) => c.checkoutId)).toEqual([cart.checkoutId]);
    const view = (await app.inject({ method: 'GET', url: `/explorer/api/checkouts/${cart.checkoutId}` })).json<CheckoutView>();
    expect(view.trace.state).toBe('confirmed');
    expect(view.replay.consistent).toBe(true);
    const participant = await app.inject({ method: 'GET', url: `/explorer/api/participants/authorization/${cart.orderId}` });
    expect(participant.json()).toMatchObject({ state: 'authorized', stateSource: 'live' });
  });

  it('streams a checkout, and changes to any checkout, from the KV bucket', async () => {
    const one = await readSse(`${base}/explorer/api/checkouts/${cart.checkoutId}/events`);
    const all = await readSse(`${base}/explorer/api/checkouts/stream`);
    try {
      expect((await one.next()).event).toBe('view');
      expect((await all.next()).event).toBe('ready');
      const next = await t.shopper.buy(randomUUID(), [[productIdFor('ACME-BIRDSEED'), 1]]);
      let changed: string[] = [];
      while (!changed.includes(next.checkoutId)) {
        const e = await all.next();
        if (e.event === 'changed') changed = [...changed, ...(e.data as { checkoutIds: string[] }).checkoutIds];
      }
      await t.shopper.settle(next.checkoutId);
    } finally {
      one.cancel();
      all.cancel();
    }
  });
});

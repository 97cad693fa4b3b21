/**
 * One KV watch per gateway, whatever the number of SSE streams (#15 item 5): many shoppers watch
 * their checkouts at once, embedded and over a real nats-server (as the `gateway` user of
 * nats.conf), and the gateway holds one watch of the `checkouts` bucket while any stream is open
 * (its `gateway_status_watches` gauge; on NATS, the consumers the server itself lists), none after.
 * Each stream still gets its own checkout's current status, then each change, and ends at the final one.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CheckoutStatus } from '../../src/contracts/index.ts';
import { Bucket } from '../../src/contracts/subjects.ts';
import { startServer, type RunningServer } from '../../src/gateway/server.ts';
import { checkoutIdsFor, uuidv5 } from '../../src/runtime/ids.ts';
import { connectNats } from '../../src/runtime/transport/nats.ts';
import type { Kv } from '../../src/runtime/transport/transport.ts';
import { readSse, type SseReader } from '../e2e/support/sse-client.ts';
import { credentialsFor, startNatsServer, type NatsServerHandle } from '../support/nats-server.ts';
import { inProcessWorlds, natsWorlds, type World, type WorldFactory } from '../support/transport-worlds.ts';

const CHECKOUTS = 20;
const STREAMS_PER_CHECKOUT = 2;
const NS = '7b0e4c3a-2d1f-4e5a-9b8c-6d7e8f9a0b1c';
const customerId = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';

const statusOf = (cartId: string, over: Partial<CheckoutStatus>): string =>
  JSON.stringify({
    ...checkoutIdsFor(cartId),
    cartId,
    customerId,
    status: 'PENDING',
    step: 'RESERVING_INVENTORY',
    total: 1250,
    currency: 'USD',
    updatedAt: '2026-01-01T00:00:00.000Z',
    ...over,
  } satisfies CheckoutStatus);

let server: NatsServerHandle | undefined;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => server?.stop());

/** The value of an unlabelled gauge on the gateway's /metrics. */
async function gauge(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`no ${name} in /metrics`);
  return Number(line.slice(name.length + 1));
}

function sharedWatch(worlds: WorldFactory, consumersOnServer?: () => Promise<number>) {
  describe(`a gateway's SSE streams (${worlds.name})`, () => {
    let world: World;
    let gateway: RunningServer;
    let kv: Kv;

    beforeEach(async () => {
      world = await worlds.world();
      gateway = await startServer({ transport: await world.as('gateway'), port: 0, config: { rateLimit: false } });
      kv = await (await world.as('checkout')).kv(Bucket.checkouts);
    });

    afterEach(async () => {
      await gateway.close();
      await world.close();
    });

    it(`serves ${CHECKOUTS * STREAMS_PER_CHECKOUT} concurrent streams from one watch, each with its own checkout's changes`, async () => {
      const carts = Array.from({ length: CHECKOUTS }, (_, i) => uuidv5(`cart-${i}`, NS));
      for (const cartId of carts) await kv.put(checkoutIdsFor(cartId).checkoutId, statusOf(cartId, {}));
      const streams: { cartId: string; sse: SseReader }[] = [];
      for (const cartId of carts) {
        for (let s = 0; s < STREAMS_PER_CHECKOUT; s++) {
          streams.push({ cartId, sse: await readSse(`${gateway.url}/checkouts/${checkoutIdsFor(cartId).checkoutId}/events`) });
        }
      }
      for (const { sse } of streams) expect((await sse.next()).data).toMatchObject({ status: 'PENDING', step: 'RESERVING_INVENTORY' });

      await expect.poll(() => gauge(gateway.url, 'gateway_status_streams')).toBe(CHECKOUTS * STREAMS_PER_CHECKOUT);
      expect(await gauge(gateway.url, 'gateway_status_watches')).toBe(1);
      if (consumersOnServer) expect(await consumersOnServer()).toBe(1);

      // Every checkout moves on, half confirmed and half cancelled, interleaved across keys.
      for (const cartId of carts) {
        await kv.put(checkoutIdsFor(cartId).checkoutId, statusOf(cartId, { step: 'AUTHORIZING_PAYMENT' }));
      }
      for (const [i, cartId] of carts.entries()) {
        const final = i % 2 === 0 ? { status: 'CONFIRMED' as const, step: 'DONE' as const } : { status: 'CANCELLED' as const, step: 'DONE' as const, reason: 'OUT_OF_STOCK' as const };
        await kv.put(checkoutIdsFor(cartId).checkoutId, statusOf(cartId, final));
      }
      for (const [i, { cartId, sse }] of streams.entries()) {
        await sse.ended();
        const seen = sse.events.map((e) => e.data as CheckoutStatus);
        expect(seen.every((s) => s.cartId === cartId)).toBe(true);
        expect(seen.map((s) => s.step)).toEqual(['RESERVING_INVENTORY', 'AUTHORIZING_PAYMENT', 'DONE']);
        expect(seen.at(-1)?.status).toBe(Math.floor(i / STREAMS_PER_CHECKOUT) % 2 === 0 ? 'CONFIRMED' : 'CANCELLED');
        const ids = sse.events.map((e) => Number(e.id));
        expect(ids).toEqual([...ids].sort((a, b) => a - b));
      }

      // The last stream gone, the watch goes too.
      await expect.poll(() => gauge(gateway.url, 'gateway_status_streams')).toBe(0);
      await expect.poll(() => gauge(gateway.url, 'gateway_status_watches')).toBe(0);
    });

    it('opens the watch again for a later stream, and a reconnect with Last-Event-ID gets only what it lacks', async () => {
      const cartId = uuidv5('cart-late', NS);
      const { checkoutId } = checkoutIdsFor(cartId);
      const first = await kv.put(checkoutId, statusOf(cartId, {}));
      const a = await readSse(`${gateway.url}/checkouts/${checkoutId}/events`);
      expect(await a.next()).toMatchObject({ id: String(first) });
      a.cancel();
      await expect.poll(() => gauge(gateway.url, 'gateway_status_watches')).toBe(0);

      const second = await kv.put(checkoutId, statusOf(cartId, { step: 'AUTHORIZING_PAYMENT' }));
      const b = await readSse(`${gateway.url}/checkouts/${checkoutId}/events`, { 'last-event-id': String(first) });
      expect(await b.next()).toMatchObject({ id: String(second), data: { step: 'AUTHORIZING_PAYMENT' } });
      // The first event is the status read before the stream listens; the watch is up a moment later.
      await expect.poll(() => gauge(gateway.url, 'gateway_status_watches')).toBe(1);
      const final = await kv.put(checkoutId, statusOf(cartId, { status: 'CONFIRMED', step: 'DONE' }));
      expect(await b.next()).toMatchObject({ id: String(final), data: { status: 'CONFIRMED' } });
      await b.ended();
      expect(b.events).toHaveLength(2);

      // Already final: the reconnect gets nothing more and ends at once.
      const c = await readSse(`${gateway.url}/checkouts/${checkoutId}/events`, { 'last-event-id': String(final) });
      await c.ended();
      expect(c.events).toHaveLength(0);
    });
  });
}

sharedWatch(inProcessWorlds());
sharedWatch(natsWorlds(() => server!), async () => {
  // Asked of the server as the admin: the consumers on the bucket's stream right now.
  const admin = await connectNats({ servers: server!.url, ...credentialsFor('admin'), inboxPrefix: '_INBOX.admin' });
  try {
    const jsm = await jetstreamManager(admin.nc);
    let n = 0;
    for await (const _ of jsm.consumers.list(`KV_${Bucket.checkouts}`)) n++;
    return n;
  } finally {
    await admin.drain();
  }
});

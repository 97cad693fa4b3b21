/**
 * One contract, two transports: every test here runs against the embedded in-process transport and
 * against a real nats-server with nats.conf, each service connecting as its own user.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Bucket, Durable, Event, Query, Stream } from '../../src/contracts/subjects.ts';
import {
  ErrorCode,
  NoRespondersError,
  RemoteError,
  RequestTimeoutError,
} from '../../src/runtime/transport/errors.ts';
import type { Delivery, KvEntry, Transport } from '../../src/runtime/transport/transport.ts';
import { startNatsServer, type NatsServerHandle } from '../support/nats-server.ts';
import { sleep, until } from '../support/waiting.ts';
import { inProcessWorlds, natsWorlds, portWorlds, type World, type WorldFactory } from '../support/transport-worlds.ts';

let server: NatsServerHandle | undefined;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await server?.stop();
});


function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const shopping = Stream.shopping;
const consumeOpts = (ackWaitMs: number, maxAckPending?: number) => ({
  stream: shopping.name,
  durable: Durable.checkoutStartsSagas,
  filterSubjects: [Event.cartCheckedOut],
  ackWaitMs,
  ...(maxAckPending !== undefined ? { maxAckPending } : {}),
});

/** The cart publishes `n` cart-checked-out events with bodies {"n":i}. */
async function publishCheckouts(cart: Transport, n: number, from = 1): Promise<void> {
  for (let i = from; i < from + n; i++) {
    await cart.publish(Event.cartCheckedOut, `{"n":${i}}`, { 'ce-id': `evt-${i}` }, `evt-${i}`);
  }
}

function conformance(factory: WorldFactory): void {
  describe(`Transport conformance: ${factory.name}`, () => {
    let world: World;
    beforeEach(async () => {
      world = await factory.world();
    });
    afterEach(async () => {
      await world.close();
    });

    describe('request/reply', () => {
      it('round-trips data and headers', async () => {
        const cart = await world.as('cart');
        await cart.respond(
          Query.getCart,
          (m) => ({
            headers: { 'ce-id': 'reply-1', 'x-echo': m.headers['ce-id'] ?? '' },
            data: `{"got":${m.data}}`,
          }),
          { queue: 'cart' },
        );
        const gateway = await world.as('gateway');
        const reply = await gateway.request(Query.getCart, '{"cartId":"c1"}', {
          timeoutMs: 2000,
          headers: { 'ce-id': 'req-1' },
        });
        expect(reply.data).toBe('{"got":{"cartId":"c1"}}');
        expect(reply.headers['x-echo']).toBe('req-1');
        expect(reply.headers['ce-id']).toBe('reply-1');
      });

      it('times out with RequestTimeoutError', async () => {
        const cart = await world.as('cart');
        await cart.respond(Query.getCart, async () => {
          await sleep(600);
          return { data: '{}' };
        });
        const gateway = await world.as('gateway');
        const err = await gateway.request(Query.getCart, '{}', { timeoutMs: 150 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(RequestTimeoutError);
        expect((err as RequestTimeoutError).subject).toBe(Query.getCart);
      });

      it('fails fast with NoRespondersError when nobody listens', async () => {
        const gateway = await world.as('gateway');
        const started = Date.now();
        const err = await gateway
          .request(Query.getOrder, '{}', { timeoutMs: 5000 })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(NoRespondersError);
        expect(Date.now() - started).toBeLessThan(2000);
      });

      it('surfaces a RemoteError with its code and message', async () => {
        const cart = await world.as('cart');
        await cart.respond(Query.getCart, () => {
          throw new RemoteError(ErrorCode.notFound, 'cart c1 not found');
        });
        const gateway = await world.as('gateway');
        const err = await gateway
          .request(Query.getCart, '{}', { timeoutMs: 2000 })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(RemoteError);
        expect((err as RemoteError).code).toBe(ErrorCode.notFound);
        expect((err as RemoteError).message).toBe('cart c1 not found');
      });

      it('answers INTERNAL for a plain Error without leaking its message', async () => {
        const cart = await world.as('cart');
        await cart.respond(Query.getCart, () => {
          throw new Error('db password is hunter2');
        });
        const gateway = await world.as('gateway');
        const err = await gateway
          .request(Query.getCart, '{}', { timeoutMs: 2000 })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(RemoteError);
        expect((err as RemoteError).code).toBe(ErrorCode.internal);
        expect((err as RemoteError).message).not.toContain('hunter2');
        expect(world.reported.some((e) => (e as Error).message === 'db password is hunter2')).toBe(true);
      });

      it('gives each request to exactly one member of a queue group, and both members get work', async () => {
        const handled = { a: 0, b: 0 };
        for (const member of ['a', 'b'] as const) {
          const cart = await world.as('cart');
          await cart.respond(
            Query.getCart,
            async () => {
              handled[member]++;
              await sleep(1);
              return { data: `"${member}"` };
            },
            { queue: 'cart' },
          );
        }
        const gateway = await world.as('gateway');
        const replies = await Promise.all(
          Array.from({ length: 40 }, () => gateway.request(Query.getCart, '{}', { timeoutMs: 2000 })),
        );
        const byA = replies.filter((r) => r.data === '"a"').length;
        expect(byA + replies.filter((r) => r.data === '"b"').length).toBe(40);
        await sleep(50);
        expect(handled.a + handled.b).toBe(40);
        expect(handled.a).toBeGreaterThan(0);
        expect(handled.b).toBeGreaterThan(0);
      });
    });

    describe('durable events', () => {
      it('de-duplicates a publish by message id', async () => {
        const cart = await world.as('cart');
        await cart.ensureStream(shopping.name, shopping.subjects);
        const first = await cart.publish(Event.cartCheckedOut, '{"n":1}', {}, 'same-id');
        const again = await cart.publish(Event.cartCheckedOut, '{"n":1}', {}, 'same-id');
        const other = await cart.publish(Event.cartCheckedOut, '{"n":2}', {}, 'other-id');
        expect(first).toEqual({ stream: shopping.name, seq: 1, duplicate: false });
        expect(again).toEqual({ stream: shopping.name, seq: 1, duplicate: true });
        expect(other).toEqual({ stream: shopping.name, seq: 2, duplicate: false });
      });

      it('refuses a publish no stream captures with NoRespondersError, and stores nothing', async () => {
        const cart = await world.as('cart');
        const err = await cart.publish(Event.cartCheckedOut, '{}', {}, 'too-early').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(NoRespondersError);
        await cart.ensureStream(shopping.name, shopping.subjects);
        expect(await cart.publish(Event.cartCheckedOut, '{}', {}, 'too-early')).toEqual({ stream: shopping.name, seq: 1, duplicate: false });
      });

      it('still de-duplicates a message id after a restart', async () => {
        const cart = await world.as('cart');
        await cart.ensureStream(shopping.name, shopping.subjects);
        expect(await cart.publish(Event.cartCheckedOut, '{"n":1}', {}, 'kept-id')).toMatchObject({ seq: 1, duplicate: false });
        await world.restart();
        const again = await world.as('cart');
        // A relay re-sending after a crash: the stream still knows the id.
        expect(await again.publish(Event.cartCheckedOut, '{"n":1}', {}, 'kept-id')).toEqual({ stream: shopping.name, seq: 1, duplicate: true });
        expect(await again.publish(Event.cartCheckedOut, '{"n":2}', {}, 'new-id')).toMatchObject({ seq: 2, duplicate: false });
      });

      it('redelivers after a handler throws, flagged as redelivered', async () => {
        const cart = await world.as('cart');
        await cart.ensureStream(shopping.name, shopping.subjects);
        const checkout = await world.as('checkout');
        const seen: Delivery[] = [];
        await checkout.consume(consumeOpts(5000), async (d) => {
          seen.push(d);
          if (seen.length === 1) throw Object.assign(new Error('transient'), { retryAfterMs: 50 });
        });
        await cart.publish(Event.cartCheckedOut, ' {"exact": "bytes"} ', { 'ce-id': 'e1' }, 'e1');
        await until(() => seen.length >= 2);
        expect(seen.map((d) => [d.seq, d.deliveryCount, d.redelivered])).toEqual([
          [1, 1, false],
          [1, 2, true],
        ]);
        expect(seen[1]!.data).toBe(' {"exact": "bytes"} ');
        expect(seen[1]!.subject).toBe(Event.cartCheckedOut);
        expect(seen[1]!.headers['ce-id']).toBe('e1');
      });

      it('keeps a delivery whose handler is still running past several ack waits, and never runs it twice at once', async () => {
        const cart = await world.as('cart');
        await cart.ensureStream(shopping.name, shopping.subjects);
        const checkout = await world.as('checkout');
        const slow = deferred();
        const seen: Delivery[] = [];
        let done = 0;
        // An ack wait of 1 s: on NATS the progress ack goes every third of it, so the process may
        // stall (a loaded CI machine) for about 0.6 s between two without a redelivery. At 300 ms
        // a 0.4 s stall was enough, and the handler ran twice.
        await checkout.consume(consumeOpts(1_000), async (d) => {
          seen.push(d);
          await slow.promise;
          done++;
        });
        await publishCheckouts(cart, 1);
        await until(() => seen.length >= 1);
        await sleep(2_500); // two and a half ack waits: the running handler keeps it (progress acks on NATS)
        slow.resolve();
        await until(() => done === 1);
        await sleep(1_200); // acked: nothing comes again, not even after an ack wait
        expect(seen.map((d) => [d.seq, d.deliveryCount])).toEqual([[1, 1]]);
      });

      it('shares a durable between consumers without processing an acked message twice', async () => {
        const cart = await world.as('cart');
        await cart.ensureStream(shopping.name, shopping.subjects);
        const processed: Record<string, number[]> = { a: [], b: [] };
        for (const member of ['a', 'b'] as const) {
          const checkout = await world.as('checkout');
          await checkout.consume(consumeOpts(10_000, 2), async (d) => {
            processed[member]!.push(d.seq);
            await sleep(5);
          });
        }
        await publishCheckouts(cart, 30);
        const all = (): number[] => [...processed.a!, ...processed.b!];
        await until(() => new Set(all()).size === 30);
        await sleep(300);
        expect(all().sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
        expect(processed.a!.length).toBeGreaterThan(0);
        expect(processed.b!.length).toBeGreaterThan(0);
      });

      it('delivers, in order, messages published before the consumer started', async () => {
        const cart = await world.as('cart');
        await cart.ensureStream(shopping.name, shopping.subjects);
        await publishCheckouts(cart, 3);
        const checkout = await world.as('checkout');
        const seen: Delivery[] = [];
        await checkout.consume(consumeOpts(5000, 1), async (d) => {
          seen.push(d);
        });
        await until(() => seen.length === 3);
        expect(seen.map((d) => [d.seq, d.data, d.redelivered])).toEqual([
          [1, '{"n":1}', false],
          [2, '{"n":2}', false],
          [3, '{"n":3}', false],
        ]);
      });

      it('hands unacked messages to a new consumer after a close and restart', async () => {
        const cart = await world.as('cart');
        await cart.ensureStream(shopping.name, shopping.subjects);
        const checkout = await world.as('checkout');
        const held = deferred();
        const first: Delivery[] = [];
        const closer = await checkout.consume(consumeOpts(1000, 1), async (d) => {
          first.push(d);
          if (d.seq === 2) await held.promise;
        });
        await publishCheckouts(cart, 3);
        await until(() => first.length === 2);
        const closing = closer.close();
        held.reject(new Error('shutting down'));
        await closing;
        await world.restart();

        const again = await world.as('checkout');
        const second: Delivery[] = [];
        await again.consume(consumeOpts(1000, 1), async (d) => {
          second.push(d);
        });
        await until(() => second.length >= 2);
        await sleep(200);
        expect(first.map((d) => d.seq)).toEqual([1, 2]);
        expect(second.map((d) => [d.seq, d.redelivered])).toEqual([
          [2, true],
          [3, false],
        ]);
      });

      it('refuses more than one filter subject per consumer', async () => {
        const cart = await world.as('cart');
        await cart.ensureStream(shopping.name, shopping.subjects);
        const checkout = await world.as('checkout');
        await expect(
          checkout.consume(
            { ...consumeOpts(1000), filterSubjects: [Event.cartCheckedOut, Event.discountCalculated] },
            async () => {},
          ),
        ).rejects.toThrow(/one filter subject/);
      });

      it('is idempotent when ensuring the same stream twice', async () => {
        const cart = await world.as('cart');
        await cart.ensureStream(shopping.name, shopping.subjects);
        const promotion = await world.as('promotion');
        await promotion.ensureStream(shopping.name, shopping.subjects);
        await expect(cart.ensureStream(shopping.name, ['shopping.evt.other'])).rejects.toThrow(
          /exists with subjects/,
        );
      });
    });

    describe('key-value', () => {
      it('puts and gets, with revisions', async () => {
        const checkout = await world.as('checkout');
        const kv = await checkout.kv(Bucket.checkouts);
        expect(await kv.get('c1')).toBeUndefined();
        const r1 = await kv.put('c1', '{"status":"pending"}');
        const r2 = await kv.put('c1', '{"status":"done"}');
        expect(r2).toBeGreaterThan(r1);
        expect(await kv.get('c1')).toEqual({ key: 'c1', value: '{"status":"done"}', revision: r2 });
      });

      it('creates atomically: of two concurrent creates exactly one wins', async () => {
        const one = await world.as('checkout');
        const two = await world.as('checkout');
        const [kv1, kv2] = await Promise.all([one.kv(Bucket.sagaOwners), two.kv(Bucket.sagaOwners)]);
        const results = await Promise.all([kv1.create('chk-1', 'owner-1'), kv2.create('chk-1', 'owner-2')]);
        const winners = results.filter((r) => r === undefined);
        expect(winners).toHaveLength(1);
        const loser = results.find((r) => r !== undefined)!;
        const stored = await kv1.get('chk-1');
        expect(loser).toEqual(stored);
        expect(['owner-1', 'owner-2']).toContain(stored!.value);
        expect(await kv2.create('chk-1', 'owner-3')).toEqual(stored);
      });

      it('updates only from the revision named (0: only if absent): of two racing writers on one revision exactly one wins', async () => {
        const one = await world.as('inventory');
        const two = await world.as('inventory');
        const [kv1, kv2] = await Promise.all([one.kv(Bucket.journalLeases), two.kv(Bucket.journalLeases)]);
        const r1 = await kv1.update('inventory.0', 'a', 0);
        expect(r1).toBeGreaterThan(0);
        expect(await kv2.update('inventory.0', 'b', 0)).toBeUndefined();
        const results = await Promise.all([kv1.update('inventory.0', 'c', r1!), kv2.update('inventory.0', 'd', r1!)]);
        const won = results.filter((r) => r !== undefined);
        expect(won).toHaveLength(1);
        const stored = await kv1.get('inventory.0');
        expect(stored?.revision).toBe(won[0]);
        expect(['c', 'd']).toContain(stored!.value);
        // A writer still naming r1 (a stale owner) is refused; the entry stays as it is.
        expect(await kv2.update('inventory.0', 'stale', r1!)).toBeUndefined();
        expect(await kv1.get('inventory.0')).toEqual(stored);
      });

      it('watches: current values first, then updates, filtered', async () => {
        const checkout = await world.as('checkout');
        const kv = await checkout.kv(Bucket.checkouts);
        await kv.put('c1', 'v1');
        await kv.put('c2', 'other');
        const gateway = await world.as('gateway');
        const gkv = await gateway.kv(Bucket.checkouts);
        const seen: KvEntry[] = [];
        const watcher = await gkv.watch('c1', (e) => seen.push(e));
        await until(() => seen.length >= 1);
        expect(seen[0]).toMatchObject({ key: 'c1', value: 'v1' });
        await kv.put('c2', 'ignored');
        await kv.put('c1', 'v2');
        const last = await kv.put('c1', 'v3');
        // A watcher may skip a value that was already superseded (a NATS bucket keeps one revision
        // per key), but it always arrives at the latest, in revision order.
        await until(() => seen.at(-1)?.value === 'v3');
        expect(seen.at(-1)).toEqual({ key: 'c1', value: 'v3', revision: last });
        expect(seen.every((e) => e.key === 'c1')).toBe(true);
        const revisions = seen.map((e) => e.revision);
        expect(revisions).toEqual([...new Set(revisions)].sort((a, b) => a - b));
        await watcher.close();
        const count = seen.length;
        await kv.put('c1', 'after-close');
        await sleep(100);
        expect(seen).toHaveLength(count);

        const all: string[] = [];
        await gkv.watch('>', (e) => all.push(`${e.key}=${e.value}`));
        await until(() => all.length >= 2);
        await sleep(100);
        expect(all.sort()).toEqual(['c1=after-close', 'c2=ignored']);
      });

      it('watches updates only: no current value, every write after the watch is up, in order', async () => {
        const checkout = await world.as('checkout');
        const kv = await checkout.kv(Bucket.checkouts);
        await kv.put('c1', 'before');
        await kv.put('c2', 'before');
        const gateway = await world.as('gateway');
        const gkv = await gateway.kv(Bucket.checkouts);
        const seen: KvEntry[] = [];
        const watcher = await gkv.watch('>', (e) => seen.push(e), { updatesOnly: true });
        // Written at once after the watch resolves: none may be missed, however late the
        // server-side consumer is created. Three keys, so that no write supersedes another: a
        // bucket keeps one revision per key, and a watcher may skip a value already superseded
        // (the test above). With c1 written twice here, a loaded machine's watcher pulled only
        // after the second, when the first was no longer in the stream: 5 watches in 600 under
        // three busy loops, as in one full suite; with three keys, none in 600.
        const r1 = await kv.put('c1', 'after-1');
        const r2 = await kv.put('c2', 'after-2');
        const r3 = await kv.put('c3', 'after-3');
        await until(() => seen.at(-1)?.revision === r3);
        expect(seen.map((e) => `${e.key}=${e.value}`)).toEqual(['c1=after-1', 'c2=after-2', 'c3=after-3']);
        expect(seen.map((e) => e.revision)).toEqual([r1, r2, r3]);
        await watcher.close();
      });
    });
  });
}

conformance(inProcessWorlds());
conformance(portWorlds());
conformance(natsWorlds(() => server!));

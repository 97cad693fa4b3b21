/**
 * Fast failover on nats-server: a consumer that is alive keeps what it is working on (progress
 * acks), however long past the ack wait; a consumer whose connection dies without acking hands
 * everything it held to the other member within one ack wait, not after the 30 s it once took. A
 * member starting on a durable that exists as asked only looks it up.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Durable, Event, Stream } from '../../src/contracts/subjects.ts';
import { DEFAULT_ACK_WAIT_MS } from '../../src/runtime/transport/consumer-policy.ts';
import { connectNats, type NatsTransport } from '../../src/runtime/transport/nats.ts';
import { credentialsFor, startNatsServer, type NatsServerHandle } from '../support/nats-server.ts';
import { sleep, until } from '../support/waiting.ts';

describe('consumer failover on nats-server', () => {
  let server: NatsServerHandle;
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  const as = (user: 'cart' | 'checkout', name: string): Promise<NatsTransport> =>
    connectNats({ servers: server.url, ...credentialsFor(user), name, inboxPrefix: `_INBOX.${user}`, onError: () => undefined });

  it('holds running deliveries past the ack wait, and hands a dead member\'s to the living within one ack wait', async () => {
    const cart = await as('cart', 'cart');
    await cart.ensureStream(Stream.shopping.name, Stream.shopping.subjects);
    const opts = { stream: Stream.shopping.name, durable: Durable.checkoutStartsSagas, filterSubjects: [Event.cartCheckedOut], ackWaitMs: DEFAULT_ACK_WAIT_MS };
    const dying = await as('checkout', 'dying');
    const living = await as('checkout', 'living');
    const heldByDying = new Set<number>();
    const doneByLiving = new Map<number, number>(); // seq -> when
    // The dying member never finishes anything: it holds what it pulls, as an instance mid-work does.
    await dying.consume(opts, async (d) => {
      heldByDying.add(d.seq);
      await new Promise(() => undefined);
    });
    const n = 40;
    for (let i = 1; i <= n; i++) await cart.publish(Event.cartCheckedOut, `{"n":${i}}`, { 'ce-id': `e${i}` }, `e${i}`);
    await until(() => heldByDying.size > 0, 5_000);
    await living.consume(opts, async (d) => {
      doneByLiving.set(d.seq, Date.now());
    });
    await until(() => heldByDying.size + doneByLiving.size >= n, 10_000);

    // Alive past the ack wait: progress acks keep its messages with it.
    await sleep(DEFAULT_ACK_WAIT_MS + 1_500);
    expect([...heldByDying].filter((s) => doneByLiving.has(s))).toEqual([]);

    // Its connection dies without a word: everything it held goes to the living member.
    const diedAt = Date.now();
    await dying.nc.close();
    await until(() => [...heldByDying].every((s) => doneByLiving.has(s)), DEFAULT_ACK_WAIT_MS + 5_000);
    const resumedAfter = Math.max(...[...heldByDying].map((s) => doneByLiving.get(s)! - diedAt));
    expect(resumedAfter).toBeLessThan(DEFAULT_ACK_WAIT_MS + 2_000);
    expect(doneByLiving.size).toBe(n);
    await living.drain();
    await cart.drain();
  }, 30_000);

  it('a durable that exists with the settings asked is only looked up (no create through the meta leader); with other settings it is updated', async () => {
    const admin = await connectNats({ servers: server.url, user: 'admin', pass: 'admin-dev-secret', name: 'admin', onError: () => undefined });
    const jsm = await jetstreamManager(admin.nc);
    const apiRequests = async () => (await jsm.getAccountInfo()).api.total;
    const cart = await as('cart', 'cart-2');
    await cart.ensureStream(Stream.shopping.name, Stream.shopping.subjects);
    const opts = { stream: Stream.shopping.name, durable: Durable.checkoutStartsSagas, filterSubjects: [Event.cartCheckedOut], ackWaitMs: 7_000 };
    /** The JetStream API requests one consume() made (each count asked costs one request itself). */
    const requestsOf = async (o: typeof opts): Promise<number> => {
      const member = await as('checkout', 'member');
      const before = await apiRequests();
      await member.consume(o, async () => undefined);
      const after = await apiRequests();
      await member.drain();
      return after - before - 1;
    };
    const created = await requestsOf(opts);
    expect((await jsm.consumers.info(opts.stream, opts.durable)).config.ack_wait).toBe(7_000 * 1_000_000);
    const asAsked = await requestsOf(opts);
    const changed = await requestsOf({ ...opts, ackWaitMs: 8_000 });
    expect((await jsm.consumers.info(opts.stream, opts.durable)).config.ack_wait).toBe(8_000 * 1_000_000);
    // Looked up once, against looked up, created (updated) and looked up again.
    expect(changed - asAsked).toBe(2);
    expect(created).toBe(changed);
    await cart.drain();
    await admin.drain();
  });
});

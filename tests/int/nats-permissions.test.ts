/**
 * nats.conf against a real nats-server: each service user can do what its role needs and, for the
 * risky cases, not more. Also what the streams a service creates keep (their retention).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { Bucket, BucketTtlMs, Command, Durable, Event, InventoryInternalCommand, JournalStream, partitionDurable, pingSubject, Query, servedSubject, Service, Stream } from '../../src/contracts/subjects.ts';
import { EVENT_RETENTION_MS } from '../../src/runtime/transport/consumer-policy.ts';
import { connectNats, PermissionDeniedError } from '../../src/runtime/transport/nats.ts';
import { RequestTimeoutError } from '../../src/runtime/transport/errors.ts';
import type { Message, Transport } from '../../src/runtime/transport/transport.ts';
import { credentialsFor, startNatsServer, type NatsServerHandle } from '../support/nats-server.ts';
import { sleep, until } from '../support/waiting.ts';
import { natsWorlds, type World } from '../support/transport-worlds.ts';

let server: NatsServerHandle | undefined;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await server?.stop();
});

describe('nats.conf permissions', () => {
  let world: World;
  beforeEach(async () => {
    world = await natsWorlds(() => server!).world();
  });
  afterEach(async () => {
    await world.close();
  });

  it('does not let the gateway reserve inventory', async () => {
    const inventory = await world.as('inventory');
    const received: Message[] = [];
    await inventory.respond(
      Command.reserveInventory,
      (m) => {
        received.push(m);
        return { data: '{}' };
      },
      { queue: 'inventory' },
    );
    const admin = await world.as('admin');
    const tapped: Message[] = [];
    await admin.subscribeAll!(Command.reserveInventory, (m) => tapped.push(m));

    const gateway = await world.as('gateway');
    const err = await gateway
      .request(Command.reserveInventory, '{}', { timeoutMs: 2000 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermissionDeniedError);
    await sleep(100);
    expect(received).toEqual([]);
    expect(tapped).toEqual([]);
  });

  it('lets the gateway reach every query it serves, and every service\'s ping', async () => {
    const backends = Object.values(Service).filter((s) => s !== Service.gateway);
    for (const service of backends) {
      const t = await world.as(service);
      await t.respond(pingSubject(service), () => ({ data: `"${service}"` }), { queue: service });
    }
    const order = await world.as('order');
    for (const subject of [Command.cancelOrder, Command.completeOrder, Query.getOrder]) {
      await order.respond(subject, (m) => ({ data: JSON.stringify(m.subject) }), { queue: 'order' });
    }
    const gateway = await world.as('gateway');
    for (const service of backends) {
      const r = await gateway.request(pingSubject(service), '{}', { timeoutMs: 2000 });
      expect(r.data).toBe(`"${service}"`);
    }
    for (const subject of [Command.cancelOrder, Command.completeOrder, Query.getOrder]) {
      expect((await gateway.request(subject, '{}', { timeoutMs: 2000 })).data).toBe(JSON.stringify(subject));
    }
    await expect(gateway.request(Command.createOrder, '{}', { timeoutMs: 2000 })).rejects.toBeInstanceOf(
      PermissionDeniedError,
    );
  });

  it('gives the gateway no reply permissions: it answers no request', async () => {
    // With allow_responses, nats-server remembers the reply subject of every message delivered to
    // the user's connections (each KV watch delivery's too) for two minutes, and once it holds more
    // than 4,096 it scans them all at every delivery: a quarter of the server's CPU in the bench
    // (docs/benchmarks.md, "The NATS path: nats-server's reply permissions"). The gateway answers
    // nothing, so it has none; its reply is refused and the asker times out.
    const gateway = await world.as('gateway');
    let asked = 0;
    await gateway.respond(pingSubject(Service.gateway), () => {
      asked++;
      return { data: '"gateway"' };
    });
    const admin = await world.as('admin');
    await expect(admin.request(pingSubject(Service.gateway), '{}', { timeoutMs: 500 })).rejects.toBeInstanceOf(RequestTimeoutError);
    expect(asked).toBe(1);
  });

  it('lets the cart ask the promotion service for a discount, and not the checkout saga steps', async () => {
    const promotion = await world.as('promotion');
    await promotion.respond(Command.calculateDiscount, () => ({ data: '{"discount":5}' }), {
      queue: 'promotion',
    });
    const cart = await world.as('cart');
    expect((await cart.request(Command.calculateDiscount, '{}', { timeoutMs: 2000 })).data).toBe(
      '{"discount":5}',
    );
    await expect(cart.request(Command.authorizePayment, '{}', { timeoutMs: 2000 })).rejects.toBeInstanceOf(
      PermissionDeniedError,
    );
  });

  it('lets the order service ask the Cart API for a product (its SKU), and nothing else of the cart', async () => {
    const cart = await world.as('cart');
    await cart.respond(Query.getProduct, () => ({ data: '{"sku":"ACME-BIRDSEED"}' }), { queue: 'cart' });
    const order = await world.as('order');
    expect((await order.request(Query.getProduct, '{}', { timeoutMs: 2000 })).data).toBe('{"sku":"ACME-BIRDSEED"}');
    await expect(order.request(Query.getCart, '{}', { timeoutMs: 2000 })).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(order.request(Command.addItemToCart, '{}', { timeoutMs: 2000 })).rejects.toBeInstanceOf(PermissionDeniedError);
  });

  it('refuses a responder outside its own service subjects', async () => {
    const gateway = await world.as('gateway');
    await expect(gateway.respond('cart.>', () => ({ data: '{}' }))).rejects.toBeInstanceOf(
      PermissionDeniedError,
    );
    const cart = await world.as('cart');
    await expect(cart.respond(Command.reserveInventory, () => ({ data: '{}' }))).rejects.toBeInstanceOf(
      PermissionDeniedError,
    );
  });

  it("refuses to let one service read another's replies", async () => {
    await expect(
      connectNats({ servers: server!.url, ...credentialsFor('cart'), inboxPrefix: '_INBOX.gateway' }),
    ).rejects.toBeInstanceOf(PermissionDeniedError);
  });

  it('lets the checkout consume cart-checked-out from SHOPPING, whoever creates the stream first', async () => {
    const checkout = await world.as('checkout');
    await checkout.ensureStream(Stream.shopping.name, Stream.shopping.subjects);
    const seen: string[] = [];
    await checkout.consume(
      {
        stream: Stream.shopping.name,
        durable: Durable.checkoutStartsSagas,
        filterSubjects: [Event.cartCheckedOut],
        ackWaitMs: 5000,
      },
      async (d) => {
        seen.push(d.data);
      },
    );
    const cart = await world.as('cart');
    await cart.ensureStream(Stream.shopping.name, Stream.shopping.subjects);
    await cart.publish(Event.cartCheckedOut, '{"cartId":"c1"}', {}, 'c1');
    const promotion = await world.as('promotion');
    await promotion.publish(Event.discountCalculated, '{"cartId":"c1"}', {}, 'd1');
    await until(() => seen.length === 1);
    // The cart may not publish what is the promotion service's to say.
    await expect(cart.publish(Event.discountCalculated, '{}', {}, 'x1')).rejects.toThrow();
  });

  it('lets inventory and payment consume order outcomes from ORDERING', async () => {
    const seen: string[] = [];
    const consumers: [Transport, string, string][] = [];
    const inventory = await world.as('inventory');
    const payment = await world.as('payment');
    consumers.push([inventory, Durable.inventoryOnOrderCancelled, Event.orderCancelled]);
    consumers.push([inventory, Durable.inventoryOnOrderCompleted, Event.orderCompleted]);
    consumers.push([payment, Durable.paymentOnOrderCancelled, Event.orderCancelled]);
    consumers.push([payment, Durable.paymentOnOrderCompleted, Event.orderCompleted]);
    for (const [t, durable, subject] of consumers) {
      await t.ensureStream(Stream.ordering.name, Stream.ordering.subjects);
      await t.consume(
        { stream: Stream.ordering.name, durable, filterSubjects: [subject], ackWaitMs: 5000 },
        async (d) => {
          seen.push(`${durable}:${d.subject}`);
        },
      );
    }
    const order = await world.as('order');
    await order.publish(Event.orderCancelled, '{}', {}, 'o1');
    await order.publish(Event.orderCompleted, '{}', {}, 'o2');
    await until(() => seen.length === 4);
    expect(seen.sort()).toEqual([
      `${Durable.inventoryOnOrderCancelled}:${Event.orderCancelled}`,
      `${Durable.inventoryOnOrderCompleted}:${Event.orderCompleted}`,
      `${Durable.paymentOnOrderCancelled}:${Event.orderCancelled}`,
      `${Durable.paymentOnOrderCompleted}:${Event.orderCompleted}`,
    ]);
    await inventory.ensureStream(Stream.fulfilment.name, Stream.fulfilment.subjects);
    expect((await inventory.publish(Event.inventoryReserved, '{}', {}, 'i1')).duplicate).toBe(false);
    await payment.ensureStream(Stream.payments.name, Stream.payments.subjects);
    expect((await payment.publish(Event.paymentAuthorized, '{}', {}, 'p1')).duplicate).toBe(false);
    // Inventory may not take over the payment service's durable.
    await expect(
      inventory.consume(
        {
          stream: Stream.ordering.name,
          durable: Durable.paymentOnOrderCancelled,
          filterSubjects: [Event.orderCancelled],
          ackWaitMs: 5000,
        },
        async () => {},
      ),
    ).rejects.toThrow();
  });

  it('lets callers reach a partitioned service\'s partitions, and each partition consume through its own durable only', async () => {
    // The saga's steps and the gateway's order and cart requests, each on a partition's subject.
    const order = await world.as('order');
    const payment = await world.as('payment');
    const cart = await world.as('cart');
    const promotion = await world.as('promotion');
    const echo = (m: Message) => ({ data: JSON.stringify(m.subject) });
    await order.respond(servedSubject(Command.createOrder, 3, 4), echo, { queue: 'order' });
    await order.respond(servedSubject(Query.listCustomerOrders, 1, 4), echo, { queue: 'order' });
    await payment.respond(servedSubject(Command.authorizePayment, 2, 4), echo, { queue: 'payment' });
    await cart.respond(servedSubject(Command.checkoutCart, 0, 2), echo, { queue: 'cart' });
    await promotion.respond(servedSubject(Command.calculateDiscount, 1, 2), echo, { queue: 'promotion' });
    const ask = async (t: Transport, subject: string) => (await t.request(subject, '{}', { timeoutMs: 2000 })).data;
    const checkout = await world.as('checkout');
    expect(await ask(checkout, `${Command.createOrder}.3`)).toBe(JSON.stringify(`${Command.createOrder}.3`));
    expect(await ask(checkout, `${Command.authorizePayment}.2`)).toBe(JSON.stringify(`${Command.authorizePayment}.2`));
    const gateway = await world.as('gateway');
    expect(await ask(gateway, `${Query.listCustomerOrders}.1`)).toBe(JSON.stringify(`${Query.listCustomerOrders}.1`));
    expect(await ask(gateway, `${Command.checkoutCart}.0`)).toBe(JSON.stringify(`${Command.checkoutCart}.0`));
    expect(await ask(cart, `${Command.calculateDiscount}.1`)).toBe(JSON.stringify(`${Command.calculateDiscount}.1`));
    // Still no saga step for the gateway, on any partition.
    await expect(gateway.request(`${Command.createOrder}.3`, '{}', { timeoutMs: 2000 })).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(gateway.request(`${Command.authorizePayment}.2`, '{}', { timeoutMs: 2000 })).rejects.toBeInstanceOf(PermissionDeniedError);

    // Partition 2 of 4 of the Payment API and of the Cart API read order events through their own durables.
    const seen: string[] = [];
    const own = [
      [payment, partitionDurable(Durable.paymentOnOrderCancelled, 2, 4), Event.orderCancelled],
      [payment, partitionDurable(Durable.paymentOnOrderCompleted, 7, 8), Event.orderCompleted],
      [cart, partitionDurable(Durable.cartReopensOnOrderCancelled, 2, 4), Event.orderCancelled],
    ] as const;
    for (const [t, durable, subject] of own) {
      await t.ensureStream(Stream.ordering.name, Stream.ordering.subjects);
      await t.consume({ stream: Stream.ordering.name, durable, filterSubjects: [subject], ackWaitMs: 5000 }, async (d) => {
        seen.push(`${durable}:${d.subject}`);
      });
    }
    await order.ensureStream(Stream.ordering.name, Stream.ordering.subjects);
    await order.publish(Event.orderCancelled, '{}', {}, 'po1');
    await order.publish(Event.orderCompleted, '{}', {}, 'po2');
    await until(() => seen.length === 3);
    // The cart may not pull from the payment's partitions' durables.
    await expect(
      cart.consume({ stream: Stream.ordering.name, durable: partitionDurable(Durable.paymentOnOrderCancelled, 2, 4), filterSubjects: [Event.orderCancelled], ackWaitMs: 5000 }, async () => {}),
    ).rejects.toThrow();
  });

  it("lets a partitioned inventory's callers reach its partitions, and only inventory ask a partition for a hold", async () => {
    const inventory = await world.as('inventory');
    const echo = (m: Message) => ({ data: JSON.stringify(m.subject) });
    for (const subject of [Command.reserveInventory, Command.releaseInventory, Query.getStockLevel, ...Object.values(InventoryInternalCommand)]) {
      await inventory.respond(servedSubject(subject, 1, 2), echo, { queue: 'inventory' });
    }
    const ask = async (t: Transport, subject: string) => (await t.request(subject, '{}', { timeoutMs: 2000 })).data;
    const checkout = await world.as('checkout');
    const gateway = await world.as('gateway');
    expect(await ask(checkout, `${Command.reserveInventory}.1`)).toBe(JSON.stringify(`${Command.reserveInventory}.1`));
    expect(await ask(checkout, `${Command.releaseInventory}.1`)).toBe(JSON.stringify(`${Command.releaseInventory}.1`));
    expect(await ask(gateway, `${Query.getStockLevel}.1`)).toBe(JSON.stringify(`${Query.getStockLevel}.1`));
    for (const subject of Object.values(InventoryInternalCommand)) {
      expect(await ask(inventory, `${subject}.1`)).toBe(JSON.stringify(`${subject}.1`));
      await expect(checkout.request(`${subject}.1`, '{}', { timeoutMs: 2000 })).rejects.toBeInstanceOf(PermissionDeniedError);
      await expect(gateway.request(`${subject}.1`, '{}', { timeoutMs: 2000 })).rejects.toBeInstanceOf(PermissionDeniedError);
    }
    await expect(gateway.request(`${Command.reserveInventory}.1`, '{}', { timeoutMs: 2000 })).rejects.toBeInstanceOf(PermissionDeniedError);

    // Partition 5 of 8 reads order events through its own durables.
    const seen: string[] = [];
    await inventory.ensureStream(Stream.ordering.name, Stream.ordering.subjects);
    for (const [durable, subject] of [[Durable.inventoryOnOrderCancelled, Event.orderCancelled], [Durable.inventoryOnOrderCompleted, Event.orderCompleted]] as const) {
      await inventory.consume({ stream: Stream.ordering.name, durable: partitionDurable(durable, 5, 8), filterSubjects: [subject], ackWaitMs: 5000 }, async (d) => {
        seen.push(d.subject);
      });
    }
    const order = await world.as('order');
    await order.ensureStream(Stream.ordering.name, Stream.ordering.subjects);
    await order.publish(Event.orderCancelled, '{}', {}, 'pi1');
    await order.publish(Event.orderCompleted, '{}', {}, 'pi2');
    await until(() => seen.length === 2);
  });

  it('lets the checkout use saga-owners and checkouts, and the gateway read and watch checkouts only', async () => {
    // The gateway may start first: it can create the bucket it watches.
    const gateway = await world.as('gateway');
    const gkv = await gateway.kv(Bucket.checkouts);
    const seen: string[] = [];
    await gkv.watch('>', (e) => seen.push(`${e.key}=${e.value}`));

    const checkout = await world.as('checkout');
    const owners = await checkout.kv(Bucket.sagaOwners);
    expect(await owners.create('chk-1', 'node-a')).toBeUndefined();
    expect((await owners.create('chk-1', 'node-b'))?.value).toBe('node-a');
    const checkouts = await checkout.kv(Bucket.checkouts);
    // More than one pull batch of updates, so the watcher keeps pulling under the gateway's permissions.
    for (let i = 0; i < 300; i++) await checkouts.put('chk-1', `{"i":${i}}`);
    await checkouts.put('chk-1', '{"status":"done"}');
    await until(() => seen.includes('chk-1={"status":"done"}'));
    expect((await gkv.get('chk-1'))?.value).toBe('{"status":"done"}');

    await expect(gkv.put('chk-1', '{"status":"forged"}')).rejects.toThrow();
    await expect(gateway.kv(Bucket.sagaOwners)).rejects.toThrow();
  });
});

describe('stream retention on NATS', () => {
  it("creates a domain stream with the event retention as its max_age, the journals' stream without one, and the checkouts and saga-owners buckets with their TTLs", async () => {
    const world = await natsWorlds(() => server!).world();
    const admin = await connectNats({ servers: server!.url, ...credentialsFor('admin'), inboxPrefix: '_INBOX.admin' });
    try {
      const cart = await world.as('cart');
      await cart.ensureStream(Stream.shopping.name, Stream.shopping.subjects);
      await cart.replicatedLog!(JournalStream.name, JournalStream.subjects);
      const jsm = await jetstreamManager(admin.nc);
      expect((await jsm.streams.info(Stream.shopping.name)).config.max_age).toBe(nanos(EVENT_RETENTION_MS));
      expect((await jsm.streams.info(JournalStream.name)).config.max_age).toBe(0);
      const checkout = await world.as('checkout');
      await checkout.kv(Bucket.checkouts);
      await checkout.kv(Bucket.sagaOwners);
      expect((await jsm.streams.info(`KV_${Bucket.checkouts}`)).config.max_age).toBe(nanos(BucketTtlMs[Bucket.checkouts]!));
      expect((await jsm.streams.info(`KV_${Bucket.sagaOwners}`)).config.max_age).toBe(nanos(BucketTtlMs[Bucket.sagaOwners]!));
    } finally {
      await admin.drain();
      await world.close();
    }
  });
});

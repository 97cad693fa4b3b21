/**
 * Everything on the wire keeps the contract. A wire tap (the admin user, subscribed to `>`) records
 * every message while the flow runs over nats-server; afterwards each message with a `ce-type` is
 * checked against its catalog schema.json with ajv (and our additions against their zod schema),
 * and each carries the CloudEvents headers.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import { CheckoutStatus, isMessageType, messageSchemas } from '../../src/contracts/index.ts';
import { connectNats, type NatsTransport } from '../../src/runtime/transport/nats.ts';
import type { Message } from '../../src/runtime/transport/transport.ts';
import { catalogValidators } from '../support/catalog.ts';
import { startTestSystem, type TestSystem } from '../support/system-fixture.ts';

const BIRDSEED = productIdFor('ACME-BIRDSEED');
const BATSUIT = productIdFor('ACME-BATMAN-SUIT');
const DECLINED = randomUUID();

describe('the wire, over nats-server', () => {
  let t: TestSystem;
  let tap: NatsTransport;
  const seen: Message[] = [];

  beforeAll(async () => {
    t = await startTestSystem('nats', (c) => {
      c.payment = { ...c.payment, declineCustomers: [DECLINED] };
    });
    tap = await connectNats({ servers: t.nats!.url, user: 'admin', pass: 'admin-dev-secret' });
    await tap.subscribeAll('>', (m) => void seen.push(m));

    const happy = await t.shopper.buy(randomUUID(), [[BIRDSEED, 2]], 'WELCOME10');
    const declined = await t.shopper.buy(DECLINED, [[BIRDSEED, 1]]);
    const short = await t.shopper.buy(randomUUID(), [[BATSUIT, 9]]);
    const cancelled = await t.shopper.buy(randomUUID(), [[BIRDSEED, 1]]);
    const completed = await t.shopper.buy(randomUUID(), [[BIRDSEED, 1]]);
    await Promise.all([happy, declined, short, cancelled, completed].map((c) => t.shopper.settle(c.checkoutId)));
    await t.shopper.cancelOrder(cancelled.orderId);
    await t.shopper.completeOrder(completed.orderId);
    await t.shopper.order(happy.orderId);
    await t.shopper.stock(BIRDSEED);
    await new Promise((r) => setTimeout(r, 500)); // let consumers of the last events finish
  }, 60_000);

  afterAll(async () => {
    await tap?.drain();
    await t?.stop();
  });

  const typed = () => seen.filter((m) => m.headers['ce-type']);

  it('sees the flow on the wire', () => {
    const types = new Set(typed().map((m) => m.headers['ce-type']));
    for (const type of [
      'add-item-to-cart', 'checkout-cart', 'cart', 'calculate-discount.request', 'calculate-discount.response',
      'cart-checked-out', 'discount-calculated', 'reserve-inventory', 'inventory-reserved', 'inventory-unavailable',
      'authorize-payment', 'payment-authorized', 'payment-declined', 'create-order', 'order-created',
      'void-payment', 'payment-voided', 'release-inventory', 'inventory-released', 'cancel-order', 'order-cancelled',
      'complete-order', 'order-completed', 'get-order.request', 'get-order.response', 'get-stock-level.request',
      'get-stock-level.response',
    ]) {
      expect(types, type).toContain(type);
    }
  });

  it('every catalog message validates against its catalog schema.json', () => {
    const validatorFor = catalogValidators();
    const failures: string[] = [];
    let checked = 0;
    for (const m of typed()) {
      const validate = validatorFor(m.headers['ce-type']!);
      if (!validate) continue;
      checked++;
      if (!validate(JSON.parse(m.data))) failures.push(`${m.headers['ce-type']} on ${m.subject}: ${JSON.stringify(validate.errors)}`);
    }
    expect(failures).toEqual([]);
    expect(checked).toBeGreaterThan(50);
  });

  it('every message of ours parses with its schema, and carries the CloudEvents headers', () => {
    const failures: string[] = [];
    for (const m of typed()) {
      const type = m.headers['ce-type']!;
      if (!isMessageType(type)) {
        failures.push(`unknown ce-type ${type} on ${m.subject}`);
        continue;
      }
      const r = messageSchemas[type].safeParse(JSON.parse(m.data));
      if (!r.success) failures.push(`${type} on ${m.subject}: ${r.error.message}`);
      for (const h of ['ce-id', 'ce-source', 'ce-time', 'ce-specversion']) if (!m.headers[h]) failures.push(`${type} on ${m.subject} lacks ${h}`);
    }
    expect(failures).toEqual([]);
  });

  it('every checkout status document in KV parses', () => {
    const docs = seen.filter((m) => m.subject.startsWith('$KV.checkouts.'));
    expect(docs.length).toBeGreaterThan(10);
    for (const d of docs) expect(() => CheckoutStatus.parse(JSON.parse(d.data))).not.toThrow();
  });

  it('commands carry an idempotency key derived from the saga and step, never a random one', () => {
    const commands = typed().filter((m) => /^(inventory|payment|order)\.cmd\./.test(m.subject) && m.headers['ce-source']?.includes('checkout'));
    expect(commands.length).toBeGreaterThan(10);
    for (const c of commands) expect(c.headers['ce-idempotencykey']).toMatch(/^[0-9a-f-]{36}:[a-z-]+$/);
  });
});

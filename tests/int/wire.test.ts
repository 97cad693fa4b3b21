/**
 * Everything on the wire keeps the contract. A wire tap (the admin user, subscribed to `>`) records
 * every message while the flow runs over nats-server; afterwards each message with a `ce-type` is
 * checked against its committed JSON Schema (contracts/schemas, the one its `ce-dataschema` names)
 * and its zod schema, and, when the upstream catalog is beside the checkout, against the catalog's
 * schema.json; each carries the CloudEvents headers, and every subject is in the AsyncAPI document.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import { serviceSources } from '../../src/registry.ts';
import { Query } from '../../src/contracts/subjects.ts';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { asyncApiDocument } from '../../src/contracts/artifacts/asyncapi.ts';
import { schemaFile } from '../../src/contracts/artifacts/json-schemas.ts';
import {
  CheckoutStatus,
  dataSchemaOf,
  isMessageType,
  messageSchemas,
  OrderCreated,
  type MessageType,
} from '../../src/contracts/index.ts';
import { connectNats, type NatsTransport } from '../../src/runtime/transport/nats.ts';
import type { Message } from '../../src/runtime/transport/transport.ts';
import { catalogValidators, describeUpstream } from '../support/catalog.ts';
import { startTestSystem, type TestSystem } from '../support/system-fixture.ts';

const BIRDSEED = productIdFor('ACME-BIRDSEED');
const BATSUIT = productIdFor('ACME-BATMAN-SUIT');
const DECLINED = randomUUID();
const root = fileURLToPath(new URL('../..', import.meta.url));

/** Validators of the committed JSON Schemas, by ce-type. */
function committedValidators(): (type: MessageType) => ValidateFunction {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats.default(ajv);
  const compiled = new Map<string, ValidateFunction>();
  return (type) => {
    let v = compiled.get(type);
    if (!v) {
      v = ajv.compile(JSON.parse(readFileSync(`${root}/${schemaFile(type)}`, 'utf8')) as object);
      compiled.set(type, v);
    }
    return v;
  };
}

/** An AsyncAPI channel address as a matcher: `{param}` is one token. */
const addressMatcher = (address: string): RegExp =>
  new RegExp(`^${address.replace(/[.$]/g, (c) => `\\${c}`).replace(/\{[^}]+\}/g, '[^.]+')}$`);

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
    await Promise.all(
      [happy, declined, short, cancelled, completed].map((c) => t.shopper.settle(c.checkoutId)),
    );
    await t.shopper.cancelOrder(cancelled.orderId);
    await t.shopper.completeOrder(completed.orderId);
    // A refusal: a completed order cannot be cancelled (an error reply on the wire).
    await t.shopper.cancelOrder(completed.orderId).catch(() => undefined);
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
      'add-item-to-cart',
      'checkout-cart',
      'cart',
      'calculate-discount.request',
      'calculate-discount.response',
      'cart-checked-out',
      'discount-calculated',
      'reserve-inventory',
      'inventory-reserved',
      'inventory-unavailable',
      'authorize-payment',
      'payment-authorized',
      'payment-declined',
      'create-order',
      'order-created',
      'void-payment',
      'payment-voided',
      'release-inventory',
      'inventory-released',
      'cancel-order',
      'order-cancelled',
      'complete-order',
      'order-completed',
      'get-order.request',
      'get-order.response',
      'get-stock-level.request',
      'get-stock-level.response',
    ]) {
      expect(types, type).toContain(type);
    }
  });

  it('every message validates against the committed JSON Schema its ce-dataschema names', () => {
    const validatorFor = committedValidators();
    const failures: string[] = [];
    for (const m of typed()) {
      const type = m.headers['ce-type']!;
      if (!isMessageType(type)) continue;
      if (m.headers['ce-dataschema'] !== dataSchemaOf(type))
        failures.push(`${type} on ${m.subject}: ce-dataschema ${m.headers['ce-dataschema']}`);
      const validate = validatorFor(type);
      if (!validate(JSON.parse(m.data)))
        failures.push(`${type} on ${m.subject}: ${JSON.stringify(validate.errors)}`);
    }
    expect(failures).toEqual([]);
    expect(typed().length).toBeGreaterThan(100);
  });

  // The replicated journals (journal.<service>.<slot>) are no channel either: a store's own records
  // shipped to the cluster for its rebuild (runtime/replication.ts), never read by another service;
  // nor are the slots' leases (KV journal-leases, runtime/slot-lease.ts), renewed every second, so
  // seen whenever the run outlasts one renewal.
  it('every subject it sees is a channel of the AsyncAPI document (JetStream API, reply inboxes and the journals aside)', () => {
    const doc = asyncApiDocument() as { channels: Record<string, { address: string | null }> };
    const matchers = Object.values(doc.channels).flatMap((c) =>
      c.address ? [addressMatcher(c.address)] : [],
    );
    const subjects = [...new Set(seen.map((m) => m.subject))].filter(
      (s) => !s.startsWith('_INBOX.') && !s.startsWith('$JS.') && !s.startsWith('journal.') && !s.startsWith('$KV.journal-leases.'),
    );
    expect(subjects.length).toBeGreaterThan(20);
    expect(subjects.filter((s) => !matchers.some((r) => r.test(s)))).toEqual([]);
    // Replies arrive on inboxes; the document's `replies` channel says so.
    expect(seen.some((m) => m.subject.startsWith('_INBOX.'))).toBe(true);
    expect(doc.channels.replies?.address).toBeNull();
  });

  it('names each order-created item by the product SKU, not its id', () => {
    const created = typed().filter((m) => m.headers['ce-type'] === 'order-created');
    expect(created.length).toBeGreaterThan(1);
    for (const m of created) {
      for (const item of OrderCreated.parse(JSON.parse(m.data)).items) expect(item.sku).toBe('ACME-BIRDSEED');
    }
  });

  it('carries the SKU on the cart lines to create-order, so the Order Service never asks the Cart API for it', () => {
    const checkedOut = typed().filter((m) => m.headers['ce-type'] === 'cart-checked-out');
    expect(checkedOut.length).toBeGreaterThan(1);
    for (const m of checkedOut) {
      for (const item of (JSON.parse(m.data) as { items: Array<{ productId: string; sku?: string }> }).items) {
        expect(item.sku).toBeDefined();
        expect(productIdFor(item.sku!)).toBe(item.productId);
      }
    }
    const lookups = seen.filter((m) => m.subject === Query.getProduct && m.headers['ce-source'] === serviceSources.order);
    expect(lookups).toEqual([]);
  });

  it('sends error replies as CloudEvents, in the trace and correlation of the request they answer', () => {
    const errors = typed().filter((m) => m.headers['x-error-code']);
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) {
      expect(e.headers).toMatchObject({
        'ce-type': 'error',
        'ce-specversion': '1.0',
        'ce-dataschema': dataSchemaOf('error'),
      });
      const request = seen.find((m) => m.headers['ce-id'] === e.headers['ce-causationid']);
      expect(request, `the request an error on ${e.subject} answers`).toBeDefined();
      expect(e.headers['ce-correlationid']).toBe(request!.headers['ce-correlationid']);
      // A child span of the request's trace: same trace id, new span id.
      expect(e.headers.traceparent?.split('-')[1]).toBe(request!.headers.traceparent?.split('-')[1]);
    }
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
      for (const h of ['ce-id', 'ce-source', 'ce-time', 'ce-specversion'])
        if (!m.headers[h]) failures.push(`${type} on ${m.subject} lacks ${h}`);
    }
    expect(failures).toEqual([]);
  });

  it('every checkout status document in KV parses', () => {
    const docs = seen.filter((m) => m.subject.startsWith('$KV.checkouts.'));
    expect(docs.length).toBeGreaterThan(10);
    for (const d of docs) expect(() => CheckoutStatus.parse(JSON.parse(d.data))).not.toThrow();
  });

  it('commands carry an idempotency key derived from the saga and step, never a random one', () => {
    const commands = typed().filter(
      (m) =>
        /^(inventory|payment|order)\.cmd\./.test(m.subject) && m.headers['ce-source']?.includes('checkout'),
    );
    expect(commands.length).toBeGreaterThan(10);
    for (const c of commands) expect(c.headers['ce-idempotencykey']).toMatch(/^[0-9a-f-]{36}:[a-z-]+$/);
  });

  describeUpstream('against the upstream catalog', () => {
    it('every catalog message validates against its catalog schema.json', () => {
      const validatorFor = catalogValidators();
      const failures: string[] = [];
      let checked = 0;
      for (const m of typed()) {
        const validate = validatorFor(m.headers['ce-type']!);
        if (!validate) continue;
        checked++;
        if (!validate(JSON.parse(m.data)))
          failures.push(`${m.headers['ce-type']} on ${m.subject}: ${JSON.stringify(validate.errors)}`);
      }
      expect(failures).toEqual([]);
      expect(checked).toBeGreaterThan(50);
    });
  });
});

/**
 * The zod schemas in src/contracts must say exactly what the catalog's JSON Schemas say.
 *
 * For every catalog message we compile its schema.json (or openapi.yml schema) with ajv + ajv-formats
 * and check that ajv and zod give the same verdict on a table of payloads generated from one valid
 * sample: the sample in several valid forms, then the sample with each required field deleted and
 * each property (at every depth) replaced by probes of the wrong type, bad formats, values around
 * the minimum, bad patterns and enum values. The same machinery runs over our additions, against the
 * JSON Schema zod generates for them (what the gateway publishes in its OpenAPI document).
 *
 * The catalog is `../shared/catalog` relative to the repo root, both here and in CI.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import {
  AddItemRequest,
  CartItem,
  CheckoutRequest,
  DateTime,
  MessageType,
  Uuid,
  catalogSchemaPath,
  isMessageType,
  messageSchemas,
  type CatalogSchemaRef,
} from '../../src/contracts/index.ts';
import { Command } from '../../src/contracts/subjects.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const catalogRoot = path.resolve(repoRoot, '../shared/catalog');

// ---- JSON Schema plumbing ------------------------------------------------------------------

interface JsonSchema {
  $schema?: string;
  $ref?: string;
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  format?: string;
  pattern?: string;
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  definitions?: Record<string, JsonSchema>;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const ajv = new Ajv({ allErrors: true, strict: true });
addFormats.default(ajv);

function resolvePointer(doc: unknown, pointer: string): unknown {
  if (pointer === '') return doc;
  let node = doc;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (node === null || typeof node !== 'object' || !(key in node)) throw new Error(`no ${pointer}`);
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** Replaces every local `$ref` by a copy of its target, so schemas can be walked without a resolver. */
function inlineRefs(node: unknown, doc: unknown): unknown {
  if (Array.isArray(node)) return node.map((n) => inlineRefs(n, doc));
  if (node === null || typeof node !== 'object') return node;
  const obj = node as Record<string, unknown>;
  if (typeof obj.$ref === 'string') return inlineRefs(resolvePointer(doc, obj.$ref.slice(1)), doc);
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, inlineRefs(v, doc)]));
}

const catalogSchemaCache = new Map<string, JsonSchema>();

/** The catalog's contract for a message, as one self-contained draft-07 schema. */
function loadCatalogSchema(ref: CatalogSchemaRef): JsonSchema {
  const key = `${ref.path}#${ref.pointer}`;
  const cached = catalogSchemaCache.get(key);
  if (cached) return cached;
  const text = readFileSync(path.join(catalogRoot, ref.path), 'utf8');
  const doc: unknown = ref.path.endsWith('.yml') ? parseYaml(text) : JSON.parse(text);
  const sub = inlineRefs(resolvePointer(doc, ref.pointer), doc) as JsonSchema;
  const schema: JsonSchema = { ...sub, $schema: 'http://json-schema.org/draft-07/schema#' };
  catalogSchemaCache.set(key, schema);
  return schema;
}

/** The JSON Schema zod derives from one of our schemas: what we would publish for an addition. */
function zodJsonSchema(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, { target: 'draft-07', io: 'input' }) as JsonSchema;
}

// ---- Samples: one valid payload per message type, every optional field filled in -----------

const id = (n: number): string => `0b9d6f1c-2a3e-4f5a-8b7c-${n.toString(16).padStart(12, '0')}`;
const at = '2025-03-14T15:09:26.535Z';
const priced: Json[] = [
  { productId: id(20), quantity: 2, unitPrice: 1999 },
  { productId: id(21), quantity: 1, unitPrice: 500 },
];
const cartDoc: JsonObject = {
  cartId: id(1),
  customerId: id(2),
  status: 'CHECKED_OUT',
  items: priced,
  subtotal: 4498,
  discount: 400,
  total: 4098,
  currency: 'USD',
  orderId: id(3),
  checkoutId: id(4),
};
const product: JsonObject = {
  productId: id(20),
  sku: 'SKU-TEE-001',
  name: 'Tee',
  description: 'A plain tee',
  unitPrice: 1999,
  currency: 'USD',
  imageUrl: '/img/tee.png',
};
const order: JsonObject = {
  orderId: id(3),
  customerId: id(2),
  status: 'CREATED',
  items: priced,
  total: 4098,
  currency: 'USD',
  createdAt: at,
};
const checkoutStatus: JsonObject = {
  checkoutId: id(4),
  orderId: id(3),
  cartId: id(1),
  customerId: id(2),
  status: 'CANCELLED',
  step: 'DONE',
  reason: 'PAYMENT_FAILED',
  detail: 'PAYMENT_DECLINED',
  reasonText: 'Your card was declined.',
  total: 4098,
  currency: 'USD',
  updatedAt: at,
};

/** Typed as a full Record so that a new MessageType without a sample fails to compile. */
const samples: Record<MessageType, JsonObject> = {
  'add-item-to-cart': { cartId: id(1), productId: id(20), quantity: 2, customerId: id(2) },
  'remove-item-from-cart': { cartId: id(1), productId: id(20), quantity: 1, customerId: id(2) },
  'checkout-cart': { cartId: id(1), customerId: id(2), promotionCode: 'SPRING10' },
  'cart-checked-out': {
    eventId: id(10),
    occurredAt: at,
    cartId: id(1),
    customerId: id(2),
    items: priced,
    subtotal: 4498,
    discount: 400,
    total: 4098,
    currency: 'USD',
  },
  cart: cartDoc,
  'get-cart.request': { cartId: id(1) },
  'get-cart.response': cartDoc,
  'list-products.request': {},
  'list-products.response': { products: [product] },
  'get-product.request': { productId: id(20) },
  'get-product.response': product,
  'calculate-discount.request': {
    cartId: id(1),
    customerId: id(2),
    subtotal: 4498,
    currency: 'USD',
    promotionCode: 'SPRING10',
  },
  'calculate-discount.response': { discount: 400, appliedPromotions: ['SPRING10'] },
  'discount-calculated': {
    eventId: id(11),
    occurredAt: at,
    cartId: id(1),
    discount: 400,
    currency: 'USD',
    appliedPromotions: ['SPRING10'],
  },
  'reserve-inventory': {
    cartId: id(1),
    customerId: id(2),
    items: [{ productId: id(20), quantity: 2 }],
    orderId: id(3),
    reservationId: id(5),
  },
  'inventory-reserved': {
    reservationId: id(5),
    orderId: id(3),
    cartId: id(1),
    items: [{ productId: id(20), quantity: 2 }],
    reservedAt: at,
  },
  'inventory-unavailable': {
    orderId: id(3),
    cartId: id(1),
    unavailableItems: [{ productId: id(20), requested: 2, available: 0 }],
    checkedAt: at,
    reservationId: id(5),
  },
  'release-inventory': { reservationId: id(5), reason: 'CHECKOUT_FAILED' },
  'inventory-released': { reservationId: id(5), orderId: id(3), reason: 'CHECKOUT_FAILED', releasedAt: at },
  'inventory-consumed': { reservationId: id(5), orderId: id(3), consumedAt: at },
  'get-stock-level.request': { productId: id(20) },
  'get-stock-level.response': { productId: id(20), available: 7, reserved: 2 },
  'authorize-payment': { cartId: id(1), customerId: id(2), amount: 4098, currency: 'USD', orderId: id(3) },
  'payment-authorized': {
    authorizationId: id(6),
    orderId: id(3),
    cartId: id(1),
    customerId: id(2),
    amount: 4098,
    currency: 'USD',
    authorizedAt: at,
  },
  'payment-declined': {
    orderId: id(3),
    cartId: id(1),
    reason: 'DECLINED',
    message: 'insufficient funds',
    declinedAt: at,
  },
  'void-payment': { orderId: id(3), authorizationId: id(6), reason: 'CHECKOUT_FAILED' },
  'payment-voided': { orderId: id(3), authorizationId: id(6), voidedAt: at },
  'payment-captured': {
    orderId: id(3),
    authorizationId: id(6),
    amount: 4098,
    currency: 'USD',
    capturedAt: at,
  },
  'get-payment.request': { orderId: id(3) },
  'get-payment.response': {
    orderId: id(3),
    authorizationId: id(6),
    status: 'AUTHORIZED',
    amount: 4098,
    currency: 'USD',
  },
  'create-order': {
    cartId: id(1),
    customerId: id(2),
    items: priced,
    total: 4098,
    currency: 'USD',
    paymentAuthorizationId: id(6),
    orderId: id(3),
  },
  'order-created': {
    orderId: id(3),
    customerId: id(2),
    total: 4098,
    currency: 'USD',
    status: 'created',
    items: [{ sku: 'SKU-TEE-001', quantity: 2, unitPrice: 1999 }],
    createdAt: at,
  },
  'order-rejected': { orderId: id(3), reason: 'duplicate cart', rejectedAt: at },
  'cancel-order': {
    orderId: id(3),
    reason: 'PAYMENT_FAILED',
    detail: 'PAYMENT_TIMEOUT',
    cartId: id(1),
    customerId: id(2),
    items: priced,
    total: 4098,
    currency: 'USD',
    requestedBy: id(2),
  },
  'order-cancelled': {
    orderId: id(3),
    customerId: id(2),
    reason: 'PAYMENT_FAILED',
    cancelledAt: at,
    detail: 'PAYMENT_TIMEOUT',
  },
  'complete-order': { orderId: id(3) },
  'order-completed': { orderId: id(3), customerId: id(2), completedAt: at },
  'get-order.request': { orderId: id(3), requestedBy: id(2) },
  'get-order.response': order,
  'list-customer-orders.request': { customerId: id(2) },
  'list-customer-orders.response': { orders: [order, { ...order, orderId: id(7), status: 'CANCELLED' }] },
  'checkout-status-changed': checkoutStatus,
  'get-checkout.request': { checkoutId: id(4) },
  'get-checkout.response': checkoutStatus,
  error: { code: 'NOT_FOUND', message: 'cart not found' },
};

/** Fields we add to catalog messages (decisions 2, 3, 4, 7). Each must be optional. */
const expectedExtensions: Partial<Record<MessageType, string[]>> = {
  cart: ['checkoutId', 'orderId'],
  // The acting customer (AUTH=jwt): a cart belongs to its first toucher, an order to its cart's customer.
  'add-item-to-cart': ['customerId'],
  'remove-item-from-cart': ['customerId'],
  'get-order.request': ['requestedBy'],
  'get-cart.response': ['checkoutId', 'orderId'],
  'reserve-inventory': ['orderId', 'reservationId'],
  'inventory-unavailable': ['reservationId'],
  'authorize-payment': ['orderId'],
  'create-order': ['orderId'],
  'cancel-order': ['cartId', 'currency', 'customerId', 'detail', 'items', 'requestedBy', 'total'],
  'order-cancelled': ['detail'],
};

// ---- Probes --------------------------------------------------------------------------------

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

const UUID_PROBES = [
  '0B9D6F1C-2A3E-4F5A-8B7C-00000000000A',
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '0b9d6f1c-2a3e-0f5a-0b7c-000000000001',
  'urn:uuid:0b9d6f1c-2a3e-4f5a-8b7c-000000000001',
  'URN:UUID:0b9d6f1c-2a3e-4f5a-8b7c-000000000001',
  'not-a-uuid',
  '0b9d6f1c-2a3e-4f5a-8b7c-00000000001',
  '0b9d6f1c-2a3e-4f5a-8b7c-0000000000001',
  '0b9d6f1c2a3e4f5a8b7c000000000001',
  '{0b9d6f1c-2a3e-4f5a-8b7c-000000000001}',
  'gb9d6f1c-2a3e-4f5a-8b7c-000000000001',
  ' 0b9d6f1c-2a3e-4f5a-8b7c-000000000001',
  '0b9d6f1c-2a3e-4f5a-8b7c-000000000001\n',
  '0b9d6f1c2-a3e-4f5a-8b7c-000000000001',
  'uuid:0b9d6f1c-2a3e-4f5a-8b7c-000000000001',
];

const DATE_TIME_PROBES = [
  '2025-03-14T15:09:26Z',
  '2025-03-14T15:09:26.535123Z',
  '2025-03-14t15:09:26z',
  '2025-03-14 15:09:26Z',
  '2025-03-14T15:09:26+01:00',
  '2025-03-14T15:09:26-05:30',
  '2025-03-14T15:09:26+0100',
  '2025-03-14T15:09:26+01',
  '2024-02-29T00:00:00Z',
  '2000-02-29T00:00:00Z',
  '2016-12-31T23:59:60Z',
  '2016-12-31T18:59:60-05:00',
  '2025-02-29T00:00:00Z',
  '2100-02-29T00:00:00Z',
  '2025-13-01T00:00:00Z',
  '2025-00-10T00:00:00Z',
  '2025-04-31T00:00:00Z',
  '2025-03-32T00:00:00Z',
  '2025-03-14T24:00:00Z',
  '2025-03-14T15:60:00Z',
  '2025-03-14T15:09:60Z',
  '2025-03-14T15:09:26',
  '2025-03-14',
  '15:09:26Z',
  '2025-03-14T15:09:26+24:00',
  '2025-03-14T15:09:26+01:60',
  '2025-03-14T15:09:26+1:00',
  '2025-03-14TT15:09:26Z',
  '2025-3-14T15:09:26Z',
  '2025-03-14T15:09:26Z ',
  '2025-03-14T15:09:26.Z',
  'Fri, 14 Mar 2025 15:09:26 GMT',
  '1741964966',
];

const PATTERN_PROBES = ['EUR', 'usd', 'US', 'USDX', ' USD', 'USD\n', 'U$D', 'ÉUR', 'Usd'];

function probesFor(node: JsonSchema): Array<[string, Json]> {
  const out: Array<[string, Json]> = [['null', null]];
  switch (node.type) {
    case 'string':
      out.push(
        ['a number', 123],
        ['a boolean', true],
        ['an array', []],
        ['an object', {}],
        ['empty', ''],
        ['long', 'x'.repeat(500)],
      );
      if (node.format === 'uuid') for (const s of UUID_PROBES) out.push([`uuid ${JSON.stringify(s)}`, s]);
      if (node.format === 'date-time')
        for (const s of DATE_TIME_PROBES) out.push([`date-time ${JSON.stringify(s)}`, s]);
      if (node.pattern !== undefined)
        for (const s of PATTERN_PROBES) out.push([`pattern ${JSON.stringify(s)}`, s]);
      for (const v of node.enum ?? (node.const === undefined ? [] : [node.const])) {
        const s = String(v);
        out.push(
          [`enum ${s}`, s],
          [`enum ${s} lowercased`, s.toLowerCase()],
          [`enum ${s} uppercased`, s.toUpperCase()],
          [`enum ${s} padded`, ` ${s}`],
        );
      }
      if (node.enum !== undefined || node.const !== undefined) out.push(['not in enum', 'NOT_A_VALUE']);
      break;
    case 'integer':
      out.push(
        ['a string', '1'],
        ['a fraction', 1.5],
        ['a boolean', false],
        ['an array', [1]],
        ['zero', 0],
        ['minus one', -1],
        ['2^31', 2 ** 31],
        ['max safe integer', MAX_SAFE],
        ['min safe integer', -MAX_SAFE],
      );
      if (node.minimum !== undefined && node.minimum > -MAX_SAFE) {
        out.push(
          ['the minimum', node.minimum],
          ['below the minimum', node.minimum - 1],
          ['far below the minimum', node.minimum - 1000],
        );
      }
      break;
    case 'array':
      out.push(
        ['an object', {}],
        ['a string', 'x'],
        ['empty', []],
        ['[null]', [null]],
        ['["x"]', ['x']],
        ['[1]', [1]],
      );
      break;
    case 'object':
      out.push(['an array', []], ['a string', 'x'], ['empty', {}]);
      break;
    default:
      throw new Error(`no probes for type ${String(node.type)}`);
  }
  return out;
}

type Path = Array<string | number>;
const DELETE = Symbol('delete');

function setAt(root: Json, at: Path, value: Json | typeof DELETE): Json {
  const copy = structuredClone(root);
  if (at.length === 0) {
    if (value === DELETE) throw new Error('cannot delete the root');
    return value;
  }
  let node: Json = copy;
  for (const key of at.slice(0, -1)) node = (node as Record<string | number, Json>)[key] as Json;
  const last = at[at.length - 1] as string | number;
  if (value === DELETE) delete (node as Record<string | number, Json>)[last];
  else (node as Record<string | number, Json>)[last] = value;
  return copy;
}

interface Case {
  label: string;
  payload: Json;
  /** Generated by deleting a required field: the contract must reject it. */
  mustFail?: boolean;
}

/** Counter-examples and variations, generated mechanically from one valid sample. */
function generateCases(schema: JsonSchema, sample: Json): Case[] {
  const cases: Case[] = [];
  const walk = (node: JsonSchema, value: Json, at: Path): void => {
    const where = at.length === 0 ? '(root)' : at.join('.');
    if (node.type === 'object' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const key of node.required ?? []) {
        if (key in value)
          cases.push({
            label: `${where}: without required ${key}`,
            payload: setAt(sample, [...at, key], DELETE),
            mustFail: true,
          });
      }
      cases.push({
        label: `${where}: with an unknown field`,
        payload: setAt(sample, [...at, 'unknownField'], { nested: [1, 'two'] }),
      });
      for (const [key, propSchema] of Object.entries(node.properties ?? {})) {
        const child = value[key];
        if (child === undefined) continue;
        for (const [label, probe] of probesFor(propSchema)) {
          cases.push({ label: `${where}.${key}: ${label}`, payload: setAt(sample, [...at, key], probe) });
        }
        walk(propSchema, child, [...at, key]);
      }
    } else if (node.type === 'array' && Array.isArray(value) && node.items) {
      const first = value[0];
      if (first !== undefined) {
        for (const [label, probe] of probesFor(node.items)) {
          cases.push({ label: `${where}[0]: ${label}`, payload: setAt(sample, [...at, 0], probe) });
        }
        cases.push({
          label: `${where}: twice the first element`,
          payload: setAt(sample, at, [first, first]),
        });
        walk(node.items, first, [...at, 0]);
      }
    }
  };
  for (const [label, probe] of probesFor({ type: 'object' }))
    cases.push({ label: `(root): ${label}`, payload: probe });
  walk(schema, sample, []);
  return cases;
}

/** The sample cut down to what `schema` knows about (`requiredOnly`: to its required fields). */
function prune(schema: JsonSchema, value: Json, requiredOnly: boolean): Json {
  if (schema.type === 'object' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const keep = requiredOnly ? (schema.required ?? []) : Object.keys(schema.properties ?? {});
    const out: JsonObject = {};
    for (const key of keep) {
      const child = value[key];
      const childSchema = schema.properties?.[key];
      if (child !== undefined) out[key] = childSchema ? prune(childSchema, child, requiredOnly) : child;
    }
    return out;
  }
  if (schema.type === 'array' && Array.isArray(value) && schema.items) {
    const items = schema.items;
    return value.map((v) => prune(items, v, requiredOnly));
  }
  return value;
}

/** The sample with an unknown field added to every object in it. */
function withUnknownFields(value: Json): Json {
  if (Array.isArray(value)) return value.map(withUnknownFields);
  if (value !== null && typeof value === 'object') {
    const out: JsonObject = { unknownField: 'extra' };
    for (const [k, v] of Object.entries(value)) out[k] = withUnknownFields(v);
    return out;
  }
  return value;
}

interface Verdicts {
  label: string;
  ajv: boolean;
  zod: boolean;
}

function verdicts(validate: ValidateFunction, schema: z.ZodType, cases: Case[]): Verdicts[] {
  return cases.map((c) => ({
    label: c.label,
    ajv: validate(c.payload),
    zod: schema.safeParse(c.payload).success,
  }));
}

function disagreements(results: Verdicts[]): Verdicts[] {
  return results.filter((r) => r.ajv !== r.zod);
}

const catalogTypes = Object.keys(catalogSchemaPath).filter(isMessageType);
const additionTypes = Object.values(MessageType).filter((t) => catalogSchemaPath[t] === undefined);

function catalogRef(type: MessageType): CatalogSchemaRef {
  const ref = catalogSchemaPath[type];
  if (!ref) throw new Error(`${type} is not a catalog message`);
  return ref;
}

// ---- The registry --------------------------------------------------------------------------

describe('the message registry', () => {
  it('has a zod schema for every MessageType, and nothing else', () => {
    const types = Object.values(MessageType);
    expect(new Set(types).size).toBe(types.length);
    for (const [key, type] of Object.entries(MessageType)) {
      expect(messageSchemas[type], key).toBeInstanceOf(z.ZodType);
    }
    expect(Object.keys(messageSchemas).sort()).toEqual([...types].sort());
  });

  it('names each type like the catalog: kebab-case ids, with .request/.response for query halves', () => {
    for (const type of Object.values(MessageType))
      expect(type).toMatch(/^[a-z]+(-[a-z]+)*(\.(request|response))?$/);
  });

  it('points every catalog message at a schema that exists', () => {
    for (const type of catalogTypes) {
      const ref = catalogRef(type);
      expect(existsSync(path.join(catalogRoot, ref.path)), ref.path).toBe(true);
      expect(() => loadCatalogSchema(ref), type).not.toThrow();
    }
  });

  it('covers every schema.json of the services in Place an Order (except superseded versions)', () => {
    const services = [
      'domains/Shopping/systems/cart-system/services/CartAPI',
      'domains/Shopping/systems/promotion-system/services/PromotionService',
      'domains/Ordering/systems/checkout-system/services/CheckoutOrchestrator',
      'domains/Ordering/systems/order-management-system/services/OrderService',
      'domains/Fulfilment/systems/inventory-system/services/InventoryService',
    ];
    const found: string[] = [];
    const visit = (rel: string): void => {
      for (const entry of readdirSync(path.join(catalogRoot, rel))) {
        const child = `${rel}/${entry}`;
        if (entry === 'versioned') continue;
        if (statSync(path.join(catalogRoot, child)).isDirectory()) visit(child);
        else if (entry === 'schema.json') found.push(child);
      }
    };
    for (const s of services) visit(s);
    const referenced = new Set(catalogTypes.map((t) => catalogRef(t).path));
    expect(found.length).toBe(18);
    expect(found.filter((f) => !referenced.has(f))).toEqual([]);
  });

  it('has a request type for every command and query subject', () => {
    // `cart.cmd.add-item-to-cart` -> `add-item-to-cart`, `order.qry.get-order` -> `get-order.request`
    for (const subject of Object.values(Command)) {
      const [, kind, name] = subject.split('.');
      const type = kind === 'qry' || name === 'calculate-discount' ? `${name}.request` : name;
      expect(isMessageType(type ?? ''), subject).toBe(true);
    }
  });
});

// ---- Catalog messages: zod agrees with the catalog -----------------------------------------

describe.each(catalogTypes)('catalog message %s', (type) => {
  const catalog = loadCatalogSchema(catalogRef(type));
  const validate = ajv.compile(catalog);
  const schema = messageSchemas[type];
  const sample = samples[type];

  it('accepts the sample in every valid form, in both ajv and zod', () => {
    const forms: Case[] = [
      { label: 'with our extensions', payload: sample },
      { label: 'catalog fields only', payload: prune(catalog, sample, false) },
      { label: 'required fields only', payload: prune(catalog, sample, true) },
      { label: 'with unknown fields everywhere', payload: withUnknownFields(sample) },
    ];
    const results = verdicts(validate, schema, forms);
    expect(results.filter((r) => !r.ajv || !r.zod)).toEqual([]);
  });

  it('agrees with ajv on every generated payload', () => {
    const cases = generateCases(catalog, sample);
    const results = verdicts(validate, schema, cases);
    expect(disagreements(results)).toEqual([]);
    // The table is not vacuous: deleting a required field is always invalid, and most probes are.
    const mustFail = cases.filter((c) => c.mustFail).map((c) => c.label);
    expect(results.filter((r) => mustFail.includes(r.label) && r.ajv)).toEqual([]);
    expect(results.filter((r) => !r.ajv).length).toBeGreaterThan(10);
  });

  it('mirrors the catalog schema: same fields, types, formats, patterns, enums, minimums; extensions optional', () => {
    const problems: string[] = [];
    compareStructure(catalog, zodJsonSchema(schema), '(root)', problems);
    expect(problems).toEqual([]);
    const ours = zodJsonSchema(schema);
    const extensions = Object.keys(ours.properties ?? {}).filter((k) => !(k in (catalog.properties ?? {})));
    expect(extensions.sort()).toEqual(expectedExtensions[type] ?? []);
  });

  it('parses to exactly the sample, and drops unknown fields', () => {
    expect(schema.parse(sample)).toEqual(sample);
    expect(JSON.parse(JSON.stringify(schema.parse(sample)))).toEqual(sample);
    expect(schema.parse(withUnknownFields(sample))).toEqual(sample);
  });
});

function normalized(node: JsonSchema): Record<string, unknown> {
  return {
    type: node.type,
    format: node.format,
    pattern: node.pattern,
    enum: node.enum ?? (node.const === undefined ? undefined : [node.const]),
    minimum: node.minimum === -MAX_SAFE ? undefined : node.minimum,
    maximum: node.maximum === MAX_SAFE ? undefined : node.maximum,
  };
}

function compareStructure(catalog: JsonSchema, ours: JsonSchema, at: string, problems: string[]): void {
  const a = normalized(catalog);
  const b = normalized(ours);
  for (const key of Object.keys(a)) {
    if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) {
      problems.push(`${at}: ${key} is ${JSON.stringify(b[key])}, catalog says ${JSON.stringify(a[key])}`);
    }
  }
  if (catalog.type === 'object') {
    const req = (s: JsonSchema): string => JSON.stringify([...(s.required ?? [])].sort());
    if (req(catalog) !== req(ours))
      problems.push(`${at}: required ${req(ours)}, catalog says ${req(catalog)}`);
    for (const [key, child] of Object.entries(catalog.properties ?? {})) {
      const mine = ours.properties?.[key];
      if (mine) compareStructure(child, mine, `${at}.${key}`, problems);
      else problems.push(`${at}.${key}: missing`);
    }
  }
  if (catalog.type === 'array' && catalog.items) {
    if (ours.items) compareStructure(catalog.items, ours.items, `${at}[]`, problems);
    else problems.push(`${at}[]: items missing`);
  }
}

describe('catalog request/response pairs', () => {
  it.each([
    ['calculate-discount.request', 'calculate-discount.response'],
    ['get-stock-level.request', 'get-stock-level.response'],
    ['get-order.request', 'get-order.response'],
  ] as const)('%s and %s together validate against the whole catalog document', (req, res) => {
    const doc = loadCatalogSchema({ path: catalogRef(req).path, pointer: '' });
    expect(catalogRef(res).path).toBe(catalogRef(req).path);
    expect(ajv.validate(doc, { request: samples[req], response: samples[res] }), ajv.errorsText()).toBe(true);
  });
});

describe('extensions: we add, never rename or drop', () => {
  it.each(Object.keys(expectedExtensions).filter(isMessageType))(
    '%s with all our extra fields still validates against the catalog',
    (type) => {
      const sample = samples[type];
      for (const field of expectedExtensions[type] ?? []) expect(sample, field).toHaveProperty(field);
      const validate = ajv.compile(loadCatalogSchema(catalogRef(type)));
      expect(validate(sample), ajv.errorsText(validate.errors)).toBe(true);
    },
  );

  it('refuses a bad value in one of our extra fields, which the catalog cannot check', () => {
    const validate = ajv.compile(loadCatalogSchema(catalogRef('reserve-inventory')));
    const payload = { ...samples['reserve-inventory'], orderId: 'not-a-uuid' };
    expect(validate(payload)).toBe(true);
    expect(messageSchemas['reserve-inventory'].safeParse(payload).success).toBe(false);
    const cancel = { ...samples['cancel-order'], detail: 'BORED' };
    expect(ajv.validate(loadCatalogSchema(catalogRef('cancel-order')), cancel)).toBe(true);
    expect(messageSchemas['cancel-order'].safeParse(cancel).success).toBe(false);
  });
});

describe('the HTTP shapes of openapi.yml', () => {
  const cases = [
    ['Cart', messageSchemas.cart, samples.cart],
    ['CartItem', CartItem, priced[0] ?? null],
    ['AddItemRequest', AddItemRequest, { productId: id(20), quantity: 3 }],
    ['CheckoutRequest', CheckoutRequest, { customerId: id(2), promotionCode: 'SPRING10' }],
    ['Error', messageSchemas.error, samples.error],
  ] as const;
  it.each(cases)('%s agrees with ajv on every generated payload', (name, schema, sample) => {
    const catalog = loadCatalogSchema({
      path: catalogRef('cart').path,
      pointer: `/components/schemas/${name}`,
    });
    const validate = ajv.compile(catalog);
    expect(validate(sample)).toBe(true);
    expect(disagreements(verdicts(validate, schema, generateCases(catalog, sample)))).toEqual([]);
    const problems: string[] = [];
    compareStructure(catalog, zodJsonSchema(schema), name, problems);
    expect(problems).toEqual([]);
  });
});

// ---- Our additions -------------------------------------------------------------------------

describe.each(additionTypes)('addition %s', (type) => {
  const schema = messageSchemas[type];
  const sample = samples[type];

  it('round-trips: parse, serialise and parse again give the sample', () => {
    const parsed = schema.parse(sample);
    expect(parsed).toEqual(sample);
    expect(schema.parse(JSON.parse(JSON.stringify(parsed)))).toEqual(sample);
    expect(schema.parse(withUnknownFields(sample))).toEqual(sample);
  });

  it('agrees with the JSON Schema we derive from it on every generated payload', () => {
    const jsonSchema = zodJsonSchema(schema);
    const validate = ajv.compile(jsonSchema);
    const cases = generateCases(jsonSchema, sample);
    expect(validate(sample), ajv.errorsText(validate.errors)).toBe(true);
    const results = verdicts(validate, schema, cases);
    expect(disagreements(results)).toEqual([]);
    const mustFail = cases.filter((c) => c.mustFail).map((c) => c.label);
    expect(results.filter((r) => mustFail.includes(r.label) && r.zod)).toEqual([]);
  });
});

// ---- Formats and the one deliberate divergence ---------------------------------------------

describe('formats', () => {
  const ajvUuid = ajv.compile({ type: 'string', format: 'uuid' });
  const ajvDateTime = ajv.compile({ type: 'string', format: 'date-time' });

  it('Uuid accepts exactly what ajv-formats accepts', () => {
    const near = fc.stringMatching(
      /^(urn:uuid:|URN:uuid:|uuid:)?[0-9a-gA-G]{7,9}-[0-9a-fA-F]{3,5}-[0-9a-f]{4}-[0-9A-F]{4}-[0-9a-fx]{11,13}$/,
    );
    fc.assert(
      fc.property(fc.oneof(near, fc.uuid(), fc.string()), (s) => Uuid.safeParse(s).success === ajvUuid(s)),
      { numRuns: 3000 },
    );
  });

  it('DateTime accepts exactly what ajv-formats accepts (leap years, leap seconds, offsets)', () => {
    const near = fc.stringMatching(
      /^\d{4}-[01]\d-[0-3]\d[Tt \nx][0-2]\d:[0-6]\d:[0-6]\d(\.\d{1,4})?(Z|z|[+-][0-2]\d(:?[0-6]\d)?)?$/,
    );
    const dates = fc.date({ noInvalidDate: true }).map((d) => d.toISOString());
    fc.assert(
      fc.property(
        fc.oneof(near, dates, fc.string()),
        (s) => DateTime.safeParse(s).success === ajvDateTime(s),
      ),
      { numRuns: 5000 },
    );
  });

  it('deliberately refuses integers beyond 2^53 - 1, which the catalog allows but JavaScript cannot hold', () => {
    const validate = ajv.compile(loadCatalogSchema(catalogRef('cart-checked-out')));
    const payload = { ...samples['cart-checked-out'], total: 2 ** 53 };
    expect(validate(payload)).toBe(true);
    expect(messageSchemas['cart-checked-out'].safeParse(payload).success).toBe(false);
  });
});

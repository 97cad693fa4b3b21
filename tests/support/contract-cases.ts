/**
 * The machinery of the contract tests: one valid sample per message type (every optional field
 * filled in), and payloads generated from a JSON Schema and a sample (each required field deleted,
 * each property replaced by probes of the wrong type, bad formats, values around the minimum, bad
 * patterns and enum values), so that zod's verdict can be compared with ajv's.
 */
import type { ValidateFunction } from 'ajv';
import { z } from 'zod';
import type { MessageType } from '../../src/contracts/index.ts';

// ---- JSON Schema plumbing ------------------------------------------------------------------

export interface JsonSchema {
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

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** The JSON Schema zod derives from one of our schemas: what we would publish for an addition. */
export function zodJsonSchema(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, { target: 'draft-07', io: 'input' }) as JsonSchema;
}

// ---- Samples: one valid payload per message type, every optional field filled in -----------

export const id = (n: number): string => `0b9d6f1c-2a3e-4f5a-8b7c-${n.toString(16).padStart(12, '0')}`;
const at = '2025-03-14T15:09:26.535Z';
export const priced: Json[] = [
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
  orderNumber: 'ACME-1EEP-Y71A',
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
  orderNumber: 'ACME-1EEP-Y71A',
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
export const samples: Record<MessageType, JsonObject> = {
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
  'quote-promotion.request': { cartId: id(1), customerId: id(2), subtotal: 4498, currency: 'USD', promotionCode: 'SAVE5' },
  'quote-promotion.response': { promotionCode: 'SAVE5', discount: 0, appliedPromotions: [], rejectedReason: 'MIN_SPEND_NOT_MET', minSpend: 5000 },
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
  'find-orders-by-number.request': { orderNumber: 'ACME-1EEP-Y71A', requestedBy: id(2) },
  'find-orders-by-number.response': { orders: [order] },
  'get-checkout.request': { checkoutId: id(4) },
  'get-checkout.response': checkoutStatus,
  error: { code: 'NOT_FOUND', message: 'cart not found' },
};

/** Fields we add to catalog messages (decisions 2, 3, 4, 7). Each must be optional. */
export const expectedExtensions: Partial<Record<MessageType, string[]>> = {
  cart: ['checkoutId', 'orderId', 'orderNumber'],
  // The acting customer (AUTH=jwt): a cart belongs to its first toucher, an order to its cart's customer.
  'add-item-to-cart': ['customerId'],
  'remove-item-from-cart': ['customerId'],
  'get-order.request': ['requestedBy'],
  'get-cart.response': ['checkoutId', 'orderId', 'orderNumber'],
  'get-order.response': ['orderNumber'],
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

export interface Case {
  label: string;
  payload: Json;
  /** Generated by deleting a required field: the contract must reject it. */
  mustFail?: boolean;
}

/** Counter-examples and variations, generated mechanically from one valid sample. */
export function generateCases(schema: JsonSchema, sample: Json): Case[] {
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
export function prune(schema: JsonSchema, value: Json, requiredOnly: boolean): Json {
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
export function withUnknownFields(value: Json): Json {
  if (Array.isArray(value)) return value.map(withUnknownFields);
  if (value !== null && typeof value === 'object') {
    const out: JsonObject = { unknownField: 'extra' };
    for (const [k, v] of Object.entries(value)) out[k] = withUnknownFields(v);
    return out;
  }
  return value;
}

export interface Verdicts {
  label: string;
  ajv: boolean;
  zod: boolean;
}

export function verdicts(validate: ValidateFunction, schema: z.ZodType, cases: Case[]): Verdicts[] {
  return cases.map((c) => ({
    label: c.label,
    ajv: validate(c.payload),
    zod: schema.safeParse(c.payload).success,
  }));
}

export function disagreements(results: Verdicts[]): Verdicts[] {
  return results.filter((r) => r.ajv !== r.zod);
}

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

export function compareStructure(
  catalog: JsonSchema,
  ours: JsonSchema,
  at: string,
  problems: string[],
): void {
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

/**
 * The zod contracts against the upstream catalog's JSON Schemas (`CATALOG_DIR`, default
 * ../shared/catalog; see tests/support/catalog.ts for when this runs, fails or is skipped).
 *
 * For every catalog message we compile its schema.json (or openapi.yml schema) with ajv + ajv-formats
 * and check that ajv and zod give the same verdict on a table of payloads generated from one valid
 * sample: the sample in several valid forms, then the sample with each required field deleted and
 * each property (at every depth) replaced by probes of the wrong type, bad formats, values around
 * the minimum, bad patterns and enum values. Catalog files are read inside tests only: a skipped
 * suite still runs its body to collect its tests.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AddItemRequest,
  CartItem,
  CheckoutRequest,
  catalogSchemaPath,
  isMessageType,
  messageSchemas,
  type CatalogSchemaRef,
  type MessageType,
} from '../../src/contracts/index.ts';
import { catalogRoot, describeUpstream, loadCatalogSchema as loadSchema } from '../support/catalog.ts';
import {
  compareStructure,
  disagreements,
  expectedExtensions,
  generateCases,
  id,
  priced,
  prune,
  samples,
  verdicts,
  withUnknownFields,
  zodJsonSchema,
  type Case,
  type JsonSchema,
} from '../support/contract-cases.ts';

const ajv = new Ajv({ allErrors: true, strict: true });
addFormats.default(ajv);

const loadCatalogSchema = (ref: CatalogSchemaRef): JsonSchema => loadSchema(ref);
const catalogTypes = Object.keys(catalogSchemaPath).filter(isMessageType);

function catalogRef(type: MessageType): CatalogSchemaRef {
  const ref = catalogSchemaPath[type];
  if (!ref) throw new Error(`${type} is not a catalog message`);
  return ref;
}

describeUpstream('the contracts against the catalog', () => {
  describe('the registry', () => {
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
  });

  describe.each(catalogTypes)('catalog message %s', (type) => {
    const schema = messageSchemas[type];
    const sample = samples[type];
    let catalog: JsonSchema;
    let validate: ReturnType<typeof ajv.compile>;
    beforeAll(() => {
      catalog = loadCatalogSchema(catalogRef(type));
      validate = ajv.compile(catalog);
    });

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

  describe('catalog request/response pairs', () => {
    it.each([
      ['calculate-discount.request', 'calculate-discount.response'],
      ['get-stock-level.request', 'get-stock-level.response'],
      ['get-order.request', 'get-order.response'],
    ] as const)('%s and %s together validate against the whole catalog document', (req, res) => {
      const doc = loadCatalogSchema({ path: catalogRef(req).path, pointer: '' });
      expect(catalogRef(res).path).toBe(catalogRef(req).path);
      expect(ajv.validate(doc, { request: samples[req], response: samples[res] }), ajv.errorsText()).toBe(
        true,
      );
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

  it('deliberately refuses integers beyond 2^53 - 1, which the catalog allows but JavaScript cannot hold', () => {
    const validate = ajv.compile(loadCatalogSchema(catalogRef('cart-checked-out')));
    const payload = { ...samples['cart-checked-out'], total: 2 ** 53 };
    expect(validate(payload)).toBe(true);
    expect(messageSchemas['cart-checked-out'].safeParse(payload).success).toBe(false);
  });
});

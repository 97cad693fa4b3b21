/**
 * The gateway against the catalog's HTTP contract (CartAPI/openapi.yml), with the real system
 * behind a listening server. The comparisons with the catalog need the upstream catalog
 * (tests/support/catalog.ts); the rest stands on our own /openapi.json:
 *  - every catalog path, method and status code exists in our generated /openapi.json, with the
 *    same parameters and request-body fields;
 *  - real responses, one for every status the system can produce, validate against the catalog's
 *    response schemas (ajv + formats);
 *  - every response the tests see also validates against our own generated document, so
 *    /openapi.json describes what the server really sends.
 */
import { randomUUID } from 'node:crypto';
import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import { describeUpstream, loadCatalogSchema, readCatalogDocument } from '../support/catalog.ts';
import { startShop, type HttpResponse, type Shop } from './support/shop-server.ts';

const CART_API = 'domains/Shopping/systems/cart-system/services/CartAPI/openapi.yml';
const BIRDSEED = productIdFor('ACME-BIRDSEED');

type Operation = {
  parameters?: { name: string; in: string; required?: boolean; schema?: { format?: string } }[];
  requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
  responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }>;
};
type Doc = { paths: Record<string, Record<string, unknown>>; components?: Record<string, unknown> };

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/** Operations of a document with path-level parameters merged in, as `METHOD path`. */
function operations(doc: Doc): Map<string, Operation> {
  const ops = new Map<string, Operation>();
  for (const [p, item] of Object.entries(doc.paths)) {
    const shared = (item.parameters ?? []) as NonNullable<Operation['parameters']>;
    for (const m of METHODS) {
      const op = item[m] as Operation | undefined;
      if (op) ops.set(`${m.toUpperCase()} ${p}`, { ...op, parameters: [...shared, ...(op.parameters ?? [])] });
    }
  }
  return ops;
}

function resolveRef<T>(doc: unknown, node: T): T {
  const ref = (node as { $ref?: string }).$ref;
  if (!ref) return node;
  let at: unknown = doc;
  for (const k of ref.slice(2).split('/')) at = (at as Record<string, unknown>)[k];
  return at as T;
}

describe('the Cart API conforms to the catalog', () => {
  let shop: Shop;
  let ours: Doc;
  const seen: { op: string; res: HttpResponse }[] = [];

  const call = async (op: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<HttpResponse> => {
    const res = await shop.http(op.split(' ')[0] ?? 'GET', url, body, headers);
    seen.push({ op, res });
    return res;
  };

  beforeAll(async () => {
    shop = await startShop('embedded');
    ours = (await shop.http<Doc>('GET', '/openapi.json')).body;
  });
  afterAll(async () => shop?.stop());

  describe('when the Cart API is called, for every status it can answer', () => {
    it('add-item to an unknown cart creates it and answers 200, never 404, and /openapi.json says so', async () => {
      const cartId = randomUUID();
      const created = await call('POST /carts/{cartId}/items', `/carts/${cartId}/items`, { productId: BIRDSEED, quantity: 1 });
      expect(created.status).toBe(200);
      expect(created.body).toMatchObject({ cartId, status: 'OPEN', items: [{ productId: BIRDSEED, quantity: 1 }] });
      const op = operations(ours).get('POST /carts/{cartId}/items') as Operation & { description?: string; responses: Record<string, { description?: string }> };
      expect(op.description).toMatch(/unknown cartId creates the cart/);
      expect(op.responses['404']?.description).toMatch(/^Never answered under AUTH=off/);
    });

    it('add-item answers 200 with a Cart, and 400 with an Error', async () => {
      const cartId = randomUUID();
      const ok = await call('POST /carts/{cartId}/items', `/carts/${cartId}/items`, { productId: BIRDSEED, quantity: 2 });
      expect(ok.status).toBe(200);
      const bad = await call('POST /carts/{cartId}/items', `/carts/${cartId}/items`, { productId: BIRDSEED, quantity: 0 });
      expect(bad.status).toBe(400);
    });

    it('remove-item answers 200 with a Cart, and 404 with an Error for an unknown cart or item', async () => {
      const cartId = randomUUID();
      await call('POST /carts/{cartId}/items', `/carts/${cartId}/items`, { productId: BIRDSEED, quantity: 2 });
      const ok = await call('DELETE /carts/{cartId}/items/{productId}', `/carts/${cartId}/items/${BIRDSEED}`);
      expect(ok.status).toBe(200);
      for (const url of [`/carts/${cartId}/items/${BIRDSEED}`, `/carts/${randomUUID()}/items/${BIRDSEED}`]) {
        const missing = await call('DELETE /carts/{cartId}/items/{productId}', url);
        expect(missing.status).toBe(404);
      }
    });

    it('checkout answers 200 with a Cart, and 400, 404 and 409 with an Error', async () => {
      const cartId = randomUUID();
      const customerId = randomUUID();
      await call('POST /carts/{cartId}/items', `/carts/${cartId}/items`, { productId: BIRDSEED, quantity: 1 });
      const bad = await call('POST /carts/{cartId}/checkout', `/carts/${cartId}/checkout`, { customerId: 'me' });
      expect(bad.status).toBe(400);
      const unknown = await call('POST /carts/{cartId}/checkout', `/carts/${randomUUID()}/checkout`, { customerId });
      expect(unknown.status).toBe(404);
      const ok = await call('POST /carts/{cartId}/checkout', `/carts/${cartId}/checkout`, { customerId });
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ status: 'CHECKED_OUT', orderId: expect.any(String) as string });
      const again = await call('POST /carts/{cartId}/checkout', `/carts/${cartId}/checkout`, { customerId });
      expect(again.status).toBe(409);
    });
  });

  describeUpstream('when the generated OpenAPI is compared with the catalog', () => {
    let catalog: Doc;
    beforeAll(() => {
      catalog = readCatalogDocument(CART_API) as Doc;
    });

    it('has every catalog path, method and status code', () => {
      const mine = operations(ours);
      for (const [key, op] of operations(catalog)) {
        const found = mine.get(key);
        expect(found, key).toBeDefined();
        expect(Object.keys(found?.responses ?? {}), key).toEqual(expect.arrayContaining(Object.keys(op.responses)));
      }
    });

    it('takes the same parameters, as UUIDs, and the same required body fields', () => {
      const mine = operations(ours);
      for (const [key, op] of operations(catalog)) {
        const found = mine.get(key);
        for (const param of op.parameters ?? []) {
          const p = resolveRef(catalog, param);
          const match = found?.parameters?.find((q) => q.name === p.name && q.in === p.in);
          expect(match, `${key} ${p.in} ${p.name}`).toBeDefined();
          expect(match?.schema?.format).toBe(p.schema?.format);
        }
        const theirs = op.requestBody?.content['application/json']?.schema;
        if (!theirs) continue;
        const want = resolveRef(catalog, theirs) as { required?: string[]; properties: Record<string, unknown> };
        const got = resolveRef(ours, found?.requestBody?.content['application/json']?.schema ?? {}) as typeof want;
        expect(got.required?.sort(), key).toEqual(want.required?.sort());
        expect(Object.keys(got.properties).sort(), key).toEqual(Object.keys(want.properties).sort());
      }
    });
  });

  describeUpstream('when real responses are checked against the catalog’s schemas', () => {
    it('every Cart API response seen validates against the catalog schema for its status', () => {
      const ajv = new Ajv({ allErrors: true, strict: false });
      addFormats.default(ajv);
      const validator = (name: string) => ajv.compile(loadCatalogSchema({ path: CART_API, pointer: `/components/schemas/${name}` }));
      const isCart = validator('Cart');
      const isError = validator('Error');
      const catalogOps = ['POST /carts/{cartId}/items', 'DELETE /carts/{cartId}/items/{productId}', 'POST /carts/{cartId}/checkout'];
      // The statuses the catalog declares; the others (415, say) are ours, checked against /openapi.json below.
      const checked = seen.filter(({ op, res }) => catalogOps.includes(op) && [200, 400, 404, 409].includes(res.status));
      expect(new Set(checked.map(({ res }) => res.status))).toEqual(new Set([200, 400, 404, 409]));
      for (const { op, res } of checked) {
        const schema = res.status === 200 ? isCart : isError;
        expect(schema(res.body), `${op} ${res.status}: ${JSON.stringify(schema.errors)} in ${res.text}`).toBe(true);
      }
    });
  });

  describe('when responses are checked against our own generated document', () => {
    it('every response seen so far matches the schema /openapi.json declares for its status', async () => {
      // Exercise the additions too, so their documented shapes are checked against real answers.
      await call('GET /products', '/products');
      await call('GET /products/{productId}', `/products/${BIRDSEED}`);
      await call('GET /stock/{productId}', `/stock/${BIRDSEED}`);
      await call('GET /orders/{idOrNumber}', `/orders/${randomUUID()}`);
      await call('GET /orders/{idOrNumber}', '/orders/ACME-ZZZZ-ZZZZ');
      await call('GET /customers/{customerId}/orders', `/customers/${randomUUID()}/orders`);
      await call('GET /carts/{cartId}', `/carts/not-a-uuid`);
      const notJson = await call('POST /carts/{cartId}/items', `/carts/${randomUUID()}/items`, 'quantity=1', { 'content-type': 'text/plain' });
      expect(notJson.status).toBe(415);
      const ajv = new Ajv2020({ allErrors: true, strict: false });
      addFormats.default(ajv);
      ajv.addSchema({ ...ours, $id: 'https://gateway.test/openapi.json' });
      const segment = (s: string) => encodeURIComponent(s.replaceAll('~', '~0').replaceAll('/', '~1'));
      const schemaFor = (op: string, status: number) => {
        const [method = '', route = ''] = op.split(' ');
        const pointer = ['paths', route, method.toLowerCase(), 'responses', String(status), 'content', 'application/json', 'schema'];
        return ajv.compile({ $ref: `https://gateway.test/openapi.json#/${pointer.map(segment).join('/')}` });
      };
      // The check has teeth: an empty object is not a Cart.
      expect(schemaFor('POST /carts/{cartId}/items', 200)({})).toBe(false);
      expect(seen.length).toBeGreaterThan(15);
      for (const { op, res } of seen) {
        const validate = schemaFor(op, res.status);
        expect(validate(res.body), `${op} ${res.status}: ${JSON.stringify(validate.errors)} in ${res.text}`).toBe(true);
      }
    });
  });
});

/**
 * OpenAPI 3.1 generated from the routes' zod schemas (@fastify/swagger with
 * fastify-type-provider-zod's transforms), served at /openapi.json, with Swagger UI at /docs; and the
 * AsyncAPI 3.0 document of every NATS subject (src/contracts/artifacts) at /asyncapi.json.
 * Response headers are not expressible in a zod response schema, so the few the API promises
 * (Retry-After on 429/503, Location on checkout) are added to the generated document here.
 */
import { asyncApiDocument } from '../contracts/artifacts/asyncapi.ts';
import swagger, { type SwaggerTransformObject } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';

const retryAfter = {
  description: 'Seconds to wait before retrying.',
  schema: { type: 'integer', minimum: 0 },
};

const location = {
  description: 'The checkout started for this cart: `/checkouts/{checkoutId}`.',
  schema: { type: 'string' },
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function withHeader(response: unknown, name: string, header: object): void {
  if (!isRecord(response)) return;
  const headers = isRecord(response.headers) ? response.headers : {};
  response.headers = { ...headers, [name]: header };
}

/**
 * A response whose schema is a named component gets that component's description, rather than
 * @fastify/swagger's "Default Response" (it looks components up before the transform adds them).
 */
function describeFromComponent(response: unknown, schemas: Record<string, unknown>): void {
  if (!isRecord(response) || response.description !== 'Default Response' || !isRecord(response.content)) return;
  const media = response.content['application/json'];
  const ref = isRecord(media) && isRecord(media.schema) ? media.schema.$ref : undefined;
  if (typeof ref !== 'string') return;
  const name = ref.split('/').pop() ?? '';
  const component = schemas[name];
  response.description = isRecord(component) && typeof component.description === 'string' ? component.description : name;
}

const transformObject: SwaggerTransformObject = (input) => {
  const doc = jsonSchemaTransformObject(input);
  const paths: unknown = 'paths' in doc ? doc.paths : undefined;
  if (!isRecord(paths)) return doc;
  const components: unknown = 'components' in doc ? doc.components : undefined;
  const schemas = isRecord(components) && isRecord(components.schemas) ? components.schemas : {};
  for (const [path, item] of Object.entries(paths)) {
    if (!isRecord(item)) continue;
    for (const [method, op] of Object.entries(item)) {
      if (!isRecord(op) || !isRecord(op.responses)) continue;
      for (const response of Object.values(op.responses)) describeFromComponent(response, schemas);
      withHeader(op.responses['429'], 'Retry-After', retryAfter);
      withHeader(op.responses['503'], 'Retry-After', retryAfter);
      if (method === 'post' && path === '/carts/{cartId}/checkout') withHeader(op.responses['200'], 'Location', location);
    }
  }
  return doc;
};

export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Acme Shop API',
        version: '1.0.0',
        description:
          "The catalog's Cart API, plus what shoppers need around it: products and stock, checkout progress " +
          '(also as Server-Sent Events), orders. Errors are `{code, message}`; money is in minor units.',
      },
      tags: [
        { name: 'Cart', description: 'Build and check out a shopping cart.' },
        { name: 'Products', description: 'What the shop sells, and how many are in stock.' },
        { name: 'Checkout', description: 'Where a checkout stands.' },
        { name: 'Orders', description: 'Orders, their cancellation, and a customer’s history.' },
        { name: 'Operations', description: 'Operator and fulfilment calls.' },
        { name: 'Health', description: 'Liveness and readiness probes.' },
        { name: 'Identity', description: 'How shoppers sign in (docs/security.md).' },
      ],
      components: {
        // Both are declared; which one a deployment uses is AUTH (docs/security.md). Shopper
        // routes also list `{}` (no security): with AUTH=off they are open, as the catalog's are.
        securitySchemes: {
          shopperJwt: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description:
              'AUTH=jwt: a token from the shop’s identity provider (RS256 or ES256; iss, aud and exp checked). ' +
              'Its `sub` is the customer id; operator routes need the operator role in `roles` or `scope`.',
          },
          operatorToken: {
            type: 'http',
            scheme: 'bearer',
            description: 'AUTH=off: the OPERATOR_TOKEN the gateway was started with (when unset, operator routes are open).',
          },
        },
      },
    },
    transform: jsonSchemaTransform,
    transformObject,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  // The NATS side's contract: the same document `npm run contracts` commits as contracts/asyncapi.json.
  const asyncApi = asyncApiDocument();
  app.get('/asyncapi.json', { schema: { hide: true } }, async () => asyncApi);
}

/**
 * AUTH=jwt against the whole system (embedded, real SQLite stores), with an identity provider made
 * in the test: an RS256 key served as a JWKS on a loopback port, and an ES256 key given as a PEM.
 *
 * Alice owns a cart, a checkout and an order; Bob, signed in with a valid token, can neither read
 * nor change any of them (404 as if they did not exist, or 403 for a customerId that is not his),
 * and the stores show nothing changed. Tokens that are missing, expired, signed by another key or
 * minted for another audience are 401.
 */
import { storedActors } from '../support/stored-actors.ts';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import Database from 'better-sqlite3';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import type { AuthConfig } from '../../src/gateway/auth.ts';
import { startServer } from '../../src/gateway/server.ts';
import { startShop, type Shop } from './support/shop-server.ts';

const ISSUER = 'https://login.acme.test/';
const AUDIENCE = 'acme-shop';
const ANVIL = productIdFor('ACME-ANVIL-01');
const MAGNET = productIdFor('ACME-GIANT-MAG');
const alice = randomUUID();
const bob = randomUUID();

const jwtAuth = (key: { jwksUrl?: string; publicKeyPem?: string }): AuthConfig => ({
  mode: 'jwt',
  ...key,
  issuer: ISSUER,
  audience: AUDIENCE,
  operatorRole: 'operator',
  clockToleranceSec: 0,
});

interface Signer {
  key: CryptoKey;
  alg: 'RS256' | 'ES256';
  kid?: string;
}

async function token(signer: Signer, claims: JWTPayload & { sub: string }, opts: { expiresIn?: string | number; audience?: string } = {}) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: signer.alg, ...(signer.kid ? { kid: signer.kid } : {}) })
    .setIssuer(ISSUER)
    .setAudience(opts.audience ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(opts.expiresIn ?? '10m')
    .sign(signer.key);
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

/** An actor's latest snapshot, read from the service's own SQLite file (checkpoint and journal tail). */
function stored(shop: Shop, service: string, kind: string, id: string): { state: string; seq: number } | undefined {
  const db = new Database(join(shop.t.dataDir, `${service}.db`), { readonly: true, fileMustExist: true });
  try {
    const a = storedActors(db, kind).find((x) => x.id === id);
    return a && { state: JSON.stringify(a.state), seq: a.seq };
  } finally {
    db.close();
  }
}

describe('AUTH=jwt: who may act', { timeout: 60_000 }, () => {
  let shop: Shop;
  let jwks: Server;
  let rsa: Signer;
  let ec: Signer;
  let other: Signer;
  let ecPem: string;

  beforeAll(async () => {
    const rsaPair = await generateKeyPair('RS256', { extractable: true });
    rsa = { key: rsaPair.privateKey, alg: 'RS256', kid: 'rsa-1' };
    const jwk = { ...(await exportJWK(rsaPair.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' };
    jwks = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    const port = (jwks.address() as { port: number }).port;
    const ecPair = await generateKeyPair('ES256', { extractable: true });
    ec = { key: ecPair.privateKey, alg: 'ES256' };
    ecPem = await exportSPKI(ecPair.publicKey);
    // Same kid as the real key: only the signature can tell them apart.
    other = { key: (await generateKeyPair('RS256')).privateKey, alg: 'RS256', kid: 'rsa-1' };
    shop = await startShop('embedded', { gateway: { auth: jwtAuth({ jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json` }) } });
  });

  /** Waits (outside `expect.poll`, which only runs inside a test) for the saga to confirm. */
  async function confirmed(checkoutId: string, as: Record<string, string>): Promise<void> {
    const until = Date.now() + 15_000;
    for (;;) {
      const res = await shop.http<{ status: string }>('GET', `/checkouts/${checkoutId}`, undefined, as);
      if (res.body.status === 'CONFIRMED') return;
      if (Date.now() > until) throw new Error(`checkout ${checkoutId} is ${res.text}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  afterAll(async () => {
    await shop?.stop();
    await new Promise((r) => jwks?.close(r));
  });

  describe('tokens', () => {
    const cartPath = () => `/carts/${randomUUID()}/items`;
    const body = { productId: ANVIL, quantity: 1 };

    it('refuses a request without a token with 401 {code, message} and WWW-Authenticate', async () => {
      const res = await shop.http('POST', cartPath(), body);
      expect(res.status).toBe(401);
      const refusal = res.body as { code: string; message: string };
      expect(refusal.code).toBe('UNAUTHORIZED');
      expect(refusal.message).toContain('Bearer');
      expect(res.headers.get('www-authenticate')).toContain('Bearer');
    });

    it('refuses an expired token, one signed by another key, one for another audience, and garbage', async () => {
      const expired = await token(rsa, { sub: alice }, { expiresIn: Math.floor(Date.now() / 1000) - 60 });
      const forged = await token(other, { sub: alice });
      const elsewhere = await token(rsa, { sub: alice }, { audience: 'another-app' });
      for (const t of [expired, forged, elsewhere, 'not.a.jwt']) {
        const res = await shop.http('POST', cartPath(), body, bearer(t));
        expect(res.status, t).toBe(401);
        expect(res.body).toMatchObject({ code: 'UNAUTHORIZED' });
      }
      expect((await shop.http<{ message: string }>('POST', cartPath(), body, bearer(expired))).body.message).toContain('expired');
    });

    it('refuses a token whose subject is not a customer id', async () => {
      const res = await shop.http('POST', cartPath(), body, bearer(await token(rsa, { sub: 'alice@example.com' })));
      expect(res.status).toBe(401);
    });

    it('declares its security schemes in /openapi.json: a JWT (or nothing, under AUTH=off) for shoppers, the role or OPERATOR_TOKEN for operators', async () => {
      type Op = { security?: unknown[]; responses: Record<string, unknown> };
      const doc = (await shop.http<{ components: { securitySchemes: Record<string, { type: string; scheme: string }> }; paths: Record<string, Record<string, Op>> }>('GET', '/openapi.json')).body;
      expect(doc.components.securitySchemes.shopperJwt).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
      expect(doc.components.securitySchemes.operatorToken).toMatchObject({ type: 'http', scheme: 'bearer' });
      const checkout = doc.paths['/carts/{cartId}/checkout']?.post;
      expect(checkout?.security).toEqual([{ shopperJwt: [] }, {}]);
      expect(Object.keys(checkout?.responses ?? {})).toEqual(expect.arrayContaining(['401', '403', '404']));
      expect(doc.paths['/orders/{orderId}/complete']?.post?.security).toEqual([{ shopperJwt: [] }, { operatorToken: [] }]);
      expect(doc.paths['/products']?.get?.security).toBeUndefined();
    });

    it('keeps the catalogue and the sign-in information public', async () => {
      expect((await shop.http('GET', '/products')).status).toBe(200);
      expect((await shop.http('GET', '/auth/config')).body).toEqual({ mode: 'jwt' });
    });
  });

  describe('when Bob tries Alice’s cart, checkout and order', () => {
    let a: Record<string, string>;
    let b: Record<string, string>;
    let cartId: string;
    let orderId: string;
    let checkoutId: string;
    let openCartId: string;

    beforeAll(async () => {
      a = bearer(await token(rsa, { sub: alice }));
      b = bearer(await token(rsa, { sub: bob }));
      // Alice: one cart checked out to a confirmed order, one cart still open.
      cartId = randomUUID();
      expect((await shop.http('POST', `/carts/${cartId}/items`, { productId: ANVIL, quantity: 1 }, a)).status).toBe(200);
      const out = await shop.http<{ orderId: string; checkoutId: string; customerId: string }>('POST', `/carts/${cartId}/checkout`, { customerId: alice }, a);
      expect(out.status).toBe(200);
      ({ orderId, checkoutId } = out.body);
      expect(out.body.customerId).toBe(alice);
      await confirmed(checkoutId, a);
      openCartId = randomUUID();
      const added = await shop.http<{ customerId: string }>('POST', `/carts/${openCartId}/items`, { productId: MAGNET, quantity: 2 }, a);
      expect(added.body.customerId).toBe(alice);
    });

    it('cannot read them: 404 as for ids that do not exist', async () => {
      for (const path of [`/carts/${openCartId}`, `/carts/${cartId}`, `/orders/${orderId}`, `/checkouts/${checkoutId}`, `/checkouts/${checkoutId}?cartId=${cartId}`]) {
        const res = await shop.http('GET', path, undefined, b);
        expect(res.status, path).toBe(404);
        expect(res.body).toMatchObject({ code: 'NOT_FOUND' });
      }
      const sse = await fetch(`${shop.url}/checkouts/${checkoutId}/events`, { headers: b });
      expect(sse.status).toBe(404);
      // Alice can.
      expect((await shop.http('GET', `/orders/${orderId}`, undefined, a)).status).toBe(200);
      expect((await shop.http('GET', `/carts/${openCartId}`, undefined, a)).status).toBe(200);
    });

    it('cannot add to or remove from her open cart, and the cart is unchanged in the Cart API’s store', async () => {
      const before = stored(shop, 'cart', 'cart', openCartId);
      expect(before?.state).toBe('"open"');
      const add = await shop.http('POST', `/carts/${openCartId}/items`, { productId: ANVIL, quantity: 1 }, { ...b, 'idempotency-key': 'k-1' });
      expect(add.status).toBe(404);
      const remove = await shop.http('DELETE', `/carts/${openCartId}/items/${MAGNET}`, undefined, b);
      expect(remove.status).toBe(404);
      expect(stored(shop, 'cart', 'cart', openCartId)).toEqual(before);
      const cart = await shop.http<{ items: { productId: string; quantity: number }[] }>('GET', `/carts/${openCartId}`, undefined, a);
      expect(cart.body.items).toEqual([expect.objectContaining({ productId: MAGNET, quantity: 2 })]);
    });

    it('cannot check out her cart, under his id (404) or under hers (403); the cart stays open', async () => {
      const before = stored(shop, 'cart', 'cart', openCartId);
      expect((await shop.http('POST', `/carts/${openCartId}/checkout`, { customerId: bob }, b)).status).toBe(404);
      const asAlice = await shop.http('POST', `/carts/${openCartId}/checkout`, { customerId: alice }, b);
      expect(asAlice.status).toBe(403);
      expect(asAlice.body).toMatchObject({ code: 'FORBIDDEN' });
      expect(stored(shop, 'cart', 'cart', openCartId)).toEqual(before);
    });

    it('cannot cancel her order; the Order Service’s store still holds it created', async () => {
      const before = stored(shop, 'order', 'order', orderId);
      expect(before?.state).toBe('"created"');
      const res = await shop.http('POST', `/orders/${orderId}/cancel`, undefined, b);
      expect(res.status).toBe(404);
      expect(stored(shop, 'order', 'order', orderId)).toEqual(before);
      // Nor can a never-created order be cancelled into existence by a stranger.
      const ghost = randomUUID();
      expect((await shop.http('POST', `/orders/${ghost}/cancel`, undefined, b)).status).toBe(404);
      expect(stored(shop, 'order', 'order', ghost)).toBeUndefined();
    });

    it('lists only his own orders: hers is 403', async () => {
      const theirs = await shop.http('GET', `/customers/${alice}/orders`, undefined, b);
      expect(theirs.status).toBe(403);
      const his = await shop.http<{ orders: unknown[] }>('GET', `/customers/${bob}/orders`, undefined, b);
      expect(his.body.orders).toEqual([]);
      const hers = await shop.http<{ orders: { orderId: string }[] }>('GET', `/customers/${alice}/orders`, undefined, a);
      expect(hers.body.orders.map((o) => o.orderId)).toEqual([orderId]);
    });

    it('makes a new cart its first toucher’s: once Bob has added to it, it is 404 to Alice', async () => {
      const fresh = randomUUID();
      expect((await shop.http('POST', `/carts/${fresh}/items`, { productId: ANVIL, quantity: 1 }, b)).status).toBe(200);
      expect((await shop.http('POST', `/carts/${fresh}/items`, { productId: ANVIL, quantity: 1 }, a)).status).toBe(404);
    });

    it('lets Alice cancel her own order, which Bob could not', async () => {
      const res = await shop.http<{ orderId: string }>('POST', `/orders/${orderId}/cancel`, undefined, a);
      expect(res.status).toBe(200);
      expect(stored(shop, 'order', 'order', orderId)?.state).toBe('"cancelled"');
    });
  });

  describe('operator routes', () => {
    it('need the operator role: a shopper’s token is 403, an operator’s completes the order', async () => {
      const a = bearer(await token(rsa, { sub: alice }));
      const cartId = randomUUID();
      await shop.http('POST', `/carts/${cartId}/items`, { productId: ANVIL, quantity: 1 }, a);
      const { body } = await shop.http<{ orderId: string; checkoutId: string }>('POST', `/carts/${cartId}/checkout`, { customerId: alice }, a);
      await confirmed(body.checkoutId, a);
      expect((await shop.http('POST', `/orders/${body.orderId}/complete`)).status).toBe(401);
      expect((await shop.http('POST', `/orders/${body.orderId}/complete`, undefined, a)).status).toBe(403);
      expect((await shop.http('GET', '/explorer/api/checkouts', undefined, a)).status).toBe(403);
      const op = bearer(await token(rsa, { sub: 'ops-wile', roles: ['operator'] }));
      const done = await shop.http<{ orderId: string }>('POST', `/orders/${body.orderId}/complete`, undefined, op);
      expect(done.status).toBe(200);
      expect(stored(shop, 'order', 'order', body.orderId)?.state).toBe('"completed"');
    });
  });

  describe('with a PEM public key (AUTH_PUBLIC_KEY_FILE) and ES256', () => {
    it('accepts tokens of that key only, and logs every operator action with who did it', async () => {
      const lines: string[] = [];
      const server = await startServer({
        transport: await shop.t.system.transportFor('gateway'),
        port: 0,
        config: { rateLimit: false, auth: jwtAuth({ publicKeyPem: ecPem }) },
        logger: { level: 'info', stream: { write: (l: string) => lines.push(l) } },
      });
      try {
        const get = (headers: Record<string, string>) => fetch(`${server.url}/customers/${alice}/orders`, { headers });
        expect((await get(bearer(await token(ec, { sub: alice })))).status).toBe(200);
        expect((await get(bearer(await token(rsa, { sub: alice })))).status).toBe(401);
        const op = bearer(await token(ec, { sub: 'ops-wile', scope: 'openid operator' }));
        const res = await fetch(`${server.url}/orders/${randomUUID()}/complete`, { method: 'POST', headers: op });
        expect(res.status).toBe(404);
        const logged = lines.map((l) => JSON.parse(l) as { msg?: string; operator?: string; action?: string; via?: string });
        expect(logged.find((l) => l.msg === 'operator action')).toMatchObject({ operator: 'ops-wile', action: 'complete-order', via: 'jwt' });
      } finally {
        await server.close();
      }
    });
  });

  describe('when the identity provider’s key set cannot be fetched', () => {
    it('answers 503 with Retry-After, never lets the request through', async () => {
      const down = createServer((_req, res) => res.writeHead(500).end());
      await new Promise<void>((r) => down.listen(0, '127.0.0.1', r));
      const url = `http://127.0.0.1:${(down.address() as { port: number }).port}/jwks.json`;
      const server = await startServer({ transport: await shop.t.system.transportFor('gateway'), port: 0, config: { rateLimit: false, auth: jwtAuth({ jwksUrl: url }) } });
      try {
        const res = await fetch(`${server.url}/carts/${randomUUID()}`, { headers: bearer(await token(rsa, { sub: alice })) });
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toBe('2');
        expect(await res.json()).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      } finally {
        await server.close();
        await new Promise((r) => down.close(r));
      }
    });
  });
});

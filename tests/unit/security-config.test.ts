/**
 * The security knobs read from the environment: which NATS credential a service uses, what AUTH=jwt
 * refuses to start without, and which proxies the gateway believes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { authFromEnv } from '../../src/gateway/auth.ts';
import { trustProxyFromEnv } from '../../src/gateway/proxy.ts';
import { natsCredentialsFromEnv, natsTlsFromEnv } from '../../src/runtime/transport/nats-credentials.ts';

const dir = mkdtempSync(join(tmpdir(), 'poa-secrets-'));
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('NATS credentials from the environment', () => {
  const creds = file('cart.creds', '-----BEGIN NATS USER JWT-----\neyJ0\n------END NATS USER JWT------\n');
  const seed = file('cart.nk', 'SUAFAKESEED\n');
  const pass = file('cart.pass', 's3cret\n');

  it('takes the service’s own setting first: creds file, then seed file, seed, password file, password', () => {
    const all = { NATS_CREDS_FILE_CART: creds, NATS_NKEY_SEED_FILE_CART: seed, NATS_PASSWORD_FILE_CART: pass, NATS_PASSWORD_CART: 'x' };
    expect(natsCredentialsFromEnv('cart', all)).toMatchObject({ kind: 'creds', source: 'NATS_CREDS_FILE_CART' });
    expect(natsCredentialsFromEnv('cart', { ...all, NATS_CREDS_FILE_CART: '' })).toEqual({ kind: 'nkey', seed: 'SUAFAKESEED', source: 'NATS_NKEY_SEED_FILE_CART' });
    expect(natsCredentialsFromEnv('cart', { NATS_PASSWORD_FILE_CART: pass, NATS_USER_CART: 'shop-cart' })).toEqual({
      kind: 'password',
      user: 'shop-cart',
      pass: 's3cret',
      source: 'NATS_PASSWORD_FILE_CART',
    });
  });

  it('falls back to the process-wide names, then (outside production) to nats.conf’s dev password', () => {
    expect(natsCredentialsFromEnv('order', { NATS_NKEY_SEED: 'SUSHARED' })).toMatchObject({ kind: 'nkey', seed: 'SUSHARED', source: 'NATS_NKEY_SEED' });
    expect(natsCredentialsFromEnv('order', { NATS_PASSWORD_ORDER: 'p' })).toMatchObject({ kind: 'password', user: 'order', pass: 'p' });
    expect(natsCredentialsFromEnv('order', {})).toMatchObject({ kind: 'password', pass: 'order-dev-secret' });
    expect(() => natsCredentialsFromEnv('order', { NODE_ENV: 'production' })).toThrow(/NODE_ENV=production/);
  });

  it('reads TLS files, and wants a client certificate and its key together', () => {
    expect(natsTlsFromEnv({})).toBeUndefined();
    expect(natsTlsFromEnv({ NATS_TLS_CA_FILE: '/ca.pem' })).toEqual({ caFile: '/ca.pem' });
    expect(() => natsTlsFromEnv({ NATS_TLS_CERT_FILE: '/c.pem' })).toThrow(/together/);
  });
});

describe('AUTH from the environment', () => {
  const pem = file('key.pem', '-----BEGIN PUBLIC KEY-----\n');
  const jwt = { AUTH: 'jwt', AUTH_PUBLIC_KEY_FILE: pem, AUTH_ISSUER: 'https://login/', AUTH_AUDIENCE: 'shop' };

  it('is off by default', () => {
    expect(authFromEnv({})).toEqual({ mode: 'off' });
  });

  it('refuses to start jwt without exactly one key source, an issuer and an audience', () => {
    expect(authFromEnv(jwt)).toMatchObject({ mode: 'jwt', issuer: 'https://login/', audience: 'shop', operatorRole: 'operator', clockToleranceSec: 30 });
    expect(() => authFromEnv({ ...jwt, AUTH_PUBLIC_KEY_FILE: '' })).toThrow(/AUTH_JWKS_URL or AUTH_PUBLIC_KEY_FILE/);
    expect(() => authFromEnv({ ...jwt, AUTH_JWKS_URL: 'https://login/jwks' })).toThrow(/exactly one/);
    expect(() => authFromEnv({ ...jwt, AUTH_ISSUER: '' })).toThrow(/AUTH_ISSUER/);
    expect(() => authFromEnv({ ...jwt, AUTH_AUDIENCE: '' })).toThrow(/AUTH_AUDIENCE/);
    expect(() => authFromEnv({ AUTH: 'basic' })).toThrow(/off or jwt/);
  });
});

describe('TRUST_PROXY', () => {
  it('trusts nothing unless told, then the named proxies, a hop count, or everything', () => {
    expect(trustProxyFromEnv(undefined)).toBe(false);
    expect(trustProxyFromEnv('false')).toBe(false);
    expect(trustProxyFromEnv('true')).toBe(true);
    expect(trustProxyFromEnv('127.0.0.1, 10.0.0.0/8')).toEqual(['127.0.0.1', '10.0.0.0/8']);
    const hops = trustProxyFromEnv('1');
    expect(typeof hops === 'function' && [hops('10.0.0.1', 0), hops('10.0.0.2', 1)]).toEqual([true, false]);
  });
});

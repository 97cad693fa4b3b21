/**
 * Production-shaped NATS: nats-server with TLS (client certificates verified) and one nkey user per
 * service, all made in the test, nats.conf's permissions unchanged. The services read their seeds
 * from files and the CA and client certificate from NATS_TLS_* as they would in production
 * (NODE_ENV=production, so a development password would be refused), and a checkout runs end to end.
 * Without TLS, without a client certificate, or with nats.conf's development password, nobody gets in.
 * Two nodes whose routes are TLS (certificates verified both ways) carry a request between them.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import { backendServices } from '../../src/registry.ts';
import { startSystem, type System } from '../../src/system.ts';
import { NatsTransport } from '../../src/runtime/transport/nats.ts';
import { authenticatorFor, natsCredentialsFromEnv, natsTlsFromEnv } from '../../src/runtime/transport/nats-credentials.ts';
import type { Service } from '../../src/contracts/subjects.ts';
import { freePort, startNatsServer, type NatsServerHandle, type NatsUser } from '../support/nats-server.ts';
import { makeCertificates, makeNkeys, writeClusterNodeConfig, writeTlsNkeyConfig, type TlsMaterial } from '../support/nats-tls.ts';
import { Shopper } from '../support/shop.ts';
import { testConfig } from '../support/system-fixture.ts';

const users: NatsUser[] = ['admin', 'gateway', ...backendServices];

describe('NATS with TLS and nkeys', { timeout: 60_000 }, () => {
  let dir: string;
  let tls: TlsMaterial;
  let nats: NatsServerHandle;
  let system: System;
  let env: Record<string, string>;
  let tlsUrl: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'poa-tls-'));
    tls = makeCertificates(dir);
    const nkeys = makeNkeys(users);
    nats = await startNatsServer({ config: writeTlsNkeyConfig(dir, tls, nkeys) });
    tlsUrl = nats.url.replace('nats://', 'tls://');
    // What a platform would mount: one seed file per service, the CA and this client's certificate.
    env = {
      NODE_ENV: 'production',
      NATS_TLS_CA_FILE: tls.caFile,
      NATS_TLS_CERT_FILE: tls.clientCertFile,
      NATS_TLS_KEY_FILE: tls.clientKeyFile,
    };
    for (const [user, { seed }] of nkeys) {
      const file = join(dir, `${user}.nk`);
      writeFileSync(file, `${seed}\n`, { mode: 0o600 });
      env[`NATS_NKEY_SEED_FILE_${user.toUpperCase()}`] = file;
    }
    const config = testConfig(join(dir, 'data'), (c) => {
      c.natsUrl = tlsUrl;
    });
    system = await startSystem({
      config,
      credentials: (service: Service) => natsCredentialsFromEnv(service, env),
      tls: natsTlsFromEnv(env),
    });
  });

  afterAll(async () => {
    await system?.stop();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a checkout to CONFIRMED over TLS, each service as its nkey user', async () => {
    const shopper = new Shopper(await system.transportFor('gateway'));
    const cart = await shopper.buy('5f0c7a3e-1d2b-4c8e-9a6f-3b7d2e1c0a94', [[productIdFor('ACME-ANVIL-01'), 1]]);
    const status = await shopper.settle(cart.checkoutId);
    expect(status.status).toBe('CONFIRMED');
    const gateway = await system.transportFor('gateway');
    // The connection really is the TLS one (the server has no other users to fall back on).
    expect(gateway).toBeInstanceOf(NatsTransport);
    expect((gateway as NatsTransport).nc.info?.tls_required).toBe(true);
  });

  it('refuses a plaintext client, a client without a certificate, and the development password', async () => {
    // Plaintext: nats.js would upgrade to TLS, but without the CA it cannot trust the server.
    await expect(connect({ servers: nats.url, timeout: 2_000 })).rejects.toThrow();
    // The right nkey, but no client certificate: the server verifies clients.
    const gatewayKey = authenticatorFor(natsCredentialsFromEnv('gateway', env));
    await expect(connect({ servers: tlsUrl, timeout: 2_000, authenticator: gatewayKey, tls: { caFile: tls.caFile } })).rejects.toThrow();
    // TLS done right, but nats.conf's development password: that user no longer exists.
    await expect(
      connect({ servers: tlsUrl, timeout: 2_000, user: 'gateway', pass: 'gateway-dev-secret', tls: natsTlsFromEnv(env) ?? {} }),
    ).rejects.toThrow(/Authorization/i);
    // And all of it right connects.
    const ok = await connect({ servers: tlsUrl, timeout: 2_000, authenticator: gatewayKey, tls: natsTlsFromEnv(env) ?? {} });
    await ok.close();
  });

  it('will not fall back to nats.conf’s development passwords in production', () => {
    expect(() => natsCredentialsFromEnv('cart', { NODE_ENV: 'production' })).toThrow(/NATS_CREDS_FILE_CART/);
    expect(natsCredentialsFromEnv('cart', {})).toMatchObject({ kind: 'password', user: 'cart' });
  });

  it('carries requests between cluster nodes over routes that are TLS too', async () => {
    const nkeys = makeNkeys(users);
    const base = writeTlsNkeyConfig(dir, tls, nkeys);
    const [p1, p2] = [await freePort(), await freePort()];
    const nodes = [
      await startNatsServer({ config: writeClusterNodeConfig(dir, base, tls, { name: 'n1', routePort: p1, peerPort: p2 }) }),
      await startNatsServer({ config: writeClusterNodeConfig(dir, base, tls, { name: 'n2', routePort: p2, peerPort: p1 }) }),
    ];
    const admin = { authenticator: authenticatorFor({ kind: 'nkey', seed: nkeys.get('admin')?.seed ?? '', source: 'test' }), tls: natsTlsFromEnv(env) ?? {} };
    const [a, b] = await Promise.all(nodes.map((n) => connect({ servers: n.url.replace('nats://', 'tls://'), timeout: 2_000, ...admin })));
    try {
      a!.subscribe('poa.cluster.echo', {
        callback: (_err, msg) => {
          msg.respond(msg.data);
        },
      });
      await a!.flush();
      // Until the route is up the request finds no responder on n2; then it crosses the route.
      const until = Date.now() + 15_000;
      let answer: string | undefined;
      while (answer === undefined) {
        answer = await b!.request('poa.cluster.echo', 'over the route', { timeout: 500 }).then((m) => m.string(), () => undefined);
        if (answer === undefined && Date.now() > until) throw new Error(`no route between the nodes:\n${nodes[1]!.log()}`);
        if (answer === undefined) await new Promise((r) => setTimeout(r, 200));
      }
      expect(answer).toBe('over the route');
      // The cluster port speaks TLS only, and only to a peer with a certificate from the CA.
      expect(await tlsHandshake(p1, { ca: readFileSync(tls.caFile) })).toBe('refused');
      expect(await tlsHandshake(p1, { ca: readFileSync(tls.caFile), cert: readFileSync(tls.routeCertFile), key: readFileSync(tls.routeKeyFile) })).toBe('secured');
    } finally {
      await Promise.all([a?.close(), b?.close()]);
      await Promise.all(nodes.map((n) => n.stop()));
    }
  });
});

/** Whether a TLS handshake with `port` completes and the peer keeps talking, given these credentials. */
function tlsHandshake(port: number, opts: { ca: Buffer; cert?: Buffer; key?: Buffer }): Promise<'secured' | 'refused'> {
  return new Promise((resolve) => {
    const sock = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ...opts });
    const done = (r: 'secured' | 'refused') => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    // TLS 1.3 reports a refused client certificate only after the handshake, as the server hangs up.
    let secured = false;
    sock.once('secureConnect', () => (secured = true));
    const timer = setTimeout(() => done(secured ? 'secured' : 'refused'), 1_000);
    sock.once('error', () => done('refused'));
    sock.once('close', () => done('refused'));
  });
}

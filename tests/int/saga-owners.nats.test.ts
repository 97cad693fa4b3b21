/**
 * The saga-owners bucket on a real nats-server: made with its TTL (the stream's max_age; nats-server
 * 2.9 has no TTL per key), and an instance's registration refresh, a compare-and-set on the
 * revision it holds, refused once its key expired and another instance took the slot: it registers
 * again rather than overwriting the other (src/actors/checkout/instances.ts). The expiry is a purge
 * of the key's messages, which is what max_age does to them. And an orchestrator over NATS claims
 * each saga it starts, naming itself (embedded, the sole orchestrator claims none:
 * saga-owners.embedded.test.ts).
 */
import { jetstreamManager } from '@nats-io/jetstream';
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshRegistration, registeredInstances, registerInstance } from '../../src/actors/checkout/instances.ts';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import { Bucket, BucketTtlMs } from '../../src/contracts/subjects.ts';
import { connectNats, type NatsTransport } from '../../src/runtime/transport/nats.ts';
import { credentialsFor, startNatsServer, type NatsServerHandle } from '../support/nats-server.ts';
import { startTestSystem } from '../support/system-fixture.ts';

describe('the saga-owners bucket over NATS', () => {
  let nats: NatsServerHandle;
  /** The orchestrator's user, with its permissions (nats.conf); the admin purges and reads the stream's config. */
  let checkout: NatsTransport;
  let admin: NatsTransport;

  beforeAll(async () => {
    nats = await startNatsServer();
    checkout = await connectNats({ servers: nats.url, ...credentialsFor('checkout'), inboxPrefix: '_INBOX.checkout', name: 'saga-owners-test', onError: () => undefined });
    admin = await connectNats({ servers: nats.url, ...credentialsFor('admin'), name: 'saga-owners-admin', onError: () => undefined });
  });

  afterAll(async () => {
    await checkout?.drain();
    await admin?.drain();
    await nats?.stop();
  });

  it("is made with a day's TTL, and a refresh after another instance took the expired slot registers in a free one", async () => {
    const owners = await checkout.kv(Bucket.sagaOwners);
    const jsm = await jetstreamManager(admin.nc, { checkAPI: false });
    const stream = `KV_${Bucket.sagaOwners}`;
    expect((await jsm.streams.info(stream)).config.max_age).toBe(BucketTtlMs[Bucket.sagaOwners]! * 1_000_000);

    expect(await registerInstance(owners, 'a')).toBe(0);
    const held = { slot: 0, revision: (await owners.get('instance.0'))!.revision };
    const refreshed = await refreshRegistration(owners, 'a', held);
    expect(refreshed.slot).toBe(0);
    expect(refreshed.revision).toBeGreaterThan(held.revision);

    await jsm.streams.purge(stream, { filter: `$KV.${Bucket.sagaOwners}.instance.0` }); // a's key expired
    expect(await registerInstance(owners, 'b')).toBe(0);
    const taken = await owners.get('instance.0');
    expect(await refreshRegistration(owners, 'a', refreshed)).toMatchObject({ slot: 1 });
    expect(await owners.get('instance.0')).toEqual(taken);
    expect(await registeredInstances(owners)).toEqual(['b', 'a']);
  });

  it('is where an orchestrator claims each saga it starts, under its own instance id', async () => {
    const t = await startTestSystem('nats', undefined, nats);
    try {
      const cart = await t.shopper.buy(randomUUID(), [[productIdFor('ACME-ANVIL-01'), 1]]);
      expect((await t.shopper.settle(cart.checkoutId)).status).toBe('CONFIRMED');
      const db = new Database(join(t.dataDir, 'checkout.db'), { readonly: true, fileMustExist: true });
      const instanceId = db.prepare(`SELECT value FROM meta WHERE key = 'instance_id'`).pluck().get() as string;
      db.close();
      const owners = await checkout.kv(Bucket.sagaOwners);
      expect((await owners.get(cart.checkoutId))?.value).toBe(instanceId);
      expect(await registeredInstances(owners)).toContain(instanceId);
    } finally {
      await t.stop();
    }
  });
});

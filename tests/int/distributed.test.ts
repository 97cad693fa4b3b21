/**
 * The services as separate processes over a real nats-server: an orchestrator killed with SIGKILL
 * mid-saga finishes its sagas after a restart, and two orchestrator instances share the work
 * without ever driving two sagas for one cart, while the explorer lists every instance's sagas and
 * its trace of any saga reaches its owner through either instance, and its search finds any saga by
 * short order number, cart or customer whichever instance holds it, and get-checkout reaches a
 * saga's owner once its status document is gone from the bucket.
 */
import { storedActors } from '../support/stored-actors.ts';
import { Kvm } from '@nats-io/kv';
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import { CheckoutTrace, ExplorerMessageType, ListCheckoutsResponse } from '../../src/contracts/messages/checkout.ts';
import { Bucket, ExplorerQuery, Query } from '../../src/contracts/subjects.ts';
import { CheckoutStatus, MessageType } from '../../src/contracts/index.ts';
import { orderNumberOf } from '../../src/contracts/order-number.ts';
import { uuidv7 } from '../../src/runtime/ids.ts';
import { ServiceClient } from '../../src/runtime/client.ts';
import { systemClock } from '../../src/runtime/clock.ts';
import { connectNats } from '../../src/runtime/transport/nats.ts';
import type { Transport } from '../../src/runtime/transport/transport.ts';
import { credentialsFor, startNatsServer, type NatsServerHandle } from '../support/nats-server.ts';
import { spawnServices, waitForServices, type ServiceProcess } from '../support/processes.ts';
import { audit, Shopper } from '../support/shop.ts';
import { initialStock } from '../support/system-fixture.ts';

const BIRDSEED = productIdFor('ACME-BIRDSEED');
const PARTICIPANTS = ['order', 'inventory', 'payment', 'promotion', 'cart'] as const;

describe('distributed over nats-server', () => {
  let nats: NatsServerHandle;
  let root: string;
  let gateway: Transport;
  let shopper: Shopper;
  let participants: ServiceProcess;
  const procs: ServiceProcess[] = [];
  const env = (dir: string, services: string): Record<string, string> => ({
    NATS_URL: nats.url,
    DATA_DIR: join(root, dir),
    SERVICES: services,
    PAYMENT_LATENCY_MS: '300',
    CHECKOUT_REQUEST_TIMEOUT_MS: '2000',
    // The steps' deadlines are long here: what these tests check is that a restarted or second
    // instance finishes the sagas, not when a step gives up. With the defaults (10 s), a restart
    // that a loaded machine (a full suite beside four other engineers' runs) stretched past them
    // cancelled all ten sagas of the crash test, as the saga should.
    CHECKOUT_RESERVE_DEADLINE_MS: '60000',
    CHECKOUT_PAYMENT_DEADLINE_MS: '60000',
    CHECKOUT_ORDER_DEADLINE_MS: '60000',
  });
  const orchestrator = (dir: string) => {
    const p = spawnServices({ ...env(dir, 'checkout'), LOG_LEVEL: 'info' });
    procs.push(p);
    return p;
  };
  const invariants = (checkoutDirs: string[]) =>
    audit({ inventory: join(root, 'participants'), payment: join(root, 'participants'), order: join(root, 'participants'), checkout: checkoutDirs.map((d) => join(root, d)) }, initialStock);

  beforeAll(async () => {
    nats = await startNatsServer();
    root = mkdtempSync(join(tmpdir(), 'poa-dist-'));
    participants = spawnServices(env('participants', PARTICIPANTS.join(',')));
    procs.push(participants);
    gateway = await connectNats({ servers: nats.url, user: 'gateway', pass: 'gateway-dev-secret' });
    shopper = new Shopper(gateway);
    await waitForServices(gateway, PARTICIPANTS, 60_000, participants);
  }, 90_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGTERM')));
    await gateway?.drain();
    await nats?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('an orchestrator killed with SIGKILL mid-saga finishes its sagas after a restart', async () => {
    const first = orchestrator('checkout-crash');
    await waitForServices(gateway, ['checkout'], 60_000, first);
    const carts = await Promise.all(Array.from({ length: 10 }, () => shopper.buy(randomUUID(), [[BIRDSEED, 1]])));
    // The sagas are under way (the payment processor takes 300 ms): kill the process outright. The
    // status bucket keeps the latest value only, so a saga that a loaded machine let finish before
    // its watch was up shows CONFIRMED, never PENDING; most must still be cut mid-way.
    const atKill = await Promise.all(carts.map((c) => shopper.settle(c.checkoutId, ['PENDING', 'CONFIRMED', 'CANCELLED'])));
    expect(atKill.filter((s) => s.status === 'PENDING').length).toBeGreaterThan(carts.length / 2);
    await first.kill('SIGKILL');

    const second = orchestrator('checkout-crash');
    await waitForServices(gateway, ['checkout'], 60_000, second);
    const outcomes = await Promise.all(carts.map((c) => shopper.settle(c.checkoutId, ['CONFIRMED', 'CANCELLED'], 30_000)));
    // A cancellation names its reason (a deadline, a refusal), so a failure here says which.
    expect(outcomes.map((o) => (o.status === 'CANCELLED' ? `CANCELLED: ${o.reason ?? '?'} (${o.reasonText ?? ''})` : o.status))).toEqual(carts.map(() => 'CONFIRMED'));
    for (const c of carts) expect(await shopper.order(c.orderId)).toMatchObject({ status: 'CREATED' });
    await second.kill('SIGTERM');
    expect(invariants(['checkout-crash'])).toEqual([]);
  }, 120_000);

  it('two orchestrator instances share the work and never drive two sagas for one cart', async () => {
    const a = orchestrator('checkout-a');
    const b = orchestrator('checkout-b');
    // Both instances have joined the durable consumer once each says it is running (its consumers
    // start before): a fixed 2 s was too short for the second on a loaded machine, which then took
    // no work.
    for (const p of [a, b]) await until(() => p.output().includes(RUNNING), 60_000, p);
    // Half the carts time-ordered (v7, as the storefront makes them): their orders' numbers are hash digits, not a prefix.
    const carts = await Promise.all(Array.from({ length: 40 }, (_, i) => shopper.buy(i % 2 ? uuidv7() : randomUUID(), [[BIRDSEED, 1]])));
    const outcomes = await Promise.all(carts.map((c) => shopper.settle(c.checkoutId, ['CONFIRMED', 'CANCELLED'], 30_000)));
    expect(new Set(outcomes.map((o) => o.status))).toEqual(new Set(['CONFIRMED']));
    // The explorer asks whichever instance the queue group picks; the owner answers every time.
    const explorer = new ServiceClient(gateway, 'urn:test:explorer', systemClock);
    for (const c of carts) {
      const { payload } = await explorer.call(ExplorerQuery.getCheckoutTrace, ExplorerMessageType.getCheckoutTraceRequest, { checkoutId: c.checkoutId }, CheckoutTrace, { timeoutMs: 5_000 });
      expect(payload).toMatchObject({ checkoutId: c.checkoutId, state: 'confirmed' });
    }
    // The list gathers every instance's sagas: paging through it (15 a page) shows each saga once.
    const listed: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const { payload } = await explorer.call(
        ExplorerQuery.listCheckouts, ExplorerMessageType.listCheckoutsRequest, { limit: 15, ...(cursor ? { cursor } : {}) }, ListCheckoutsResponse, { timeoutMs: 5_000 },
      );
      // At most the instance of the crash test above, registered on this nats-server and gone now.
      expect((payload.unreachable ?? []).length).toBeLessThanOrEqual(1);
      listed.push(...payload.checkouts.map((c) => c.checkoutId));
      cursor = payload.nextCursor;
      if (!cursor) break;
    }
    expect(listed.length).toBe(carts.length);
    expect(new Set(listed)).toEqual(new Set(carts.map((c) => c.checkoutId)));
    // Search reaches every instance too: each saga is found by its short order number, its cart and its customer.
    const search = async (q: string) =>
      (await explorer.call(ExplorerQuery.listCheckouts, ExplorerMessageType.listCheckoutsRequest, { q }, ListCheckoutsResponse, { timeoutMs: 5_000 })).payload.checkouts.map((c) => c.checkoutId);
    for (const c of carts) {
      expect(await search(orderNumberOf(c.orderId))).toEqual([c.checkoutId]);
      expect(await search(c.cartId)).toEqual([c.checkoutId]);
    }
    expect(await search(carts[0]!.customerId!)).toEqual([carts[0]!.checkoutId]);
    // With their status documents gone from the bucket (expired, or lost with the servers' memory),
    // get-checkout is answered by each saga, whichever instance the queue group picks: the one
    // that does not hold it forwards to the one that does.
    const admin = await connectNats({ servers: nats.url, ...credentialsFor('admin'), inboxPrefix: '_INBOX.admin' });
    try {
      const kv = await new Kvm(admin.nc).open(Bucket.checkouts);
      for (const c of carts) await kv.purge(c.checkoutId);
    } finally {
      await admin.drain();
    }
    for (const c of carts) {
      const { payload } = await explorer.call(Query.getCheckout, MessageType.getCheckoutRequest, { checkoutId: c.checkoutId }, CheckoutStatus, { timeoutMs: 5_000 });
      expect(payload).toMatchObject({ checkoutId: c.checkoutId, orderId: c.orderId, status: 'CONFIRMED', step: 'DONE' });
    }
    await Promise.all([a.kill('SIGTERM'), b.kill('SIGTERM')]);
    expect(invariants(['checkout-a', 'checkout-b'])).toEqual([]);
    const perInstance = ['checkout-a', 'checkout-b'].map((d) => countSagas(join(root, d)));
    expect(perInstance[0]! + perInstance[1]!).toBe(carts.length);
    expect(perInstance.every((n) => n > 0)).toBe(true); // both instances took work
  }, 120_000);
});

/** What main.ts logs once every service of the process has started. */
const RUNNING = 'Place an Order is running';

async function until(cond: () => boolean, ms: number, p: ServiceProcess): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not running after ${ms} ms\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function countSagas(dir: string): number {
  const db = new Database(join(dir, 'checkout.db'), { readonly: true });
  try {
    return storedActors(db, 'checkout').length;
  } finally {
    db.close();
  }
}

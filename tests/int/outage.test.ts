/**
 * A participant outage shorter than half a step's deadline never cancels a checkout: the relay's
 * retries of a request are bounded by the time left before the step's deadline (runtime/relay.ts,
 * retryLater), so near the deadline it retries more often, not less. The Payment Service is stopped
 * before the checkouts and started again on its own store 1.4 s later; the authorize-payment
 * deadline is 3 s. (With the default backoff, doubling from 100 ms to a 5 s cap, this outage is
 * usually survived anyway; the bound is what makes it hold whatever the backoff settings and the
 * deadline's length.)
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paymentMigrations } from '../../src/actors/payment/schema.ts';
import { startPaymentService } from '../../src/actors/payment/service.ts';
import { createSimulator } from '../../src/actors/payment/simulator.ts';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import { ServiceRuntime } from '../../src/runtime/service.ts';
import { Store } from '../../src/runtime/store.ts';
import { startTestSystem, type TestSystem } from '../support/system-fixture.ts';
import { sleep } from '../support/waiting.ts';

const BIRDSEED = productIdFor('ACME-BIRDSEED');

describe('a participant down for less than half a deadline', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem('embedded', (c) => {
      c.checkout.deadlines = { ...c.checkout.deadlines, authorizePaymentMs: 3_000 };
    });
  });
  afterAll(async () => t.stop());

  const restartPayment = async () => {
    const { config, system } = t;
    const old = system.runtimes.get('payment')!;
    const store = new Store({ path: join(config.dataDir, 'payment.db'), migrations: paymentMigrations, synchronous: config.synchronous, locking: config.locking });
    const rt = new ServiceRuntime({ service: 'payment', source: old.source, store, transport: await system.transportFor('payment'), clock: old.clock, log: old.log });
    await startPaymentService(rt, { processor: createSimulator(config.payment) });
    await rt.start();
    system.runtimes.set('payment', rt);
  };

  it('does not cancel the checkouts: the retries reach the Payment Service once it is back', async () => {
    await t.system.runtimes.get('payment')!.stop();
    const carts = await Promise.all([1, 2, 3].map(() => t.shopper.buy(randomUUID(), [[BIRDSEED, 1]])));
    await sleep(1_400);
    await restartPayment();
    const statuses = await Promise.all(carts.map((c) => t.shopper.settle(c.checkoutId)));
    expect(statuses.map((s) => s.status)).toEqual(['CONFIRMED', 'CONFIRMED', 'CONFIRMED']);
    expect(t.invariants()).toEqual([]);
  }, 30_000);
});

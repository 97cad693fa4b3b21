/**
 * Embedded mode with the services in worker threads (EMBEDDED_THREADS): the same flow, the same
 * files and the same invariants as with every service on the main thread. The transport across the
 * threads' ports also passes the transport conformance suite (transport.conformance.test.ts).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import { assignThreads } from '../../src/threads/threads.ts';
import { startTestSystem, type TestSystem } from '../support/system-fixture.ts';

const BIRDSEED = productIdFor('ACME-BIRDSEED'); // 1,250 each, 200 in stock
const BATSUIT = productIdFor('ACME-BATMAN-SUIT'); // 3 in stock
const DECLINED = randomUUID();

describe('embedded mode in worker threads', () => {
  let t: TestSystem;
  beforeAll(async () => {
    t = await startTestSystem('embedded', (c) => {
      c.threads = 2;
      c.payment = { ...c.payment, declineCustomers: [DECLINED] };
    });
  });
  afterAll(async () => t?.stop());

  it('spreads the services over the threads, heaviest first, each group in start order', () => {
    const groups = assignThreads(['order', 'inventory', 'payment', 'promotion', 'cart', 'checkout'], 2);
    expect(groups).toHaveLength(2);
    expect(groups.flat().sort()).toEqual(['cart', 'checkout', 'inventory', 'order', 'payment', 'promotion']);
    expect(groups.find((g) => g.includes('checkout'))).not.toContain('inventory');
    expect(t.system.runtimes.size).toBe(0); // none on the main thread
  });

  it('confirms a checkout, and compensates a declined one', async () => {
    const ok = await t.shopper.buy(randomUUID(), [[BIRDSEED, 2]]);
    expect(await t.shopper.settle(ok.checkoutId)).toMatchObject({ status: 'CONFIRMED' });
    const declined = await t.shopper.buy(DECLINED, [[BIRDSEED, 1]]);
    expect(await t.shopper.settle(declined.checkoutId)).toMatchObject({ status: 'CANCELLED', reason: 'PAYMENT_FAILED', detail: 'PAYMENT_DECLINED' });
  });

  it('keeps the invariants under a crowd racing for scarce stock', async () => {
    const carts = await Promise.all(Array.from({ length: 12 }, () => t.shopper.buy(randomUUID(), [[BATSUIT, 1]])));
    const finals = await Promise.all(carts.map((c) => t.shopper.settle(c.checkoutId)));
    expect(finals.filter((f) => f.status === 'CONFIRMED')).toHaveLength(3);
    expect(finals.filter((f) => f.status === 'CANCELLED').every((f) => f.reason === 'OUT_OF_STOCK')).toBe(true);
    await t.system.stop();
    expect(t.invariants()).toEqual([]);
  });
});

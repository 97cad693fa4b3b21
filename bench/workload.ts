/**
 * The workload: a generated catalog and a plan of checkouts, both from a seeded PRNG so that a run
 * replays exactly. Carts hold 1 to 5 lines of 1 to 3 units from a catalog with ample stock; a share
 * of the checkouts fails by design so that compensation is measured too:
 *  - declined: the customer is one of PAYMENT_DECLINE_CUSTOMERS (reserve, authorize, decline,
 *    release, cancel: the longest failure path);
 *  - out of stock: the cart holds one of a few scarce products with no stock (reserve refused,
 *    cancel).
 */
import { randomUUID } from 'node:crypto';
import type { Seed, SeedProduct } from '../src/actors/seed/seed.ts';
import { checkoutIdsFor, uuidv5, uuidv7 } from '../src/runtime/ids.ts';

const BENCH_NS = '2f8a6c4e-0b1d-4e3f-a5c7-9e1b3d5f7a08';
/** Stock that no run can exhaust: 1,000 products at 3 units per line still leaves plenty. */
const AMPLE_STOCK = 10_000_000;
const SCARCE_PRODUCTS = 4;
const DECLINE_CUSTOMERS = 16;

export type Expectation = 'confirm' | 'decline' | 'outOfStock';

export interface CheckoutPlan {
  cartId: string;
  checkoutId: string;
  customerId: string;
  lines: Array<[productId: string, quantity: number]>;
  expect: Expectation;
}

export interface Workload {
  seed: Seed;
  declineCustomers: string[];
  /**
   * The next `count` plans of the run, in order (fewer at its end). Made as the bench needs them,
   * not all at once: a plan is about 0.7 KiB, and a long run must not hold all of them.
   */
  nextPlans(count: number): CheckoutPlan[];
  /** Plans not made yet. */
  remaining(): number;
  initialStock: Map<string, number>;
}

/** mulberry32: tiny, fast, good enough to pick products. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function makeWorkload(opts: { products: number; checkouts: number; failShare: number; seed: number }): Workload {
  const rnd = prng(opts.seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const product = (i: number, stock: number): SeedProduct => {
    const sku = `BENCH-${String(i).padStart(6, '0')}`;
    return {
      productId: uuidv5(sku, BENCH_NS),
      sku,
      name: `Bench product ${i}`,
      unitPrice: int(100, 20_000),
      currency: 'USD',
      stock,
    };
  };
  const ample = Array.from({ length: opts.products }, (_, i) => product(i, AMPLE_STOCK));
  const scarce = Array.from({ length: SCARCE_PRODUCTS }, (_, i) => product(opts.products + i, 0));
  const seed: Seed = { products: [...ample, ...scarce], promotions: [] };
  const declineCustomers = Array.from({ length: DECLINE_CUSTOMERS }, (_, i) => uuidv5(`decline-${i}`, BENCH_NS));

  const nextPlan = (): CheckoutPlan => {
    const roll = rnd();
    const expect: Expectation = roll < opts.failShare / 2 ? 'decline' : roll < opts.failShare ? 'outOfStock' : 'confirm';
    const lines = new Map<string, number>();
    const count = int(1, 5);
    while (lines.size < count) lines.set(ample[int(0, ample.length - 1)]!.productId, int(1, 3));
    if (expect === 'outOfStock') lines.set(scarce[int(0, scarce.length - 1)]!.productId, 1);
    // New, not derived: a second run against kept data must not collide with the first's carts. A
    // v7, as the storefront makes them: time-ordered, in the order the carts are filled and checked out.
    const cartId = uuidv7();
    return {
      cartId,
      checkoutId: checkoutIdsFor(cartId).checkoutId,
      customerId: expect === 'decline' ? declineCustomers[int(0, declineCustomers.length - 1)]! : randomUUID(),
      lines: [...lines],
      expect,
    };
  };
  let made = 0;
  const nextPlans = (count: number): CheckoutPlan[] => {
    const out: CheckoutPlan[] = [];
    while (out.length < count && made < opts.checkouts) {
      out.push(nextPlan());
      made++;
    }
    return out;
  };
  return {
    seed,
    declineCustomers,
    nextPlans,
    remaining: () => opts.checkouts - made,
    initialStock: new Map(seed.products.map((p) => [p.productId, p.stock])),
  };
}

/**
 * How a checkout ended against its plan. `deadline`: cancelled by one of the saga's own deadlines
 * (a step took too long, e.g. under overload) and compensated; correct behaviour, reported apart.
 */
export type Verdict = 'asPlanned' | 'deadline' | 'wrong';

export function verdict(expect: Expectation, status: string, reason: string | undefined, detail: string | undefined): Verdict {
  if (status === 'CANCELLED' && detail?.endsWith('_TIMEOUT')) return 'deadline';
  switch (expect) {
    case 'confirm':
      return status === 'CONFIRMED' ? 'asPlanned' : 'wrong';
    case 'decline':
      return status === 'CANCELLED' && reason === 'PAYMENT_FAILED' ? 'asPlanned' : 'wrong';
    case 'outOfStock':
      return status === 'CANCELLED' && reason === 'OUT_OF_STOCK' ? 'asPlanned' : 'wrong';
  }
}

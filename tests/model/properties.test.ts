/**
 * Beyond single paths: random crowds of shoppers against the real embedded system. Each run
 * starts a fresh system; shoppers start at random moments and compete for scarce stock; some are
 * on the fraud list, some the Order Service refuses, some carts go above the payment limit; some
 * cancel or complete their order afterwards; commands are re-sent with the same idempotency key
 * and cart-checked-out is delivered twice. After each run:
 *  - every saga reached CONFIRMED, CANCELLED or NEEDS_ATTENTION within its deadlines;
 *  - a re-sent command got the first answer again, and a redelivered event started no second saga;
 *  - the stores' invariants hold (stock conserved, no CANCELLED order keeps a hold or an
 *    authorization, every CREATED order has both, no cart has two sagas), once the asynchronous
 *    consumers have caught up.
 * A shrunk counterexample prints as one readable line per shopper.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import { MessageType, type Cart } from '../../src/contracts/index.ts';
import { Command, Event } from '../../src/contracts/subjects.ts';
import { systemClock } from '../../src/runtime/clock.ts';
import { ServiceClient } from '../../src/runtime/client.ts';
import { startTestSystem, type TestSystem } from '../support/system-fixture.ts';

const scarce = {
  'Bat-Man Outfit': 'ACME-BATMAN-SUIT',
  'Portable Hole': 'ACME-PAINT-HOLE',
  'Dynamite Kit': 'ACME-DYNAMITE',
} as const;
type Product = keyof typeof scarce;
type Who = 'a customer' | 'a fraudster' | 'a refused customer';
type Then = 'waits' | 'cancels' | 'completes';

interface Plan {
  who: Who;
  lines: Array<[Product, number]>;
  startAfterMs: number;
  then: Then;
  /** Re-sends checkout-cart (and the follow-up) with the same idempotency key, once the first answer is in. */
  resend: boolean;
  /** Publishes cart-checked-out a second time, under a new message id. */
  redeliver: boolean;
}

const readable = (p: Plan): Plan & { [fc.toStringMethod](): string } => ({
  ...p,
  [fc.toStringMethod]: () =>
    `${p.who} at +${p.startAfterMs}ms buys ${p.lines.map(([x, q]) => `${q} × ${x}`).join(' + ')}, then ${p.then}` +
    `${p.resend ? ', re-sending each command' : ''}${p.redeliver ? ', with cart-checked-out delivered twice' : ''}`,
});

const plan = fc
  .record({
    who: fc.constantFrom<Who>('a customer', 'a customer', 'a fraudster', 'a refused customer'),
    lines: fc.array(
      fc.tuple(fc.constantFrom(...(Object.keys(scarce) as Product[])), fc.integer({ min: 1, max: 3 })),
      { minLength: 1, maxLength: 2 },
    ),
    startAfterMs: fc.integer({ min: 0, max: 40 }),
    then: fc.constantFrom<Then>('waits', 'cancels', 'completes'),
    resend: fc.boolean(),
    redeliver: fc.boolean(),
  })
  .map(readable);

const crowd = fc.array(plan, { minLength: 2, maxLength: 10 });

const example = (...ps: Plan[]) => ps.map(readable);
const examples: Array<[ReturnType<typeof readable>[]]> = [
  // Four shoppers after the last three outfits; two give up theirs while the others wait.
  [
    example(
      {
        who: 'a customer',
        lines: [['Bat-Man Outfit', 2]],
        startAfterMs: 0,
        then: 'cancels',
        resend: true,
        redeliver: false,
      },
      {
        who: 'a customer',
        lines: [['Bat-Man Outfit', 2]],
        startAfterMs: 0,
        then: 'waits',
        resend: false,
        redeliver: true,
      },
      {
        who: 'a fraudster',
        lines: [['Bat-Man Outfit', 1]],
        startAfterMs: 5,
        then: 'completes',
        resend: true,
        redeliver: true,
      },
      {
        who: 'a refused customer',
        lines: [
          ['Bat-Man Outfit', 1],
          ['Dynamite Kit', 3],
        ],
        startAfterMs: 5,
        then: 'completes',
        resend: false,
        redeliver: false,
      },
    ),
  ],
];

const FRAUDSTER = randomUUID();
const REFUSED = randomUUID();
/** What the runs did, across runs: shows the crowds really hit every outcome. */
const tally = new Map<string, number>();
const count = (what: string) => tally.set(what, (tally.get(what) ?? 0) + 1);

async function runCrowd(plans: readonly Plan[]): Promise<void> {
  const t = await startTestSystem('embedded', (c) => {
    c.payment = { ...c.payment, declineAbove: 45_000, fraudCustomers: [FRAUDSTER] };
    c.order = { refuseCustomers: [REFUSED], maxTotal: undefined };
  });
  try {
    const d = t.config.checkout.deadlines;
    const budget = d.reserveInventoryMs + d.authorizePaymentMs + d.createOrderMs + 3 * d.compensationMs;
    const problems = (await Promise.all(plans.map((p, i) => shop(t, p, i, budget)))).flat();
    expect(problems).toEqual([]);
    await expect.poll(() => t.invariants(), { timeout: 5_000, interval: 100 }).toEqual([]);
  } finally {
    await t.stop();
  }
}

/** One shopper's run; returns what went wrong, in words. */
async function shop(t: TestSystem, p: Plan, n: number, budgetMs: number): Promise<string[]> {
  await new Promise((r) => setTimeout(r, p.startAfterMs));
  const customerId =
    p.who === 'a fraudster' ? FRAUDSTER : p.who === 'a refused customer' ? REFUSED : randomUUID();
  const cartId = randomUUID();
  const who = `shopper ${n + 1} (${p.who})`;
  for (const [product, q] of p.lines) await t.shopper.addItem(cartId, productIdFor(scarce[product]), q);
  const cart = await t.shopper.checkout(cartId, customerId);
  const checkouts = p.resend ? [cart, await t.shopper.checkout(cartId, customerId)] : [cart];
  const problems: string[] = [];
  if (checkouts.some((c) => c.checkoutId !== cart.checkoutId || c.orderId !== cart.orderId))
    problems.push(`${who}: a re-sent checkout-cart got a different answer`);
  if (!cart.checkoutId || !cart.orderId) return [`${who}: checkout-cart named no checkout`];
  if (p.redeliver) await redeliver(t, cart);
  const started = Date.now();
  let status;
  try {
    status = await t.shopper.settle(cart.checkoutId, ['CONFIRMED', 'CANCELLED', 'NEEDS_ATTENTION'], budgetMs);
  } catch {
    return [`${who}: the saga did not finish within its deadlines (${budgetMs} ms)`];
  }
  if (Date.now() - started > budgetMs)
    problems.push(`${who}: the saga took ${Date.now() - started} ms, beyond its deadlines`);
  count(`${status.status}${status.detail ? ` ${status.detail}` : ''}`);
  if (status.status !== 'CONFIRMED' || p.then === 'waits') return problems;
  count(`then ${p.then}`);
  const key = randomUUID();
  const client = new ServiceClient(await t.system.transportFor('gateway'), 'urn:test:shopper', systemClock);
  const send = () =>
    p.then === 'cancels'
      ? client.call(
          Command.cancelOrder,
          MessageType.cancelOrder,
          { orderId: cart.orderId, reason: 'CUSTOMER_REQUESTED' },
          z.object({ orderId: z.string() }),
          { timeoutMs: 5_000, idempotencyKey: key },
        )
      : client.call(
          Command.completeOrder,
          MessageType.completeOrder,
          { orderId: cart.orderId },
          z.object({ orderId: z.string() }),
          { timeoutMs: 5_000, idempotencyKey: key },
        );
  const first = await send();
  const replies = p.resend ? [first, await send()] : [first];
  if (replies.some((r) => JSON.stringify(r.payload) !== JSON.stringify(replies[0]!.payload)))
    problems.push(
      `${who}: a re-sent ${p.then === 'cancels' ? 'cancel' : 'complete'}-order got a different answer`,
    );
  const order = await t.shopper.order(cart.orderId);
  const want = p.then === 'cancels' ? 'CANCELLED' : 'COMPLETED';
  if (order?.status !== want) problems.push(`${who}: the order is ${order?.status}, expected ${want}`);
  return problems;
}

/** cart-checked-out again, under a new message id so that the stream's de-duplication lets it through. */
async function redeliver(t: TestSystem, cart: Cart): Promise<void> {
  const transport = await t.system.transportFor('cart');
  const id = randomUUID();
  const now = new Date().toISOString();
  const body = {
    eventId: randomUUID(),
    occurredAt: now,
    cartId: cart.cartId,
    customerId: cart.customerId,
    items: cart.items,
    total: cart.total,
    currency: cart.currency,
  };
  await transport.publish(
    Event.cartCheckedOut,
    JSON.stringify(body),
    {
      'ce-id': id,
      'ce-type': MessageType.cartCheckedOut,
      'ce-source': 'urn:test',
      'ce-time': now,
      'ce-specversion': '1.0',
    },
    id,
  );
}

describe('crowds of shoppers against the real system', () => {
  // A re-send that arrives while the original is still queued in the actor's mailbox must get the
  // original's reply (ServiceRuntime.command looks the idempotency key up again inside the mailbox).
  it(
    'answers a checkout-cart re-sent while the original is in flight with the original answer',
    async () => {
      const t = await startTestSystem('embedded');
      try {
        const cartId = randomUUID();
        await t.shopper.addItem(cartId, productIdFor(scarce['Dynamite Kit']), 1);
        const customerId = randomUUID();
        const [a, b] = await Promise.all([
          t.shopper.checkout(cartId, customerId),
          t.shopper.checkout(cartId, customerId),
        ]);
        expect(b).toEqual(a);
      } finally {
        await t.stop();
      }
    },
  );

  it('keep every invariant through random interleavings, failures and duplicate deliveries', async () => {
    await fc.assert(fc.asyncProperty(crowd, runCrowd), {
      numRuns: Number(process.env.MODEL_RUNS ?? 10),
      examples,
      // Each run starts a system; a failure shrinks within this budget and reports what it has.
      interruptAfterTimeLimit: 90_000,
    });
    if (process.env.MODEL_VERBOSE)
      console.info(
      `crowd outcomes: ${[...tally]
        .sort()
        .map(([k, n]) => `${k} ×${n}`)
        .join(', ')}`,
    );
  }, 120_000);
});

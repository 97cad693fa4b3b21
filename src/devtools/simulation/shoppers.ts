/**
 * The workload: shoppers who fill carts, sometimes take a line out, use promotion codes (valid,
 * expired, unknown), check out as a regular, declined, fraudulent, refused or slow customer, and
 * sometimes cancel their order afterwards, all at once and contending for small stock. They talk to
 * the Cart and Order services over the simulated network, as the gateway does, and retry a command
 * that timed out with the same idempotency key, as a client of a mature API would.
 *
 * Each shopper writes down what it was told (an acknowledged reply); the invariants check after
 * the run, crashes and all, that what it was told is still true.
 */
import { z } from 'zod';
import { Cart, MessageType } from '../../contracts/index.ts';
import { Command } from '../../contracts/subjects.ts';
import { ServiceClient } from '../../runtime/client.ts';
import { uuidv5 } from '../../runtime/ids.ts';
import { isTransient, RemoteError } from '../../runtime/transport/errors.ts';
import type { Transport } from '../../runtime/transport/transport.ts';
import type { SimLoop } from './loop.ts';
import type { Prng } from './prng.ts';
import type { Scenario } from './scenarios.ts';
import type { Trace } from './trace.ts';

const CUSTOMER_NS = '8a0f3c51-2d4e-4b6f-9a1c-5e7d9b3f1a06';
/** Customer ids by behaviour; the run's payment and order rules name the same ids. */
export const Customers = {
  regular: [uuidv5('regular-1', CUSTOMER_NS), uuidv5('regular-2', CUSTOMER_NS), uuidv5('regular-3', CUSTOMER_NS)],
  declined: uuidv5('declined', CUSTOMER_NS),
  fraud: uuidv5('fraud', CUSTOMER_NS),
  refused: uuidv5('refused', CUSTOMER_NS),
  slow: uuidv5('slow', CUSTOMER_NS),
} as const;

/** What one shopper was told. */
export interface ShopperRecord {
  name: string;
  cartId: string;
  /** Acknowledged lines: productId -> quantity, as the last acknowledged cart reply said. */
  lines: Map<string, number>;
  checkout: { orderId: string; checkoutId: string } | undefined;
  cancelAcked: boolean;
  /** A command refused for good (CONFLICT, NOT_FOUND...), or one that never got an answer. */
  notes: string[];
  done: boolean;
}

export interface ShopperContext {
  loop: SimLoop;
  rng: Prng;
  trace: Trace;
  transport: Transport;
  products: readonly string[];
  promotionCodes: readonly string[];
  /** The most any product has in stock: a basket that exceeds the stock asks for more. */
  maxStock: number;
}

/** A scenario's customer, as this run's rules know them (an amount above the limit is declined by the processor, like the declined customer). */
function scenarioCustomer(s: Scenario, rng: Prng): string {
  switch (s.customer) {
    case 'regular':
      return s.basket === 'exceedsLimit' ? Customers.declined : rng.pick(Customers.regular);
    case 'fraud':
      return Customers.fraud;
    case 'stall':
      return Customers.slow;
    case 'refused':
      return Customers.refused;
    default: {
      const _exhaustive: never = s.customer;
      throw new Error(`unknown customer ${String(_exhaustive)}`);
    }
  }
}

const TIMEOUT_MS = 2_000;
const MAX_ATTEMPTS = 40;

/** A shopper; with a scenario, one who checks out exactly that scenario's customer and basket. */
export function startShopper(name: string, ctx: ShopperContext, scenario?: Scenario): { record: ShopperRecord; done: Promise<void> } {
  const { loop, rng, trace } = ctx;
  const client = new ServiceClient(ctx.transport, `urn:sim:${name}`, loop.clockFor(name), {}, () => rng.next());
  const record: ShopperRecord = { name, cartId: rng.uuid(), lines: new Map(), checkout: undefined, cancelAcked: false, notes: [], done: false };
  const sleep = (ms: number) => new Promise<void>((resolve) => loop.schedule(name, ms, resolve));

  /** Sends until answered; transient failures are retried with the same key. Undefined: refused for good. */
  const send = async <T>(subject: string, type: string, payload: unknown, schema: z.ZodType<T>, key: string): Promise<T | undefined> => {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      try {
        const r = await client.call(subject, type, payload, schema, { timeoutMs: TIMEOUT_MS, idempotencyKey: key});
        return r.payload;
      } catch (err) {
        if (isTransient(err)) {
          await sleep(rng.int(100, 2_000));
          continue;
        }
        const why = err instanceof RemoteError ? `${err.code} ${err.message}` : String(err);
        record.notes.push(`${type} refused: ${why}`);
        trace.add(`shopper ${name} ${type} refused: ${why}`);
        return undefined;
      }
    }
    record.notes.push(`${type} unanswered after ${MAX_ATTEMPTS} attempts`);
    return undefined;
  };
  const told = (cart: Cart) => {
    record.lines = new Map(cart.items.map((i) => [i.productId, i.quantity]));
  };

  const checkout = async (customerId: string, promotionCode: string | undefined): Promise<string | undefined> => {
    const cart = await send(
      Command.checkoutCart, MessageType.checkoutCart, { cartId: record.cartId, customerId, ...(promotionCode ? { promotionCode } : {}) },
      Cart, `${name}:checkout`,
    );
    if (!cart) return undefined;
    told(cart);
    if (!cart.orderId || !cart.checkoutId) {
      record.notes.push('checkout reply without orderId/checkoutId');
      return undefined;
    }
    record.checkout = { orderId: cart.orderId, checkoutId: cart.checkoutId };
    trace.add(`shopper ${name} checked out cart ${record.cartId} as order ${cart.orderId}`);
    return cart.orderId;
  };

  const runScenario = async (s: Scenario) => {
    trace.add(`shopper ${name} follows scenario ${s.customer}/${s.basket}: ${s.words}`);
    await sleep(rng.int(0, 3_000));
    const quantity = s.basket === 'exceedsStock' ? ctx.maxStock + 1 : 1;
    const cart = await send(Command.addItemToCart, MessageType.addItemToCart, { cartId: record.cartId, productId: rng.pick(ctx.products), quantity }, Cart, `${name}:add:0`);
    if (!cart) return;
    told(cart);
    await checkout(scenarioCustomer(s, rng), undefined);
  };

  const run = async () => {
    if (scenario) return runScenario(scenario);
    await sleep(rng.int(0, 3_000));
    const adds = rng.int(1, 3);
    for (let i = 0; i < adds; i++) {
      const productId = rng.pick(ctx.products);
      const quantity = rng.chance(0.2) ? rng.int(3, 6) : rng.int(1, 2);
      const cart = await send(Command.addItemToCart, MessageType.addItemToCart, { cartId: record.cartId, productId, quantity }, Cart, `${name}:add:${i}`);
      if (!cart) return;
      told(cart);
      await sleep(rng.int(0, 500));
    }
    if (rng.chance(0.25) && record.lines.size > 0) {
      const productId = rng.pick([...record.lines.keys()]);
      const cart = await send(Command.removeItemFromCart, MessageType.removeItemFromCart, { cartId: record.cartId, productId, quantity: 1 }, Cart, `${name}:remove`);
      if (!cart) return;
      told(cart);
    }
    if (rng.chance(0.1)) return; // walks away: the cart stays open
    const customerId = rng.chance(0.6)
      ? rng.pick(Customers.regular)
      : rng.pick([Customers.declined, Customers.fraud, Customers.refused, Customers.slow]);
    const promotionCode = rng.chance(0.3) ? rng.pick([...ctx.promotionCodes, 'NO-SUCH-CODE']) : undefined;
    const orderId = await checkout(customerId, promotionCode);
    if (!orderId) return;
    if (rng.chance(0.15)) {
      await sleep(rng.int(0, 20_000));
      const ok = await send(Command.cancelOrder, MessageType.cancelOrder, { orderId, reason: 'CUSTOMER_REQUESTED' }, z.object({ orderId: z.string() }), `${name}:cancel`);
      record.cancelAcked = ok !== undefined;
    }
  };
  const done = run().then(
    () => void (record.done = true),
    (err: unknown) => {
      record.done = true;
      record.notes.push(`shopper failed: ${String(err)}`);
    },
  );
  return { record, done };
}

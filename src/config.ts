/**
 * Configuration, all from environment variables (documented in the README). Every knob has a
 * default that runs the whole system in one process with nothing but Node.
 */
import { resolve } from 'node:path';
import { defaultCheckoutConfig, type CheckoutConfig } from './actors/checkout/service.ts';
import { defaultCartConfig, type CartServiceConfig } from './actors/cart/service.ts';
import type { OrderServiceConfig } from './actors/order/service.ts';
import { simulatorRulesFromEnv, type SimulatorRules } from './actors/payment/simulator.ts';
import { loadSeed, type Seed } from './actors/seed/seed.ts';
import type { Locking, Synchronous } from './runtime/store.ts';

export interface SystemConfig {
  dataDir: string;
  /** Unset: embedded, every service in this process on the in-process transport. */
  natsUrl: string | undefined;
  /** Embedded only: worker threads the services are spread over (0: all on the main thread). */
  threads: number;
  /** SQLite durability. FULL (default) survives power loss; NORMAL survives a process crash. */
  synchronous: Synchronous;
  /** exclusive (default): a service's store has one owner and cheaper transactions; shared: other processes may read it. */
  locking: Locking;
  gateway: { host: string; port: number };
  logLevel: string;
  checkout: CheckoutConfig;
  cart: CartServiceConfig;
  order: OrderServiceConfig;
  payment: SimulatorRules;
  seed: Seed;
}

type Env = Readonly<Record<string, string | undefined>>;

const int = (env: Env, key: string, fallback: number): number => {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${key} must be a non-negative integer, got "${raw}"`);
  return n;
};

const list = (env: Env, key: string): string[] =>
  (env[key] ?? '').split(',').map((s) => s.trim()).filter(Boolean);

export function configFromEnv(env: Env = process.env): SystemConfig {
  const sync = (env.SQLITE_SYNCHRONOUS ?? 'FULL').toUpperCase();
  if (sync !== 'FULL' && sync !== 'NORMAL') throw new Error(`SQLITE_SYNCHRONOUS must be FULL or NORMAL, got "${sync}"`);
  const locking = (env.SQLITE_LOCKING ?? 'exclusive').toLowerCase();
  if (locking !== 'exclusive' && locking !== 'shared') throw new Error(`SQLITE_LOCKING must be exclusive or shared, got "${locking}"`);
  const d = defaultCheckoutConfig.deadlines;
  const maxTotal = env.ORDER_MAX_TOTAL ? int(env, 'ORDER_MAX_TOTAL', 0) : undefined;
  return {
    dataDir: resolve(env.DATA_DIR ?? './data'),
    natsUrl: env.NATS_URL || undefined,
    threads: int(env, 'EMBEDDED_THREADS', 0),
    synchronous: sync,
    locking,
    gateway: { host: env.HOST ?? '127.0.0.1', port: int(env, 'PORT', 3000) },
    logLevel: env.LOG_LEVEL ?? 'info',
    checkout: {
      deadlines: {
        reserveInventoryMs: int(env, 'CHECKOUT_RESERVE_DEADLINE_MS', d.reserveInventoryMs),
        authorizePaymentMs: int(env, 'CHECKOUT_PAYMENT_DEADLINE_MS', d.authorizePaymentMs),
        createOrderMs: int(env, 'CHECKOUT_ORDER_DEADLINE_MS', d.createOrderMs),
        compensationMs: int(env, 'CHECKOUT_COMPENSATION_DEADLINE_MS', d.compensationMs),
      },
      requestTimeoutMs: int(env, 'CHECKOUT_REQUEST_TIMEOUT_MS', defaultCheckoutConfig.requestTimeoutMs),
      ackWaitMs: defaultCheckoutConfig.ackWaitMs,
      instanceId: env.INSTANCE_ID || undefined,
    },
    cart: {
      maxQuantityPerLine: int(env, 'CART_MAX_QUANTITY_PER_LINE', defaultCartConfig.maxQuantityPerLine),
      abandonAfterMs: int(env, 'CART_ABANDON_AFTER_MS', defaultCartConfig.abandonAfterMs),
      discountTimeoutMs: int(env, 'CART_DISCOUNT_TIMEOUT_MS', defaultCartConfig.discountTimeoutMs),
    },
    order: { refuseCustomers: list(env, 'ORDER_REFUSE_CUSTOMERS'), maxTotal },
    payment: simulatorRulesFromEnv(env),
    seed: loadSeed(env.SEED_FILE),
  };
}

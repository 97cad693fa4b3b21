/**
 * Configuration, all from environment variables (documented in the README). Every knob has a
 * default that runs the whole system in one process with nothing but Node.
 */
import { resolve } from 'node:path';
import { defaultCheckoutConfig, type CheckoutConfig } from './actors/checkout/service.ts';
import { defaultCartConfig, type CartServiceConfig } from './actors/cart/service.ts';
import type { OrderServiceConfig } from './actors/order/service.ts';
import { defaultSimulatorRules, type SimulatorRules } from './actors/payment/simulator.ts';
import { loadSeed, type Seed } from './actors/seed/seed.ts';
import { ConfigError, parseEnv } from './env.ts';
import { DEFAULT_HEAP_GROWING_PERCENT } from './heap.ts';
import type { Locking, Synchronous } from './runtime/store.ts';
import type { Partitions } from './contracts/subjects.ts';

export interface SystemConfig {
  dataDir: string;
  /** Unset: embedded, every service in this process on the in-process transport. A comma list names a cluster's servers. */
  natsUrl: string | undefined;
  /** Copies of each stream and KV bucket a service creates (NATS_REPLICAS). */
  natsReplicas: number;
  /** Embedded only: worker threads the services are spread over (0: all on the main thread). */
  threads: number;
  /** V8 grows the old generation to (1 + this / 100) times the live heap (heap.ts); 0 (default): V8's own factor, 1.1-4 by load. */
  heapGrowingPercent: number;
  /** SQLite durability. FULL (default) survives power loss; NORMAL survives a process crash. */
  synchronous: Synchronous;
  /** exclusive (default): a service's store has one owner and cheaper transactions; shared: other processes may read it. */
  locking: Locking;
  gateway: { host: string; port: number };
  logLevel: string;
  /** Unset: pretty on a terminal, JSON otherwise. */
  logFormat: 'json' | 'pretty' | undefined;
  /** Serve this process's Prometheus metrics on their own port (distributed mode). */
  metricsPort: number | undefined;
  /** OTLP/HTTP collector; unset: no spans are made. */
  otlpEndpoint: string | undefined;
  /** Operator routes need `Authorization: Bearer <token>` when set. */
  operatorToken: string | undefined;
  /** Requests per client per minute at the gateway; 0: off; unset: the gateway's default. */
  rateLimitPerMinute: number | undefined;
  /** Gateway instances behind the load balancer: each enforces its share of the rate limit. */
  gatewayInstances: number;
  /** Partitions per partitioned service (PARTITIONS, PARTITIONS_<SERVICE>; inventory only PARTITIONS_INVENTORY); one each unless set, always one embedded. */
  partitions: Partitions;
  checkout: CheckoutConfig;
  cart: CartServiceConfig;
  order: OrderServiceConfig;
  payment: SimulatorRules;
  seed: Seed;
}

type RawEnv = Readonly<Record<string, string | undefined>>;

/**
 * The system's configuration from the environment, every variable checked by one schema (env.ts).
 * Throws `ConfigError` (variable, value, fix) for a bad value, before anything is opened.
 */
export function configFromEnv(raw: RawEnv = process.env): SystemConfig {
  const env = parseEnv(raw);
  const d = defaultCheckoutConfig.deadlines;
  const sim = defaultSimulatorRules;
  let seed: Seed;
  try {
    seed = loadSeed(env.SEED_FILE);
  } catch (err) {
    throw new ConfigError('SEED_FILE', env.SEED_FILE, `cannot be loaded (${err instanceof Error ? err.message : String(err)})`, 'Set SEED_FILE to a readable JSON file {products, promotions}, or unset it');
  }
  const partitions: Partitions = {
    cart: env.PARTITIONS_CART ?? env.PARTITIONS ?? 1,
    promotion: env.PARTITIONS_PROMOTION ?? env.PARTITIONS ?? 1,
    payment: env.PARTITIONS_PAYMENT ?? env.PARTITIONS ?? 1,
    order: env.PARTITIONS_ORDER ?? env.PARTITIONS ?? 1,
    // Not PARTITIONS: a partitioned inventory turns a reservation into a saga of holds, chosen on its own.
    inventory: env.PARTITIONS_INVENTORY ?? 1,
  };
  if (!env.NATS_URL && Object.values(partitions).some((n) => n > 1)) {
    // Embedded, one process serves everything: a partition is a unit of work to share between processes.
    throw new ConfigError('PARTITIONS', raw.PARTITIONS, 'needs NATS_URL (embedded mode runs one partition per service)', 'Unset PARTITIONS and PARTITIONS_<SERVICE>, or set NATS_URL');
  }
  return {
    dataDir: resolve(env.DATA_DIR ?? './data'),
    natsUrl: env.NATS_URL,
    natsReplicas: env.NATS_REPLICAS ?? 1,
    threads: env.EMBEDDED_THREADS ?? 0,
    heapGrowingPercent: env.HEAP_GROWING_PERCENT ?? DEFAULT_HEAP_GROWING_PERCENT,
    synchronous: env.SQLITE_SYNCHRONOUS ?? 'FULL',
    locking: env.SQLITE_LOCKING ?? 'exclusive',
    gateway: { host: env.HOST ?? '127.0.0.1', port: env.PORT ?? 3000 },
    logLevel: env.LOG_LEVEL ?? 'info',
    logFormat: env.LOG_FORMAT,
    metricsPort: env.METRICS_PORT,
    otlpEndpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT,
    operatorToken: env.OPERATOR_TOKEN,
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
    gatewayInstances: env.GATEWAY_INSTANCES ?? 1,
    partitions,
    checkout: {
      deadlines: {
        reserveInventoryMs: env.CHECKOUT_RESERVE_DEADLINE_MS ?? d.reserveInventoryMs,
        authorizePaymentMs: env.CHECKOUT_PAYMENT_DEADLINE_MS ?? d.authorizePaymentMs,
        createOrderMs: env.CHECKOUT_ORDER_DEADLINE_MS ?? d.createOrderMs,
        compensationMs: env.CHECKOUT_COMPENSATION_DEADLINE_MS ?? d.compensationMs,
      },
      requestTimeoutMs: env.CHECKOUT_REQUEST_TIMEOUT_MS ?? defaultCheckoutConfig.requestTimeoutMs,
      ackWaitMs: defaultCheckoutConfig.ackWaitMs,
      instanceId: env.INSTANCE_ID,
      slots: env.CHECKOUT_SLOTS ?? 0,
    },
    cart: {
      maxQuantityPerLine: env.CART_MAX_QUANTITY_PER_LINE ?? defaultCartConfig.maxQuantityPerLine,
      abandonAfterMs: env.CART_ABANDON_AFTER_MS ?? defaultCartConfig.abandonAfterMs,
      discountTimeoutMs: env.CART_DISCOUNT_TIMEOUT_MS ?? defaultCartConfig.discountTimeoutMs,
    },
    order: { refuseCustomers: env.ORDER_REFUSE_CUSTOMERS, maxTotal: env.ORDER_MAX_TOTAL },
    payment: {
      declineAbove: env.PAYMENT_DECLINE_ABOVE,
      fraudCustomers: env.PAYMENT_FRAUD_CUSTOMERS,
      declineCustomers: env.PAYMENT_DECLINE_CUSTOMERS,
      latencyMs: env.PAYMENT_LATENCY_MS ?? sim.latencyMs,
      transientFailureRate: env.PAYMENT_TRANSIENT_FAILURE_RATE ?? sim.transientFailureRate,
      stallCustomers: env.PAYMENT_STALL_CUSTOMERS,
      stallMs: env.PAYMENT_STALL_MS ?? sim.stallMs,
    },
    seed,
  };
}

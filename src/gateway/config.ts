/**
 * The gateway's knobs. Every outbound call has a deadline; every limit has a number. Defaults suit
 * a single shop instance; tests and operators override any part with `gatewayConfig({...})`.
 */
import type { Service } from '../contracts/subjects.ts';
import type { AuthConfig } from './auth.ts';

export interface GatewayConfig {
  /** Deadlines of calls to services, per kind of call. A call that misses it answers 503. */
  timeouts: {
    /** Read-only queries (get-cart, list-products, get-order...). */
    queryMs: number;
    /** Commands (add-item, remove-item, cancel-order...). */
    commandMs: number;
    /** checkout-cart: the Cart API asks the Promotion Service before it answers, so it gets longer. */
    checkoutMs: number;
    /** Readiness pings, each service in parallel. */
    pingMs: number;
  };
  /** Seconds a 503 tells the client to wait (`Retry-After`). */
  retryAfterSeconds: number;
  /** Largest accepted request body. Every body of the API is a few hundred bytes. */
  bodyLimitBytes: number;
  /** Requests per client (by IP) per window; `false` turns the limiter off. */
  rateLimit: { max: number; timeWindowMs: number } | false;
  sse: {
    /** A comment line this often keeps proxies from closing an idle stream. */
    heartbeatMs: number;
    /** The `retry:` the browser waits before reconnecting a dropped stream. */
    retryMs: number;
    /** Open streams at most; one more is refused with 503 rather than exhausting the process. */
    maxStreams: number;
  };
  /** How long, and how many, checkouts this gateway accepted are remembered before their saga shows up in KV. */
  acceptedCheckouts: { ttlMs: number; max: number };
  /** When set, operator routes require `Authorization: Bearer <token>`. Unset: open (development). */
  operatorToken: string | undefined;
  /** Shopper identity: `off` (default, the catalog's open contract) or `jwt` (see auth.ts, docs/security.md). */
  auth: AuthConfig;
  /** Services `/readyz` pings. */
  services: readonly Service[];
}

const defaultRateLimit = { max: 600, timeWindowMs: 60_000 };

export const defaultGatewayConfig: GatewayConfig = {
  timeouts: { queryMs: 2_000, commandMs: 5_000, checkoutMs: 8_000, pingMs: 1_000 },
  retryAfterSeconds: 2,
  bodyLimitBytes: 16 * 1024,
  rateLimit: defaultRateLimit,
  sse: { heartbeatMs: 15_000, retryMs: 2_000, maxStreams: 1_000 },
  acceptedCheckouts: { ttlMs: 10 * 60_000, max: 10_000 },
  operatorToken: undefined,
  auth: { mode: 'off' },
  services: ['cart', 'promotion', 'checkout', 'inventory', 'payment', 'order'],
};

/**
 * One gateway instance's share of a rate limit that holds across `instances` gateways behind a load
 * balancer: each counts only the requests it sees, so each allows `ceil(perMinute / instances)`. A
 * client spread evenly over the instances gets the stated limit (a little more, from the rounding);
 * one pinned to a single instance gets its share. `undefined`: the default; 0: off.
 */
export function instanceRateLimit(perMinute: number | undefined, instances: number): GatewayConfigInput['rateLimit'] | undefined {
  if (perMinute === 0) return false;
  if (perMinute === undefined && instances <= 1) return undefined;
  const total = perMinute ?? defaultRateLimit.max;
  return { max: Math.max(1, Math.ceil(total / Math.max(1, instances))), timeWindowMs: 60_000 };
}

/** What callers may override: any top-level knob, and any part of a nested one. */
export interface GatewayConfigInput {
  timeouts?: Partial<GatewayConfig['timeouts']>;
  retryAfterSeconds?: number;
  bodyLimitBytes?: number;
  rateLimit?: Partial<Exclude<GatewayConfig['rateLimit'], false>> | false;
  sse?: Partial<GatewayConfig['sse']>;
  acceptedCheckouts?: Partial<GatewayConfig['acceptedCheckouts']>;
  operatorToken?: string | undefined;
  auth?: AuthConfig;
  services?: readonly Service[];
}

/** The defaults with `overrides` laid over them, one level deep. */
export function gatewayConfig(overrides: GatewayConfigInput = {}): GatewayConfig {
  const d = defaultGatewayConfig;
  return {
    timeouts: { ...d.timeouts, ...overrides.timeouts },
    retryAfterSeconds: overrides.retryAfterSeconds ?? d.retryAfterSeconds,
    bodyLimitBytes: overrides.bodyLimitBytes ?? d.bodyLimitBytes,
    rateLimit: overrides.rateLimit === false ? false : { ...(d.rateLimit || defaultRateLimit), ...overrides.rateLimit },
    sse: { ...d.sse, ...overrides.sse },
    acceptedCheckouts: { ...d.acceptedCheckouts, ...overrides.acceptedCheckouts },
    operatorToken: 'operatorToken' in overrides ? overrides.operatorToken : d.operatorToken,
    auth: overrides.auth ?? d.auth,
    services: overrides.services ?? d.services,
  };
}

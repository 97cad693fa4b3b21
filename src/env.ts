/**
 * Every environment variable the system reads, in one zod schema, checked before anything opens
 * (no store, socket or connection). A bad value is a `ConfigError` naming the variable, the value
 * and the fix; the composition root prints it as one line and exits with code 2.
 *
 * The README's Configuration table lists the same variables; `tests/int/config.process.test.ts`
 * spawns the process with bad ones.
 */
import { z } from 'zod';

/** A variable with a value that cannot be used. `message` is the one line an operator reads. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    readonly value: string | undefined,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${variable}=${JSON.stringify(value ?? '')} ${problem}. ${fix}`);
  }
}

/** Unset and empty both mean "use the default". */
const blank = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const opt = <T extends z.ZodType>(schema: T) => z.preprocess(blank, schema.optional());

const intFrom = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  opt(
    z
      .string()
      .regex(/^\s*\d+\s*$/, `is not a whole number`)
      .transform(Number)
      .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`)),
  );
const port = intFrom(0, 65_535);
const ms = intFrom(0);
const rate = opt(z.string().regex(/^\s*(0(\.\d+)?|1(\.0+)?)\s*$/, 'is not a number from 0 to 1').transform(Number));
const list = opt(z.string()).transform((v) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean));
const text = opt(z.string());
const oneOf = <const T extends readonly [string, ...string[]]>(values: T, normalise: (s: string) => string = (s) => s) =>
  opt(z.string().transform((s) => normalise(s.trim())).pipe(z.enum(values, `is not one of ${values.join(', ')}`)));
const url = (protocols: readonly string[]) =>
  opt(
    z.string().refine((s) => s.split(',').every((u) => {
      try {
        return protocols.includes(new URL(u.trim()).protocol);
      } catch {
        return false;
      }
    }), `is not a ${protocols.join(' or ')} URL`),
  );

export const LogLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The schema, and for each variable the fix an operator is told when its value is bad. */
const variables = {
  PORT: [port, 'Set PORT to a free TCP port from 0 to 65535 (default 3000)'],
  HOST: [text, 'Set HOST to an interface address such as 127.0.0.1'],
  DATA_DIR: [text, 'Set DATA_DIR to a directory this user may write'],
  NATS_URL: [url(['nats:', 'tls:', 'ws:', 'wss:']), 'Set NATS_URL to a server URL such as nats://127.0.0.1:4222 (a comma list for a cluster), or unset it to run embedded'],
  NATS_REPLICAS: [intFrom(1, 5), 'Set NATS_REPLICAS to the copies of each stream and KV bucket, from 1 to 5 (default 1; 3 on a 3-node cluster)'],
  EMBEDDED_THREADS: [intFrom(0, 64), 'Set EMBEDDED_THREADS to a number of worker threads from 0 to 64 (default 0)'],
  SERVICES: [text, 'Set SERVICES to a comma list of order, inventory, payment, promotion, cart, checkout, gateway'],
  INSTANCE_ID: [opt(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'may hold only letters, digits, - and _ (at most 64)')), 'Set INSTANCE_ID to a short token such as co-a'],
  PARTITIONS: [intFrom(1, 8), 'Set PARTITIONS to how many partitions the cart, promotion, payment and order services each run, from 1 (default) to 8; it needs NATS_URL'],
  PARTITIONS_CART: [intFrom(1, 8), 'Set PARTITIONS_CART to the Cart API\'s partitions, from 1 to 8 (default PARTITIONS)'],
  PARTITIONS_PROMOTION: [intFrom(1, 8), 'Set PARTITIONS_PROMOTION to the Promotion Service\'s partitions, from 1 to 8 (default PARTITIONS)'],
  PARTITIONS_PAYMENT: [intFrom(1, 8), 'Set PARTITIONS_PAYMENT to the Payment API\'s partitions, from 1 to 8 (default PARTITIONS)'],
  PARTITIONS_ORDER: [intFrom(1, 8), 'Set PARTITIONS_ORDER to the Order Service\'s partitions, from 1 to 8 (default PARTITIONS)'],
  PARTITIONS_INVENTORY: [intFrom(1, 8), 'Set PARTITIONS_INVENTORY to the Inventory Service\'s partitions (stock by product), from 1 (default; PARTITIONS does not set it) to 8; it needs NATS_URL'],
  CHECKOUT_SLOTS: [intFrom(0, 64), 'Set CHECKOUT_SLOTS to the number of orchestrator slots the checkout processes share under leases, from 0 (off: each process keeps its own sagas) to 64'],
  LOG_LEVEL: [oneOf(LogLevels, (s) => s.toLowerCase()), `Set LOG_LEVEL to one of ${LogLevels.join(', ')} (default info)`],
  LOG_FORMAT: [oneOf(['json', 'pretty'], (s) => s.toLowerCase()), 'Set LOG_FORMAT to json or pretty (default: pretty on a terminal, else json)'],
  HEAP_GROWING_PERCENT: [intFrom(0, 300), 'Set HEAP_GROWING_PERCENT to how far V8 grows the heap past the live heap after a full GC, in percent from 0 (default: V8 chooses) to 300; 100 keeps the peak memory of a long run flat'],
  SQLITE_SYNCHRONOUS: [oneOf(['FULL', 'NORMAL'], (s) => s.toUpperCase()), 'Set SQLITE_SYNCHRONOUS to FULL or NORMAL (default FULL)'],
  SQLITE_LOCKING: [oneOf(['exclusive', 'shared'], (s) => s.toLowerCase()), 'Set SQLITE_LOCKING to exclusive or shared (default exclusive)'],
  SEED_FILE: [text, 'Set SEED_FILE to a readable JSON file {products, promotions}'],
  CHECKOUT_RESERVE_DEADLINE_MS: [ms, 'Set CHECKOUT_RESERVE_DEADLINE_MS to milliseconds (default 10000)'],
  CHECKOUT_PAYMENT_DEADLINE_MS: [ms, 'Set CHECKOUT_PAYMENT_DEADLINE_MS to milliseconds (default 15000)'],
  CHECKOUT_ORDER_DEADLINE_MS: [ms, 'Set CHECKOUT_ORDER_DEADLINE_MS to milliseconds (default 10000)'],
  CHECKOUT_COMPENSATION_DEADLINE_MS: [ms, 'Set CHECKOUT_COMPENSATION_DEADLINE_MS to milliseconds (default 60000)'],
  CHECKOUT_REQUEST_TIMEOUT_MS: [intFrom(1), 'Set CHECKOUT_REQUEST_TIMEOUT_MS to milliseconds, at least 1 (default 2000)'],
  CART_MAX_QUANTITY_PER_LINE: [intFrom(1), 'Set CART_MAX_QUANTITY_PER_LINE to a whole number, at least 1 (default 99)'],
  CART_ABANDON_AFTER_MS: [ms, 'Set CART_ABANDON_AFTER_MS to milliseconds (default 86400000)'],
  CART_DISCOUNT_TIMEOUT_MS: [intFrom(1), 'Set CART_DISCOUNT_TIMEOUT_MS to milliseconds, at least 1 (default 2000)'],
  ORDER_REFUSE_CUSTOMERS: [list, 'Set ORDER_REFUSE_CUSTOMERS to a comma list of customer ids'],
  ORDER_MAX_TOTAL: [intFrom(0), 'Set ORDER_MAX_TOTAL to a total in minor units, or unset it'],
  PAYMENT_DECLINE_ABOVE: [intFrom(0), 'Set PAYMENT_DECLINE_ABOVE to an amount in minor units, or unset it'],
  PAYMENT_DECLINE_CUSTOMERS: [list, 'Set PAYMENT_DECLINE_CUSTOMERS to a comma list of customer ids'],
  PAYMENT_FRAUD_CUSTOMERS: [list, 'Set PAYMENT_FRAUD_CUSTOMERS to a comma list of customer ids'],
  PAYMENT_LATENCY_MS: [ms, 'Set PAYMENT_LATENCY_MS to milliseconds (default 0)'],
  PAYMENT_TRANSIENT_FAILURE_RATE: [rate, 'Set PAYMENT_TRANSIENT_FAILURE_RATE to a number from 0 to 1 (default 0)'],
  PAYMENT_STALL_CUSTOMERS: [list, 'Set PAYMENT_STALL_CUSTOMERS to a comma list of customer ids'],
  PAYMENT_STALL_MS: [ms, 'Set PAYMENT_STALL_MS to milliseconds (default 30000)'],
  NATS_TLS_CA_FILE: [text, 'Set NATS_TLS_CA_FILE to a PEM file of the CA that signed nats-server\'s certificate'],
  NATS_TLS_CERT_FILE: [text, 'Set NATS_TLS_CERT_FILE to this client\'s PEM certificate (with NATS_TLS_KEY_FILE), or unset it'],
  NATS_TLS_KEY_FILE: [text, 'Set NATS_TLS_KEY_FILE to the PEM key of NATS_TLS_CERT_FILE, or unset it'],
  AUTH: [oneOf(['off', 'jwt'], (s) => s.toLowerCase()), 'Set AUTH to off (default) or jwt'],
  AUTH_JWKS_URL: [url(['http:', 'https:']), 'Set AUTH_JWKS_URL to the identity provider\'s JWKS address, or use AUTH_PUBLIC_KEY_FILE'],
  AUTH_PUBLIC_KEY_FILE: [text, 'Set AUTH_PUBLIC_KEY_FILE to a PEM public key (RS256/ES256), or use AUTH_JWKS_URL'],
  AUTH_ISSUER: [text, 'Set AUTH_ISSUER to the iss your identity provider puts in its tokens'],
  AUTH_AUDIENCE: [text, 'Set AUTH_AUDIENCE to the aud of tokens minted for this shop'],
  AUTH_OPERATOR_ROLE: [text, 'Set AUTH_OPERATOR_ROLE to the role operator routes need (default operator)'],
  AUTH_CLOCK_TOLERANCE_S: [intFrom(0, 3600), 'Set AUTH_CLOCK_TOLERANCE_S to whole seconds of allowed clock skew (default 30)'],
  AUTH_LOGIN_URL: [url(['http:', 'https:']), 'Set AUTH_LOGIN_URL to where the storefront sends a shopper to sign in, or unset it'],
  TRUST_PROXY: [opt(z.string().regex(/^\s*[\w.:/]+(\s*,\s*[\w.:/]+)*\s*$/, 'is not true, a hop count, or a comma list of addresses, CIDRs or proxy-addr names such as loopback')), 'Set TRUST_PROXY to the TLS proxy\'s address or CIDR, a hop count, or true'],
  OPERATOR_TOKEN: [opt(z.string().min(16, 'is shorter than 16 characters')), 'Set OPERATOR_TOKEN to a secret of at least 16 characters, or unset it (development only)'],
  RATE_LIMIT_PER_MINUTE: [intFrom(0), 'Set RATE_LIMIT_PER_MINUTE to requests per client per minute, or 0 to turn the limiter off'],
  GATEWAY_INSTANCES: [intFrom(1, 1_000), 'Set GATEWAY_INSTANCES to how many gateway instances share RATE_LIMIT_PER_MINUTE behind the load balancer (default 1)'],
  METRICS_PORT: [port, 'Set METRICS_PORT to a free TCP port for this process\'s /metrics, or unset it'],
  OTEL_EXPORTER_OTLP_ENDPOINT: [url(['http:', 'https:']), 'Set OTEL_EXPORTER_OTLP_ENDPOINT to an OTLP/HTTP collector such as http://127.0.0.1:4318, or unset it'],
  INSPECT: [oneOf(['1', 'true', 'yes', '0', 'false', 'no'], (s) => s.toLowerCase()), 'Set INSPECT to 1 to report to the Stately inspector, or unset it'],
  INSPECT_PORT: [intFrom(1, 65_535), 'Set INSPECT_PORT to a free TCP port for the inspector relay (default 8080)'],
  INSPECT_URL: [url(['ws:', 'wss:']), 'Set INSPECT_URL to the ws:// URL of a running inspector relay, or unset it'],
  NATS_PORT: [intFrom(1, 65_535), 'Set NATS_PORT to the port scripts/run-distributed.sh starts nats-server on (default 4222)'],
  OPS_URL: [url(['http:', 'https:']), 'Set OPS_URL to the gateway\'s address such as http://127.0.0.1:3000'],
} as const;

type Variables = typeof variables;
export type Env = { [K in keyof Variables]: z.output<Variables[K][0]> };

const EnvSchema = z.object(Object.fromEntries(Object.entries(variables).map(([k, [schema]]) => [k, schema])) as {
  [K in keyof Variables]: Variables[K][0];
});

/** Names of every variable the schema knows (the README table lists them). */
export const envVariables = Object.keys(variables) as (keyof Variables)[];

/**
 * Parses the environment. Throws `ConfigError` for the first bad variable.
 * `NATS_PASSWORD_<SERVICE>` are read where the connection is made (secrets, free text).
 */
export function parseEnv(raw: Readonly<Record<string, string | undefined>>): Env {
  const r = EnvSchema.safeParse(raw);
  if (r.success) return r.data as Env;
  const issue = r.error.issues[0]!;
  const name = String(issue.path[0]) as keyof Variables;
  throw new ConfigError(name, raw[name], issue.message, variables[name][1]);
}

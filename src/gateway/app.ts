/**
 * The shoppers' gateway as a Fastify application that never listens (server.ts does that), so
 * tests drive it with `inject` and the composition root decides where it runs.
 *
 *   browser ── HTTP ──▶ gateway ── request/reply (deadline) ──▶ cart, inventory, order, checkout...
 *                          └────── KV `checkouts` (get, watch) ◀── orchestrator
 *
 * It holds no state of its own beyond a short memory of checkouts it accepted, and it never opens a
 * service's database: everything goes over the transport. What is wired here, in order:
 * ids and logs, security headers, the rate limit, OpenAPI, the error handler, then the routes.
 * Who is asking is `ctx.auth` (auth.ts); whose a resource is, the service holding it decides.
 */
import rateLimit from '@fastify/rate-limit';
import helmet from 'helmet';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { systemClock, type Clock } from '../runtime/clock.ts';
import type { Transport } from '../runtime/transport/transport.ts';
import { Auth } from './auth.ts';
import { CheckoutTracker } from './checkouts.ts';
import { gatewayConfig, type GatewayConfigInput } from './config.ts';
import type { GatewayContext } from './context.ts';
import { correlationIdOf, RequestHeader, requestIdOf } from './correlation.ts';
import { createErrorHandler, notFoundHandler } from './errors.ts';
import { observability } from './observability.ts';
import { answerClientError, frameworkErrors, refuseTooManyHeaders } from './client-errors.ts';
import { registerOpenApi } from './openapi.ts';
import { explorerPlugin } from '../devtools/explorer/plugin.ts';
import { authRoutes } from './routes/auth.ts';
import { cartRoutes } from './routes/carts.ts';
import { checkoutRoutes } from './routes/checkouts.ts';
import { healthRoutes } from './routes/health.ts';
import { operatorRoutes } from './routes/operator.ts';
import { orderRoutes } from './routes/orders.ts';
import { productRoutes } from './routes/products.ts';
import { storefrontRoutes } from './routes/storefront.ts';
import { ServiceCalls } from './services.ts';
import type { Partitions } from '../contracts/subjects.ts';

export interface GatewayDeps {
  /** The only way to the services. */
  transport: Transport;
  clock?: Clock;
  config?: GatewayConfigInput;
  /** A pino logger to log through (request lines get child loggers with the request and correlation ids). */
  log?: FastifyBaseLogger;
  /** Fastify's pino options (`true` for defaults), when no `log` is given; silent when neither is. */
  logger?: FastifyServerOptions['logger'];
  /** Trust `X-Forwarded-For` from a proxy in front (rate limiting then keys on the real client). */
  trustProxy?: FastifyServerOptions['trustProxy'];
  /** How many partitions each service has (PARTITIONS): a keyed request goes to the partition owning its key. */
  partitions?: Partitions;
}


export async function buildApp(deps: GatewayDeps): Promise<FastifyInstance> {
  const config = gatewayConfig(deps.config);
  const clock = deps.clock ?? systemClock;
  const app = Fastify({
    ...(deps.log ? { loggerInstance: deps.log } : { logger: deps.logger ?? false }),
    bodyLimit: config.bodyLimitBytes,
    trustProxy: deps.trustProxy ?? false,
    genReqId: (raw) => requestIdOf(raw.headers),
    logController: new LogController({
      requestIdLogLabel: 'requestId',
      // Probes arrive every few seconds; their lines would drown the shoppers' requests.
      disableRequestLogging: (req) => req.url === '/healthz' || req.url === '/readyz',
    }),
    // Every log line of a request carries its correlation id, the same one sent on in NATS headers.
    childLoggerFactory: (logger, bindings, opts, raw) =>
      logger.child({ ...bindings, correlationId: correlationIdOf(raw.headers, String(bindings.requestId)) }, opts),
    // Errors Node's HTTP parser raises before any route answer {code, message} too.
    clientErrorHandler: answerClientError,
    frameworkErrors,
  }).withTypeProvider<ZodTypeProvider>();
  refuseTooManyHeaders(app);

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(createErrorHandler(config.retryAfterSeconds));
  app.setNotFoundHandler(notFoundHandler);
  // The API speaks JSON only: a text body is refused with 415 rather than failing validation.
  app.removeContentTypeParser('text/plain');

  app.addHook('onRequest', async (req, reply) => {
    void reply.header(RequestHeader.requestId, req.id);
    void reply.header(RequestHeader.correlationId, correlationIdOf(req.headers, req.id));
  });
  observability(app);

  // Security headers (helmet), the same on every response. The middleware is built once here:
  // @fastify/helmet built it anew at every request (`helmet(options)` in its onRequest hook, the
  // CSP's directives parsed and checked each time), 7% of the gateway's CPU per request in the
  // bench's profile (docs/benchmarks.md, "The NATS path's CPU, continued").
  const securityHeaders = helmet({
    contentSecurityPolicy: {
      directives: {
        // The storefront and Swagger UI load only their own files and call only this origin.
        'default-src': ["'self'"],
        'script-src': ["'self'"],
        'style-src': ["'self'", "'unsafe-inline'"],
        'img-src': ["'self'", 'data:'],
        'connect-src': ["'self'"],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
        // TLS is the proxy's business; on plain-HTTP development hosts this would break every fetch.
        'upgrade-insecure-requests': null,
      },
    },
  });
  app.addHook('onRequest', (req, reply, done) => securityHeaders(req.raw, reply.raw, (err) => done(err === undefined ? undefined : (err as Error))));

  if (config.rateLimit) {
    await app.register(rateLimit, {
      max: config.rateLimit.max,
      timeWindow: config.rateLimit.timeWindowMs,
      // Keep the limiter's headers on 429s only: every response would otherwise advertise the budget.
      addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
    });
  }

  await registerOpenApi(app);

  const services = new ServiceCalls(deps.transport, clock, deps.partitions);
  const auth = new Auth(config.auth, config.operatorToken);
  const ctx: GatewayContext = {
    config,
    services,
    auth,
    checkouts: new CheckoutTracker(deps.transport, services, clock, {
      ...config.acceptedCheckouts,
      queryMs: config.timeouts.queryMs,
    }),
  };
  app.addHook('onClose', () => ctx.checkouts.close());
  await app.register(healthRoutes, { ctx, transport: deps.transport });
  await app.register(cartRoutes, { ctx });
  await app.register(productRoutes, { ctx });
  await app.register(checkoutRoutes, { ctx });
  await app.register(orderRoutes, { ctx });
  await app.register(operatorRoutes, { ctx });
  await app.register(authRoutes, { ctx });
  await app.register(storefrontRoutes);
  // Developers' live saga explorer (/explorer): its data comes over the transport too. It shows every
  // customer's checkouts, so under AUTH=jwt only an operator may open it.
  await app.register(async (scope) => {
    if (auth.mode === 'jwt') {
      scope.addHook('onRequest', async (req) => {
        req.log.info({ ...(await auth.operator(req)), action: 'explorer', url: req.url }, 'operator action');
      });
    }
    await scope.register(explorerPlugin, { transport: deps.transport, clock, ...(deps.partitions ? { partitions: deps.partitions } : {}) });
  });
  return app;
}

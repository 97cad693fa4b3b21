/**
 * Liveness and readiness, for an orchestrator or load balancer.
 *  - `/healthz`: the process answers HTTP. It checks nothing else, so a NATS outage never gets a
 *    healthy gateway restarted.
 *  - `/readyz`: the transport works (the checkouts bucket opens) and every service answers its ping
 *    within the ping deadline. 503 with Retry-After while any is down; the body names which, and
 *    nothing more.
 * Both are exempt from the rate limit, so probes are never throttled.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { Bucket } from '../../contracts/subjects.ts';
import type { Transport } from '../../runtime/transport/transport.ts';
import type { RouteOptions } from '../context.ts';
import { causeOf } from '../correlation.ts';
import { HealthDoc, ReadinessDoc } from '../schemas.ts';

const READINESS_KEY = 'readiness-probe';

type Check = { status: 'up' | 'down'; latencyMs?: number };

export const healthRoutes: FastifyPluginAsyncZod<RouteOptions & { transport: Transport }> = async (app, { ctx, transport }) => {
  const { services, config } = ctx;

  app.get('/healthz', {
    config: { rateLimit: false },
    schema: { summary: 'Liveness', tags: ['Health'], response: { 200: HealthDoc } },
    handler: async () => ({ status: 'ok' as const }),
  });

  app.get('/readyz', {
    config: { rateLimit: false },
    schema: {
      summary: 'Readiness: the transport and every service answer',
      tags: ['Health'],
      response: { 200: ReadinessDoc, 503: ReadinessDoc.describe('Something is down; the checks say what.') },
    },
    handler: async (req, reply) => {
      const cause = causeOf(req);
      const timed = async (probe: () => Promise<unknown>): Promise<Check> => {
        const started = performance.now();
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('deadline')), config.timeouts.pingMs);
        });
        try {
          await Promise.race([probe(), deadline]);
          return { status: 'up', latencyMs: Math.round(performance.now() - started) };
        } catch {
          return { status: 'down' };
        } finally {
          clearTimeout(timer);
        }
      };
      const entries = await Promise.all([
        // A read, not just opening the bucket: an open bucket is cached, a read is a round trip.
        timed(async () => (await transport.kv(Bucket.checkouts)).get(READINESS_KEY)).then((c) => ['transport', c] as const),
        ...config.services.map((s) => timed(() => services.ping(s, config.timeouts.pingMs, cause)).then((c) => [s, c] as const)),
      ]);
      const checks = Object.fromEntries(entries);
      const ready = entries.every(([, c]) => c.status === 'up');
      if (!ready) {
        req.log.warn({ checks }, 'not ready');
        void reply.code(503).header('retry-after', String(config.retryAfterSeconds));
      }
      return { status: ready ? ('ready' as const) : ('not ready' as const), checks };
    },
  });
};

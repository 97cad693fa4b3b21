/**
 * Composition root. `npm start`: every service and the gateway in this process, embedded.
 * With NATS_URL set: the services named by SERVICES (default all, plus the gateway) over nats-server,
 * so `SERVICES=checkout npm start` runs one more orchestrator instance beside the others.
 */
import pino from 'pino';
import { configFromEnv } from './config.ts';
import { backendServices, type BackendService } from './registry.ts';
import { startSystem } from './system.ts';

const config = configFromEnv();
const log = pino({ level: config.logLevel });

const requested = (process.env.SERVICES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const unknown = requested.filter((s) => s !== 'gateway' && !(backendServices as readonly string[]).includes(s));
if (unknown.length) {
  log.fatal({ unknown }, `SERVICES names unknown services; known: ${backendServices.join(', ')}, gateway`);
  process.exit(2);
}
const services = requested.length ? backendServices.filter((s: BackendService) => requested.includes(s)) : backendServices;
const withGateway = requested.length === 0 || requested.includes('gateway');

const system = await startSystem({ config, services, log });
const server = withGateway ? await startGateway() : undefined;

async function startGateway() {
  const { startServer } = await import('./gateway/server.ts'); // only processes that serve HTTP load Fastify
  const env = process.env;
  const { authFromEnv } = await import('./gateway/auth.ts');
  const { trustProxyFromEnv } = await import('./gateway/proxy.ts');
  return startServer({
    host: config.gateway.host,
    port: config.gateway.port,
    transport: await system.transportFor('gateway'),
    log,
    trustProxy: trustProxyFromEnv(env.TRUST_PROXY),
    config: {
      operatorToken: env.OPERATOR_TOKEN || undefined,
      auth: authFromEnv(env),
      ...(env.RATE_LIMIT_PER_MINUTE ? { rateLimit: env.RATE_LIMIT_PER_MINUTE === '0' ? false : { max: Number(env.RATE_LIMIT_PER_MINUTE), timeWindowMs: 60_000 } } : {}),
    },
  });
}
log.info(
  { mode: config.natsUrl ? 'nats' : 'embedded', dataDir: config.dataDir, services, gateway: server?.url },
  'Place an Order is running',
);

let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'shutting down: no new work, finishing in-flight, flushing outboxes');
  const force = setTimeout(() => {
    log.error('graceful shutdown timed out');
    process.exit(1);
  }, 15_000);
  force.unref();
  await server?.close();
  await system.stop();
  log.info('stopped');
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

/**
 * Composition root. `npm start`: every service and the gateway in this process, embedded.
 * With NATS_URL set: the services named by SERVICES (default all, plus the gateway) over nats-server,
 * so `SERVICES=checkout npm start` runs one more orchestrator instance beside the others.
 *
 * Before anything opens, the whole environment is checked (env.ts), DATA_DIR must be writable and
 * the ports free: a bad setting ends the process with one line naming it, and exit code 2.
 */
import type { SystemConfig } from './config.ts';
import { ConfigError, parseEnv } from './env.ts';
import { checkDataDir, checkPortFree, exitWithConfigError, portError } from './preflight.ts';
import type { BackendService } from './registry.ts';
import type { RunningServer } from './gateway/server.ts';
import type { System } from './system.ts';

// The environment is checked before the rest of the system is even loaded: a bad value exits at once.
try {
  parseEnv(process.env);
} catch (err) {
  exitWithConfigError(err);
}
const { configFromEnv } = await import('./config.ts');
const { backendServices } = await import('./registry.ts');

let config: SystemConfig;
let services: readonly BackendService[];
let withGateway: boolean;
try {
  config = configFromEnv();
  const requested = (process.env.SERVICES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = requested.filter((s) => s !== 'gateway' && !(backendServices as readonly string[]).includes(s));
  if (unknown.length) {
    throw new ConfigError('SERVICES', process.env.SERVICES, `names unknown services (${unknown.join(', ')})`, `Set SERVICES to a comma list of ${backendServices.join(', ')}, gateway`);
  }
  services = requested.length ? backendServices.filter((s: BackendService) => requested.includes(s)) : backendServices;
  withGateway = requested.length === 0 || requested.includes('gateway');
  checkDataDir(config.dataDir);
  if (withGateway) await checkPortFree('PORT', config.gateway.host, config.gateway.port);
  if (config.metricsPort !== undefined) await checkPortFree('METRICS_PORT', config.gateway.host, config.metricsPort);
} catch (err) {
  exitWithConfigError(err);
}

// Before the system allocates anything: V8's heap growth, fixed for a flat long run (heap.ts).
const { boundHeapGrowth } = await import('./heap.ts');
boundHeapGrowth(config.heapGrowingPercent);
const { forService, createLogger } = await import('./logging.ts');
const { startMetricsServer } = await import('./runtime/metrics-server.ts');
const { startTracing } = await import('./runtime/tracing.ts');
const { startSystem } = await import('./system.ts');
const root = createLogger({ level: config.logLevel, format: config.logFormat, instance: config.checkout.instanceId });
const log = forService(root, 'main');
const tracing = config.otlpEndpoint ? startTracing({ endpoint: config.otlpEndpoint }) : undefined;
const metricsServer = config.metricsPort !== undefined ? await startMetricsServer(config.gateway.host, config.metricsPort) : undefined;

let system: System;
let server: RunningServer | undefined;
try {
  system = await startSystem({ config, services, log: root });
  server = withGateway ? await startGateway() : undefined;
} catch (err) {
  exitWithConfigError(err, log);
}

async function startGateway() {
  const { startServer } = await import('./gateway/server.ts'); // only processes that serve HTTP load Fastify
  const env = process.env;
  const { instanceRateLimit } = await import('./gateway/config.ts');
  const rate = instanceRateLimit(config.rateLimitPerMinute, config.gatewayInstances);
  const { host, port } = config.gateway;
  const { authFromEnv } = await import('./gateway/auth.ts');
  const { trustProxyFromEnv } = await import('./gateway/proxy.ts');
  return startServer({
    host,
    port,
    transport: await system.transportFor('gateway'),
    log: forService(root, 'gateway'),
    trustProxy: trustProxyFromEnv(env.TRUST_PROXY),
    partitions: config.partitions,
    config: {
      operatorToken: config.operatorToken,
      auth: authFromEnv(env),
      ...(rate !== undefined ? { rateLimit: rate } : {}),
    },
  }).catch((err: NodeJS.ErrnoException) => {
    throw portError('PORT', host, port, err); // taken between the check and now
  });
}
log.info(
  { mode: config.natsUrl ? 'nats' : 'embedded', dataDir: config.dataDir, services, gateway: server?.url, metrics: metricsServer?.url, tracing: config.otlpEndpoint },
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
  await metricsServer?.close();
  await tracing?.stop();
  log.info('stopped');
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

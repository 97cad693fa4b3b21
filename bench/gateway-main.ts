/**
 * The HTTP gateway as its own process for `--mode nats --entry http`: src/main.ts with
 * SERVICES=gateway, except that the per-client rate limit is raised out of the way, because the
 * bench is one client doing what thousands of shoppers would. The limiter itself stays installed,
 * so its cost is still measured.
 */
import pino from 'pino';
import { configFromEnv } from '../src/config.ts';
import { startServer } from '../src/gateway/server.ts';
import { startSystem } from '../src/system.ts';

const config = configFromEnv();
const log = pino({ level: config.logLevel });
const system = await startSystem({ config, services: [], log });
const server = await startServer({
  host: config.gateway.host,
  port: config.gateway.port,
  transport: await system.transportFor('gateway'),
  log,
  config: { rateLimit: { max: 1_000_000_000, timeWindowMs: 60_000 } },
});
log.info({ url: server.url }, 'bench gateway listening');

let stopping = false;
const shutdown = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await server.close();
  await system.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());

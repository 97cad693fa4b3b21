/**
 * The system under test, embedded: every service in the bench's own process on the in-process
 * transport, exactly as `npm start` composes it (`startSystem`), optionally with the HTTP gateway.
 */
import type { BackendService } from '../src/registry.ts';
import { configFromEnv } from '../src/config.ts';
import { boundHeapGrowth } from '../src/heap.ts';
import { startServer, type RunningServer } from '../src/gateway/server.ts';
import { startSystem } from '../src/system.ts';
import type { Logger } from '../src/runtime/service.ts';
import type { Transport } from '../src/runtime/transport/transport.ts';
import type { Entry } from './options.ts';
import type { ProcessRef } from './procstat.ts';

export interface AuditDirs {
  inventory: string;
  /** A directory, or partitions' store files. */
  payment: string | string[];
  order: string | string[];
  checkout: string[];
}

export interface SystemUnderTest {
  /** The bench's connection, as the gateway user: checkouts (entry bus), setup, and the status watch. */
  transport: Transport;
  /** Base URLs of the HTTP gateways, for entry http (one, or one per gateway instance). */
  httpUrls: string[];
  /** Child processes whose CPU and memory count (nats-server, services, gateway). */
  processes: ProcessRef[];
  auditDirs: AuditDirs;
  /** Profiles written by children (nats mode with --profile), available after stop(). */
  profileDir: string | undefined;
  /** Embedded: the timers the stores' journals hold, summed (the memory trace's `timers`). */
  timers?: () => Record<string, number>;
  stop(): Promise<void>;
}

/** Environment a service process reads (src/config.ts), shared by both modes. */
export interface SystemEnv {
  SEED_FILE: string;
  SQLITE_SYNCHRONOUS: string;
  PAYMENT_DECLINE_CUSTOMERS: string;
  LOG_LEVEL: string;
  EMBEDDED_THREADS?: string;
  /** Passed through from the bench's own environment (src/heap.ts), to compare heap policies. */
  HEAP_GROWING_PERCENT?: string;
}

/** Errors only, to stderr: a run that logs errors is a run to look at. */
export const stderrLogger: Logger = {
  info: () => undefined,
  warn: (obj, msg) => process.stderr.write(`[warn] ${msg ?? ''} ${safeJson(obj)}\n`),
  error: (obj, msg) => process.stderr.write(`[error] ${msg ?? ''} ${safeJson(obj)}\n`),
};

function safeJson(obj: object): string {
  try {
    return JSON.stringify(obj, (_k, v: unknown) => (v instanceof Error ? `${v.name}: ${v.message}` : v));
  } catch {
    return '(unserialisable)';
  }
}

/** The gateway's per-client limit is for shoppers; the bench is one client standing in for many. */
export const benchGatewayConfig = { rateLimit: { max: 1_000_000_000, timeWindowMs: 60_000 } };

export async function startEmbedded(dataDir: string, env: SystemEnv, entry: Entry): Promise<SystemUnderTest> {
  const config = configFromEnv({ ...env, DATA_DIR: dataDir });
  // The bench's process is the embedded process: it sizes its heap as src/main.ts does.
  boundHeapGrowth(config.heapGrowingPercent);
  const system = await startSystem({ config, log: stderrLogger });
  const transport = await system.transportFor('gateway');
  let server: RunningServer | undefined;
  if (entry === 'http') {
    server = await startServer({ host: '127.0.0.1', port: 0, transport, config: benchGatewayConfig });
  }
  return {
    transport,
    httpUrls: server ? [server.url] : [],
    processes: [],
    auditDirs: { inventory: dataDir, payment: dataDir, order: dataDir, checkout: [dataDir] },
    profileDir: undefined,
    timers: () => {
      const out: Record<string, number> = {};
      for (const journal of new Set([...system.runtimes.values()].map((rt) => rt.journal))) {
        for (const [k, v] of Object.entries({ ...journal.timersHeld(), ...journal.parking })) out[k] = (out[k] ?? 0) + v;
      }
      return out;
    },
    async stop() {
      await server?.close();
      await system.stop();
    },
  };
}

export type { BackendService };

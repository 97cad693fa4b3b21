/**
 * Starts the whole system for a test: in a fresh temp data dir, embedded or over a real
 * nats-server started with nats.conf.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFromEnv, type SystemConfig } from '../../src/config.ts';
import { startSystem, type System } from '../../src/system.ts';
import { defaultSeed } from '../../src/actors/seed/seed.ts';
import { startNatsServer, type NatsServerHandle } from './nats-server.ts';
import { audit, Shopper } from './shop.ts';

export type Mode = 'embedded' | 'nats';

export interface TestSystem {
  system: System;
  shopper: Shopper;
  config: SystemConfig;
  dataDir: string;
  nats: NatsServerHandle | undefined;
  invariants(): string[];
  stop(): Promise<void>;
}

export const initialStock = new Map(defaultSeed.products.map((p) => [p.productId, p.stock]));

/**
 * Fast deadlines so failure paths finish quickly in tests. Stores are shared: the tests audit them
 * from their own read-only connections while the system runs (the bench's smoke test and the
 * store's own tests run them exclusive, the default).
 */
export function testConfig(dataDir: string, overrides: (c: SystemConfig) => void = () => undefined): SystemConfig {
  const c = configFromEnv({ DATA_DIR: dataDir, SQLITE_SYNCHRONOUS: 'NORMAL', SQLITE_LOCKING: 'shared' });
  c.checkout.deadlines = { reserveInventoryMs: 3_000, authorizePaymentMs: 3_000, createOrderMs: 3_000, compensationMs: 10_000 };
  c.checkout.requestTimeoutMs = 1_000;
  c.checkout.ackWaitMs = 5_000;
  overrides(c);
  return c;
}

export async function startTestSystem(mode: Mode, overrides?: (c: SystemConfig) => void, nats?: NatsServerHandle): Promise<TestSystem> {
  const dataDir = mkdtempSync(join(tmpdir(), 'poa-'));
  const server = mode === 'nats' ? (nats ?? (await startNatsServer())) : undefined;
  const config = testConfig(dataDir, (c) => {
    c.natsUrl = server?.url;
    overrides?.(c);
  });
  const system = await startSystem({ config });
  const shopper = new Shopper(await system.transportFor('gateway'));
  return {
    system,
    shopper,
    config,
    dataDir,
    nats: server,
    invariants: () => audit({ inventory: dataDir, payment: dataDir, order: dataDir, checkout: [dataDir] }, initialStock),
    async stop() {
      await system.stop();
      if (server && !nats) await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

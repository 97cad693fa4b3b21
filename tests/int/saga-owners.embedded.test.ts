/**
 * Embedded, the orchestrator is the only one on its bus (src/system.ts, `soleOrchestrator`), so it
 * claims no saga in `saga-owners`: a claim could only name itself. What the claim serves still
 * works without one: once the status document is gone (embedded, a restart empties the bucket)
 * get-checkout and the explorer's trace are answered by the saga's store, and "not found" for a
 * checkout nobody holds; in worker threads no claim either. A second orchestrator on the same bus
 * is refused at its start (the sole one's durable is exclusive). The instance's own registration
 * (`instance.0`) stays. A start sent again after a crash runs the saga once, with no claim:
 * tests/int/held-events.test.ts. NATS keeps its claims: tests/int/saga-owners.nats.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import { CheckoutStatus, MessageType } from '../../src/contracts/index.ts';
import { consumedEvents } from '../../src/contracts/channels.ts';
import { Bucket, Query } from '../../src/contracts/subjects.ts';
import { ExplorerData } from '../../src/devtools/explorer/data.ts';
import { systemClock } from '../../src/runtime/clock.ts';
import { ServiceClient } from '../../src/runtime/client.ts';
import { checkoutIdsFor } from '../../src/runtime/ids.ts';
import { ErrorCode, RemoteError } from '../../src/runtime/transport/errors.ts';
import { ExclusiveConsumerTaken } from '../../src/runtime/transport/in-process/durable.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import type { Transport } from '../../src/runtime/transport/transport.ts';
import { startSystem } from '../../src/system.ts';
import { startTestSystem, testConfig, type TestSystem } from '../support/system-fixture.ts';

const ANVIL = productIdFor('ACME-ANVIL-01');

/** What a test leaves to undo, undone last first: a restarted system's stop, then its files' removal. */
const undo: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of undo.splice(0).reverse()) await step();
});

/** bus.db's saga-owners keys (claims and registrations), read from the file after the system stopped. */
function ownersKeys(dataDir: string): string[] {
  const db = new Database(join(dataDir, 'bus.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT key FROM kv WHERE bucket = ? ORDER BY key').pluck().all(Bucket.sagaOwners) as string[];
  } finally {
    db.close();
  }
}

async function started(overrides?: Parameters<typeof startTestSystem>[1]): Promise<TestSystem> {
  const t = await startTestSystem('embedded', overrides);
  undo.push(() => rmSync(t.dataDir, { recursive: true, force: true }));
  return t;
}

/** The system started again on the same files; the gateway's transport. */
async function restart(t: TestSystem): Promise<Transport> {
  const system = await startSystem({ config: t.config });
  undo.push(() => system.stop());
  return system.transportFor('gateway');
}

/** get-checkout as the gateway asks it; the error's code when it is refused. */
async function getCheckout(transport: Transport, checkoutId: string): Promise<CheckoutStatus | string> {
  const client = new ServiceClient(transport, 'urn:test:owners', systemClock);
  try {
    return (await client.call(Query.getCheckout, MessageType.getCheckoutRequest, { checkoutId }, CheckoutStatus, { timeoutMs: 5_000 })).payload;
  } catch (err) {
    if (err instanceof RemoteError) return err.code;
    throw err;
  }
}

describe('embedded: the sole orchestrator claims no saga', { timeout: 90_000 }, () => {
  it('writes no claim, and after a restart answers get-checkout and the trace from the saga, and NOT_FOUND for an unknown one', async () => {
    const t = await started();
    const cart = await t.shopper.buy(randomUUID(), [[ANVIL, 1]]);
    expect((await t.shopper.settle(cart.checkoutId)).status).toBe('CONFIRMED');
    await t.system.stop();
    expect(ownersKeys(t.dataDir)).toEqual(['instance.0']); // the registration, no claim

    const transport = await restart(t);
    expect(await (await transport.kv(Bucket.checkouts)).get(cart.checkoutId)).toBeUndefined(); // gone with the process
    expect(await getCheckout(transport, cart.checkoutId)).toMatchObject({ checkoutId: cart.checkoutId, orderId: cart.orderId, status: 'CONFIRMED' });
    expect(await getCheckout(transport, checkoutIdsFor(randomUUID()).checkoutId)).toBe(ErrorCode.notFound);
    const explorer = new ExplorerData(transport, systemClock, 5_000);
    expect(await explorer.trace(cart.checkoutId)).toMatchObject({ checkoutId: cart.checkoutId, state: 'confirmed' });
    expect(await explorer.trace(cart.orderId)).toMatchObject({ checkoutId: cart.checkoutId }); // by its order id
    expect(await explorer.trace(randomUUID())).toBeUndefined();
  });

  it('refuses a second orchestrator on the same bus at its start, since neither would claim the sagas it starts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'poa-two-'));
    undo.push(() => rmSync(dir, { recursive: true, force: true }));
    const bus = new InProcessTransport({ path: join(dir, 'bus.db'), locking: 'shared', storeOnlyConsumed: consumedEvents, holdConsumed: true });
    undo.push(() => bus.drain());
    const first = await startSystem({ config: testConfig(mkdtempSync(join(dir, 'a-'))), transport: bus });
    undo.push(() => first.stop());
    await expect(startSystem({ config: testConfig(mkdtempSync(join(dir, 'b-'))), services: ['checkout'], transport: bus })).rejects.toBeInstanceOf(ExclusiveConsumerTaken);
  });

  it('in worker threads, claims none either', async () => {
    const t = await started((c) => {
      c.threads = 2;
    });
    const cart = await t.shopper.buy(randomUUID(), [[ANVIL, 1]]);
    expect((await t.shopper.settle(cart.checkoutId)).status).toBe('CONFIRMED');
    await t.system.stop();
    expect(ownersKeys(t.dataDir)).toEqual(['instance.0']);
  });
});

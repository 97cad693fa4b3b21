/**
 * Embedded, the cart-checked-out event is held by the cart's journal, not stored again in bus.db
 * (InProcessTransport `holdConsumed`): the cart's relay publishes it, the publish resolves once the
 * orchestrator's consumer has committed the saga's start, and only then may the cart's relay
 * watermark pass the record. A crash on either side of the saga's commit loses nothing and doubles
 * nothing: the restarted cart resends what its watermark had not passed, and the orchestrator's
 * inbox (start/<checkoutId>) drops a copy it already handled, with no saga-owners claim (the sole
 * orchestrator makes none, src/system.ts). A whole system on real SQLite files;
 * the crash is `System.kill` (nothing flushed), from a wire tap at the chosen instant.
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import { Bucket, Command, Event } from '../../src/contracts/subjects.ts';
import { checkoutIdsFor } from '../../src/runtime/ids.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import { startSystem, type System } from '../../src/system.ts';
import { Shopper } from '../support/shop.ts';
import { startTestSystem, type TestSystem } from '../support/system-fixture.ts';

const ANVIL = productIdFor('ACME-ANVIL-01');

const running: System[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function read<T>(dataDir: string, file: string, sql: string, ...params: unknown[]): T {
  const db = new Database(join(dataDir, file), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).pluck().get(...params) as T;
  } finally {
    db.close();
  }
}

const storedCheckedOut = (dataDir: string): number => read(dataDir, 'bus.db', 'SELECT count(*) FROM stream_msgs WHERE subject = ?', Event.cartCheckedOut);
const sagaStarts = (dataDir: string, checkoutId: string): number =>
  read(dataDir, 'checkout.db', `SELECT count(*) FROM journal WHERE kind = 'checkout' AND id = ? AND inbox_key = ?`, checkoutId, `start/${checkoutId}`);
/** The saga-owners claims in bus.db: none embedded, where the orchestrator is the sole instance (system.ts). */
const sagaClaims = (dataDir: string): number => read(dataDir, 'bus.db', `SELECT count(*) FROM kv WHERE bucket = ? AND key NOT LIKE 'instance.%'`, Bucket.sagaOwners);
/** The cart's journal position of its checkout's record, and its relay's persisted watermark. */
const cartRecord = (dataDir: string, cartId: string): { pos: number; watermark: number } => ({
  pos: read(dataDir, 'cart.db', `SELECT max(pos) FROM journal WHERE kind = 'cart' AND id = ? AND record LIKE ?`, cartId, `%${Event.cartCheckedOut}%`),
  watermark: Number(read(dataDir, 'cart.db', `SELECT value FROM meta WHERE key = 'relay_watermark'`)),
});

/** Starts a system, fills a cart and checks it out; the system is killed when `killOn` is first seen on the wire. */
async function checkoutKilledAt(killOn: string): Promise<{ t: TestSystem; cartId: string; checkoutId: string }> {
  const t = await startTestSystem('embedded');
  dirs.push(t.dataDir);
  const bus = await t.system.transportFor('cart');
  if (!(bus instanceof InProcessTransport)) throw new Error('embedded: expected the in-process transport');
  let killed: Promise<void> | undefined;
  await bus.subscribeAll(killOn, () => {
    killed ??= t.system.kill();
  });
  const cartId = randomUUID();
  await t.shopper.addItem(cartId, ANVIL, 1);
  const checkingOut = t.shopper.checkout(cartId, randomUUID()).catch(() => undefined);
  await expect.poll(() => killed !== undefined, { timeout: 10_000 }).toBe(true);
  await killed;
  await checkingOut;
  return { t, cartId, checkoutId: checkoutIdsFor(cartId).checkoutId };
}

async function restart(t: TestSystem): Promise<{ system: System; shopper: Shopper }> {
  const system = await startSystem({ config: t.config });
  running.push(system);
  return { system, shopper: new Shopper(await system.transportFor('gateway')) };
}

describe('embedded: cart-checked-out is held by the cart\'s journal, not stored in bus.db', { timeout: 90_000 }, () => {
  it('takes a checkout to its end without writing its event to bus.db', async () => {
    const t = await startTestSystem('embedded');
    dirs.push(t.dataDir);
    const cart = await t.shopper.buy(randomUUID(), [[ANVIL, 1]]);
    expect((await t.shopper.settle(cart.checkoutId)).status).toBe('CONFIRMED');
    await t.system.stop();
    expect(storedCheckedOut(t.dataDir)).toBe(0);
    expect(sagaStarts(t.dataDir, cart.checkoutId)).toBe(1);
    expect(sagaClaims(t.dataDir)).toBe(0);
  });

  it('a crash after the cart\'s commit, before the saga consumed the event: the restart starts the saga once', async () => {
    const { t, cartId, checkoutId } = await checkoutKilledAt(Event.cartCheckedOut);
    // The cart committed and published; nothing else holds the event: not bus.db, not the saga.
    const before = cartRecord(t.dataDir, cartId);
    expect(before.pos).toBeGreaterThan(0);
    expect(before.watermark).toBeLessThan(before.pos);
    expect(storedCheckedOut(t.dataDir)).toBe(0);
    expect(sagaStarts(t.dataDir, checkoutId)).toBe(0);

    const { system, shopper } = await restart(t);
    expect((await shopper.settle(checkoutId)).status).toBe('CONFIRMED');
    await system.stop();
    expect(sagaStarts(t.dataDir, checkoutId)).toBe(1);
    expect(sagaClaims(t.dataDir)).toBe(0);
    expect(t.invariants()).toEqual([]);
  });

  it('a crash after the saga\'s start committed, before the cart\'s watermark passed the event: the resend doubles nothing', async () => {
    const { t, cartId, checkoutId } = await checkoutKilledAt(Command.reserveInventory);
    const before = cartRecord(t.dataDir, cartId);
    expect(sagaStarts(t.dataDir, checkoutId)).toBe(1);
    expect(before.watermark).toBeLessThan(before.pos); // the restarted cart sends the event again

    const { system, shopper } = await restart(t);
    expect((await shopper.settle(checkoutId)).status).toBe('CONFIRMED');
    const stock = await shopper.stock(ANVIL);
    await system.stop();
    expect(sagaStarts(t.dataDir, checkoutId)).toBe(1);
    expect(sagaClaims(t.dataDir)).toBe(0);
    expect(cartRecord(t.dataDir, cartId).watermark).toBeGreaterThanOrEqual(before.pos);
    expect(t.invariants()).toEqual([]);
    expect(stock).toMatchObject({ productId: ANVIL });
  });
});

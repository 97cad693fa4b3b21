/**
 * A partitioned inventory's partition adopted after a SIGKILL (PARTITIONS_INVENTORY=2, two
 * processes over a real nats-server): each process serves one partition; reservations span both,
 * so each holds stock in the other's partition. One process is SIGKILLed and its disk deleted (a
 * lost machine); the survivor takes the lease once it expires, rebuilds the partition from its
 * replicated journal, and serves both: every hold acknowledged before is still held, releases
 * give the stock back in both partitions, and new reservations work.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { GetStockLevelResponse, InventoryReleased, MessageType } from '../../src/contracts/index.ts';
import { Bucket, Command, partitionOf, Query } from '../../src/contracts/subjects.ts';
import { defaultSeed } from '../../src/actors/seed/seed.ts';
import { ServiceClient } from '../../src/runtime/client.ts';
import { systemClock } from '../../src/runtime/clock.ts';
import { leaseKey } from '../../src/runtime/slot-lease.ts';
import { connectNats, type NatsTransport } from '../../src/runtime/transport/nats.ts';
import { isTransient } from '../../src/runtime/transport/errors.ts';
import { credentialsFor, startNatsServer, type NatsServerHandle } from '../support/nats-server.ts';
import { spawnServices, type ServiceProcess } from '../support/processes.ts';

const P = 2;
const partitions = { inventory: P };
const byPartition = [0, 1].map((k) => defaultSeed.products.filter((p) => partitionOf(p.productId.toLowerCase(), P) === k));

describe('a partitioned inventory on two processes (PARTITIONS_INVENTORY=2)', () => {
  let server: NatsServerHandle;
  let root: string;
  let saga: NatsTransport;
  let admin: NatsTransport;
  let client: ServiceClient;
  let reader: ServiceClient;
  const procs = new Map<string, ServiceProcess>();
  const dir = (name: string) => join(root, name);
  const spawn = (name: string) => {
    procs.set(name, spawnServices({ NATS_URL: server.url, DATA_DIR: dir(name), SERVICES: 'inventory', PARTITIONS_INVENTORY: String(P), LOG_LEVEL: 'info' }));
  };
  /** The process holding each partition's lease, by name. */
  const holders = async (): Promise<string[]> => {
    const kv = await admin.kv(Bucket.journalLeases);
    const names = new Map([...procs.keys()].map((n) => [readFileSync(join(dir(n), 'slot-owner'), 'utf8').trim(), n]));
    const out: string[] = [];
    for (let k = 0; k < P; k++) {
      const e = await kv.get(leaseKey('inventory', `slot-${k}`)).catch(() => undefined);
      out.push(names.get(e ? (JSON.parse(e.value) as { owner: string }).owner : '') ?? '');
    }
    return out;
  };
  const settled = async (want: string[], ms: number) => {
    const end = Date.now() + ms;
    let last: string[] = [];
    while (Date.now() < end) {
      last = await holders().catch(() => []);
      if (JSON.stringify([...last].sort()) === JSON.stringify(want)) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`partitions never settled to ${JSON.stringify(want)}: ${JSON.stringify(last)}\n${[...procs.entries()].map(([n, p]) => `--- ${n}\n${p.output().slice(-3_000)}`).join('\n')}`);
  };
  /** Asks again while the answer is transient (a partition handing over, a hold still outstanding). */
  const retried = async <T>(ask: () => Promise<T>): Promise<T> => {
    const end = Date.now() + 30_000;
    for (;;) {
      try {
        return await ask();
      } catch (err) {
        if (!isTransient(err) || Date.now() > end) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };
  const reserve = (reservationId: string, items: { productId: string; quantity: number }[]) =>
    retried(() => client.call(Command.reserveInventory, MessageType.reserveInventory, { cartId: randomUUID(), reservationId, items }, z.unknown(), { timeoutMs: 3_000, idempotencyKey: `${reservationId}:reserve` }));
  const release = (reservationId: string) =>
    retried(() => client.call(Command.releaseInventory, MessageType.releaseInventory, { reservationId, reason: 'CHECKOUT_FAILED' }, InventoryReleased, { timeoutMs: 3_000, idempotencyKey: `${reservationId}:release` }));
  const level = async (productId: string) => (await retried(() => reader.call(Query.getStockLevel, MessageType.getStockLevelRequest, { productId }, GetStockLevelResponse, { timeoutMs: 3_000 }))).payload;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'poa-invparts-'));
    server = await startNatsServer();
    saga = await connectNats({ servers: [server.url], ...credentialsFor('checkout'), inboxPrefix: '_INBOX.checkout', name: 'invparts-saga', onError: () => undefined });
    admin = await connectNats({ servers: [server.url], user: 'admin', pass: 'admin-dev-secret', name: 'invparts-admin', onError: () => undefined });
    client = new ServiceClient(saga, 'urn:test:saga', systemClock, partitions);
    reader = new ServiceClient(admin, 'urn:test:reader', systemClock, partitions);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([...procs.values()].map((p) => p.kill('SIGTERM')));
    await saga?.drain();
    await admin?.drain();
    await server?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("adopts a lost process's partition with every hold it acknowledged, and serves both", async () => {
    expect(byPartition.every((ps) => ps.length >= 2)).toBe(true);
    spawn('a');
    spawn('b');
    await settled(['a', 'b'], 60_000);
    const [p0, p1] = [byPartition[0]!, byPartition[1]!];
    const before = new Map<string, number>();
    for (const p of [p0[0]!, p0[1]!, p1[0]!, p1[1]!]) before.set(p.productId, (await level(p.productId)).available);

    // Ten reservations, each holding one unit in each partition: both processes hold stock for both.
    const held: string[] = [];
    for (let i = 0; i < 10; i++) {
      const id = randomUUID();
      const r = await reserve(id, [{ productId: p0[i % 2]!.productId, quantity: 1 }, { productId: p1[i % 2]!.productId, quantity: 1 }]);
      expect(r.meta?.type).toBe(MessageType.inventoryReserved);
      held.push(id);
    }
    for (const p of [p0[0]!, p0[1]!, p1[0]!, p1[1]!]) expect(await level(p.productId)).toMatchObject({ available: before.get(p.productId)! - 5, reserved: 5 });

    // The holder of partition 0 is lost with its disk: the other adopts it.
    const lost = (await holders())[0]!;
    const survivor = lost === 'a' ? 'b' : 'a';
    const lostAt = performance.now();
    await procs.get(lost)!.kill('SIGKILL');
    rmSync(dir(lost), { recursive: true, force: true });
    procs.delete(lost);
    await settled([survivor, survivor], 30_000);
    // Rebuilt from the journal: what was held is still held.
    for (const p of [p0[0]!, p0[1]!, p1[0]!, p1[1]!]) expect(await level(p.productId)).toMatchObject({ available: before.get(p.productId)! - 5, reserved: 5 });
    const adoptedMs = Math.round(performance.now() - lostAt);

    // Releases reach the holds in both partitions; a new reservation across both works.
    for (const id of held) expect((await release(id)).payload.reservationId).toBe(id);
    const fresh = await reserve(randomUUID(), [{ productId: p0[0]!.productId, quantity: 1 }, { productId: p1[0]!.productId, quantity: 1 }]);
    expect(fresh.meta?.type).toBe(MessageType.inventoryReserved);
    // The releases reach the holds after their replies: wait until only the fresh reservation holds.
    const end = Date.now() + 15_000;
    for (;;) {
      const levels = await Promise.all([p0[0]!, p1[0]!, p0[1]!, p1[1]!].map((p) => level(p.productId)));
      if (levels.every((l, i) => l.reserved === (i < 2 ? 1 : 0)) || Date.now() > end) {
        for (const [i, p] of [p0[0]!, p1[0]!, p0[1]!, p1[1]!].entries()) {
          const fresh = i < 2 ? 1 : 0;
          expect(levels[i]).toMatchObject({ available: before.get(p.productId)! - fresh, reserved: fresh });
        }
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    console.log(JSON.stringify({ bench: 'inventory-partition-adopted', partitions: P, adoptedMs }));
  }, 150_000);
});

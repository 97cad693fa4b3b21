/**
 * A participant's slot under a lease (src/runtime/leased-slot.ts), on a 3-node nats-server cluster:
 * two processes of the inventory service, one serving, one standing by on its own DATA_DIR. The
 * owner is SIGKILLed (and, every other time, its disk deleted: a lost machine); the standby takes
 * the lease once it expires, rebuilds or catches up its store from the replicated journal, fences
 * the journal, and serves. Measured: from the kill to the first command the new owner answered.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetOrderResponse, InventoryReleased, MessageType, OrderCancelled } from '../../src/contracts/index.ts';
import { Bucket, Command, partitionOf, Query } from '../../src/contracts/subjects.ts';
import { ServiceClient } from '../../src/runtime/client.ts';
import { systemClock } from '../../src/runtime/clock.ts';
import { LEASE_TIMING, leaseKey } from '../../src/runtime/slot-lease.ts';
import { connectNats, type NatsTransport } from '../../src/runtime/transport/nats.ts';
import { isTransient } from '../../src/runtime/transport/errors.ts';
import { credentialsFor } from '../support/nats-server.ts';
import { startNatsCluster, type NatsClusterHandle } from '../support/nats-cluster.ts';
import { spawnServices, waitForServices, type ServiceProcess } from '../support/processes.ts';

/**
 * Two by default: the first standby takes over on an empty disk (it never served) and the killed
 * owner, back on its stale disk, takes over the second time from that disk, after the first owner
 * was lost with its disk; so both ways a store is brought up to date run every time. More
 * (SLOTS_TAKEOVERS=4, docs/benchmarks.md) only repeat them (about 8 s each in CI) for the figures.
 */
const TAKEOVERS = Number(process.env.SLOTS_TAKEOVERS ?? 2);

describe('a participant slot with a standby, on a 3-node NATS cluster', () => {
  let cluster: NatsClusterHandle;
  let root: string;
  let caller: NatsTransport;
  let admin: NatsTransport;
  let client: ServiceClient;
  const procs = new Map<string, ServiceProcess>();

  const dir = (name: string) => join(root, name);
  const spawn = (name: string): ServiceProcess => {
    const p = spawnServices({ NATS_URL: cluster.url, NATS_REPLICAS: '3', DATA_DIR: dir(name), SERVICES: 'inventory', LOG_LEVEL: 'info' });
    procs.set(name, p);
    return p;
  };
  /** A command that commits: a release of a reservation never made (participants accept it). */
  const release = async (reservationId: string, timeoutMs: number) =>
    client.call(Command.releaseInventory, MessageType.releaseInventory, { reservationId, reason: 'CHECKOUT_FAILED' }, InventoryReleased, { timeoutMs, idempotencyKey: `${reservationId}:release` });
  /** Which process's disk names the lease's owner now. */
  const owner = async (): Promise<string> => {
    const kv = await admin.kv(Bucket.journalLeases).catch(() => undefined);
    const e = kv && (await kv.get(leaseKey('inventory', '0')).catch(() => undefined));
    const id = e ? (JSON.parse(e.value) as { owner: string }).owner : '';
    return [...procs.keys()].find((name) => readFileSync(join(dir(name), 'slot-owner'), 'utf8').trim() === id) ?? '';
  };

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'poa-slots-'));
    cluster = await startNatsCluster();
    caller = await connectNats({ servers: cluster.servers, ...credentialsFor('checkout'), inboxPrefix: '_INBOX.checkout', name: 'slots-test', onError: () => undefined });
    admin = await connectNats({ servers: cluster.servers, user: 'admin', pass: 'admin-dev-secret', name: 'slots-test-admin', onError: () => undefined });
    client = new ServiceClient(caller, 'urn:test:slots', systemClock);
    spawn('a');
    await waitForServices(admin, ['inventory'], 90_000, procs.get('a'));
    const b = spawn('b');
    await until(() => b.output().includes('standing by'), 60_000);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([...procs.values()].map((p) => p.kill('SIGTERM')));
    await caller?.drain();
    await admin?.drain();
    await cluster?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('the standby takes over a killed owner within 5 s, from a stale or an empty disk, and nothing acknowledged is lost', async () => {
    const acknowledged: string[] = [];
    const takeovers: number[] = [];
    for (let run = 0; run < TAKEOVERS; run++) {
      const from = await owner();
      expect(['a', 'b']).toContain(from);
      for (let i = 0; i < 20; i++) {
        const id = randomUUID();
        await release(id, 5_000);
        acknowledged.push(id);
      }
      const started = performance.now();
      await procs.get(from)!.kill('SIGKILL');
      // Every other run, the machine is lost with its disk.
      const lostDisk = run % 2 === 1;
      if (lostDisk) rmSync(dir(from), { recursive: true, force: true });
      const id = randomUUID();
      for (;;) {
        try {
          await release(id, 250);
          break;
        } catch (err) {
          if (performance.now() - started > 30_000) throw new Error(`no takeover in 30 s: ${String(err)}\n${[...procs.entries()].map(([n, p]) => `--- ${n}\n${p.output()}`).join('\n')}`);
        }
      }
      takeovers.push(Math.round(performance.now() - started));
      acknowledged.push(id);
      expect(await owner()).not.toBe(from);
      // The killed one comes back as the standby (on an empty disk if it was lost).
      const back = spawn(from);
      await until(() => back.output().includes('standing by'), 60_000);
    }
    const sorted = [...takeovers].sort((x, y) => x - y);
    const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
    console.log(JSON.stringify({ bench: 'participant-takeover', cluster: 3, ttlMs: LEASE_TIMING.ttlMs, runs: takeovers.length, takeoversMs: takeovers, p50Ms: p(0.5), p99Ms: p(0.99) }));
    expect(p(0.99)).toBeLessThan(5_000);

    // Every acknowledged command is in the current owner's store.
    const current = await owner();
    await procs.get(current)!.kill('SIGTERM');
    const db = new Database(join(dir(current), 'inventory.db'), { readonly: true });
    try {
      const known = db.prepare(`SELECT id FROM actors WHERE kind = 'reservation'`).pluck().all() as string[];
      expect(acknowledged.filter((r) => !known.includes(r))).toEqual([]);
    } finally {
      db.close();
    }
  }, 300_000);

  it('the node leading the leases bucket is lost: the owner keeps its slot through the election, the standby takes nothing', async () => {
    // The first case stopped the owner at its end: the standby serves once a command is answered.
    for (const end = Date.now() + 30_000; ; ) {
      try {
        await release(randomUUID(), 1_000);
        break;
      } catch (err) {
        if (Date.now() > end) throw err;
      }
    }
    const from = await owner();
    expect(['a', 'b']).toContain(from);
    const jsm = await jetstreamManager(admin.nc, { checkAPI: false, timeout: 2_000 });
    const leader = (await jsm.streams.info(`KV_${Bucket.journalLeases}`)).cluster?.leader;
    const node = cluster.nodes.findIndex((n) => n.name === leader);
    expect(node).toBeGreaterThanOrEqual(0);
    const before = procs.get(from)!.output().length;
    await cluster.kill(node);
    // Commands keep being asked through the election (each answered once the journal's stream
    // answers: its leader may have been on the lost node too).
    const lostAt = performance.now();
    const answered: number[] = [];
    while (performance.now() - lostAt < 15_000) {
      const id = randomUUID();
      try {
        await release(id, 1_000);
        answered.push(Math.round(performance.now() - lostAt));
      } catch {
        // not yet: the journal's or the consumers' streams are electing too
      }
    }
    const after = procs.get(from)!.output().slice(before);
    const led = (await jsm.streams.info(`KV_${Bucket.journalLeases}`)).cluster?.leader;
    console.log(JSON.stringify({ bench: 'leases-leader-lost', leader, newLeader: led, firstAnsweredMs: answered[0], answered: answered.length }));
    expect(after).not.toContain('slot lease lost');
    expect(await owner()).toBe(from);
    expect(answered.length).toBeGreaterThan(0);
    await cluster.restart(node);
  }, 120_000);

  it('orchestrator slots and a participant\'s partitions: two processes share them fairly; a lost one\'s are adopted; a fresh one gets its share back', async () => {
    const SLOTS = 4;
    // Each process runs the orchestrator (CHECKOUT_SLOTS) and the Order Service in 4 partitions.
    const orchestrator = (name: string) => {
      const p = spawnServices({ NATS_URL: cluster.url, NATS_REPLICAS: '3', DATA_DIR: dir(name), SERVICES: 'checkout,order', CHECKOUT_SLOTS: String(SLOTS), PARTITIONS: String(SLOTS), LOG_LEVEL: 'info' });
      procs.set(name, p);
      return p;
    };
    /** Slot holders by process name, read from the leases: the orchestrator's slots, then the order partitions. */
    const holders = async (): Promise<string[]> => {
      const kv = await admin.kv(Bucket.journalLeases);
      const names = new Map([...procs.keys()].map((n) => [ownerOf(n), n]));
      const out: string[] = [];
      for (const service of ['checkout', 'order']) {
        for (let k = 0; k < SLOTS; k++) {
          const e = await kv.get(leaseKey(service, `slot-${k}`)).catch(() => undefined);
          out.push(names.get(e ? (JSON.parse(e.value) as { owner: string }).owner : '') ?? '');
        }
      }
      return out;
    };
    // Orders, each routed to the partition its id hashes to (subjects.ts); a cancellation with its
    // facts commits an order even where none was created (the saga's compensation may come first).
    const orders = new ServiceClient(admin, 'urn:test:partitions', systemClock, { order: SLOTS });
    const cancelled: string[] = [];
    /** Asks again while the answer is transient: a lease just taken may still be opening its slot. */
    const retried = async <T>(ask: () => Promise<T>): Promise<T> => {
      const end = Date.now() + 20_000;
      for (;;) {
        try {
          return await ask();
        } catch (err) {
          if (!isTransient(err) || Date.now() > end) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    };
    const cancel = async () => {
      const orderId = randomUUID();
      await retried(() => orders.call(Command.cancelOrder, MessageType.cancelOrder, { orderId, reason: 'PAYMENT_FAILED', cartId: randomUUID(), customerId: randomUUID(), items: [], total: 0, currency: 'USD' }, OrderCancelled, { timeoutMs: 2_000, idempotencyKey: `${orderId}:cancel` }));
      cancelled.push(orderId);
    };
    /** Every acknowledged order, asked of its partition. */
    const everyOrderFound = async () => {
      for (const orderId of cancelled) {
        const { payload } = await retried(() => orders.call(Query.getOrder, MessageType.getOrderRequest, { orderId }, GetOrderResponse, { timeoutMs: 2_000 }));
        expect(payload.status).toBe('CANCELLED');
      }
    };
    const ownerOf = (name: string) => {
      try {
        return readFileSync(join(dir(name), 'slot-owner'), 'utf8').trim();
      } catch {
        return '?';
      }
    };
    const count = (hs: string[], name: string) => hs.filter((h) => h === name).length;
    const settled = async (expect: Record<string, number>, ms: number) => {
      const end = Date.now() + ms;
      let last: string[] = [];
      while (Date.now() < end) {
        last = await holders();
        if (Object.entries(expect).every(([n, c]) => count(last, n) === c)) return last;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`slots never settled to ${JSON.stringify(expect)}: ${JSON.stringify(last)}\n${[...procs.entries()].filter(([n]) => n.startsWith('co-')).map(([n, p]) => `--- ${n}\n${p.output()}`).join('\n')}`);
    };
    orchestrator('co-a');
    orchestrator('co-b');
    await settled({ 'co-a': 4, 'co-b': 4 }, 45_000);
    // Both processes serve: every partition answers, two of them in each process.
    for (let i = 0; i < 40; i++) await cancel();
    expect(new Set(cancelled.map((id) => partitionOf(id, SLOTS))).size).toBe(SLOTS);
    // co-a is lost with its disk: co-b adopts its slots.
    const lostAt = performance.now();
    await procs.get('co-a')!.kill('SIGKILL');
    rmSync(dir('co-a'), { recursive: true, force: true });
    await settled({ 'co-b': 8 }, 30_000);
    const adoptedMs = Math.round(performance.now() - lostAt);
    // The adopted partitions were rebuilt from the stream: every acknowledged order is there.
    await everyOrderFound();
    for (let i = 0; i < 20; i++) await cancel();
    // A fresh process on an empty disk joins: the slots are shared again.
    orchestrator('co-a');
    await settled({ 'co-a': 4, 'co-b': 4 }, 45_000);
    await everyOrderFound();
    console.log(JSON.stringify({ bench: 'slots-and-partitions-adopted', cluster: 3, slots: SLOTS, partitions: SLOTS, adoptedMs }));
    await Promise.all(['co-a', 'co-b'].map((n) => procs.get(n)!.kill('SIGTERM')));
  }, 200_000);
});

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The system on a 3-node nats-server cluster (streams and KV at R3, NATS_URL listing every node),
 * two processes of every service (participants: cart, promotion, payment and order in PARTITIONS
 * partitions shared between them, inventory's one slot served by one and the other standing by;
 * orchestrators: CHECKOUT_SLOTS shared between them; gateways: both serve), under
 * faults: 500 checkouts through the two gateways over HTTP while one nats-server node is killed and
 * later restarted, and one process of every service is lost with its machine (SIGKILL, DATA_DIR
 * deleted) and a fresh one started on an empty disk. Afterwards every checkout a gateway
 * acknowledged is final, and the invariants hold (stock conserved, no stray holds or
 * authorizations, one saga and at most one order per cart) in the stores of the slots' owners.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSeed, productIdFor } from '../../src/actors/seed/seed.ts';
import { CheckoutStatus } from '../../src/contracts/index.ts';
import { Bucket, JournalStream, Stream } from '../../src/contracts/subjects.ts';
import { leaseKey } from '../../src/runtime/slot-lease.ts';
import { connectNats, type NatsTransport } from '../../src/runtime/transport/nats.ts';
import { freePort } from '../support/nats-server.ts';
import { startNatsCluster, type NatsClusterHandle } from '../support/nats-cluster.ts';
import { spawnServices, waitForServices, type ServiceProcess } from '../support/processes.ts';
import { audit } from '../support/shop.ts';

const CHECKOUTS = 500;
const CONCURRENCY = 12;
const STOCK = 2_000;
const PARTICIPANTS = ['order', 'inventory', 'payment', 'promotion', 'cart'] as const;
const PRODUCTS = ['ACME-BIRDSEED', 'ACME-GIANT-MAG', 'ACME-ROCKET-SK8'].map(productIdFor);
const CHECKOUT_SLOTS = 4;
/**
 * Cart, promotion, payment and order in this many partitions (with 2, both participant processes
 * serve; inventory keeps one slot). 2 since the failover work of 2026-12-06 (it was 1: 2 of 4 runs
 * with 2 had cancelled 54-100 checkouts in the fault window, caused by the serial openings and the
 * journal reads waiting on the dead node, fixed in 1956022; with 2 it passed five runs since and
 * takes as long as with 1, docs/architecture.md, "Partitions"). CLUSTER_PARTITIONS=1 runs it with 1.
 */
const PARTITIONS = Number(process.env.CLUSTER_PARTITIONS ?? 2);

describe('on a 3-node NATS cluster', () => {
  let cluster: NatsClusterHandle;
  let root: string;
  let admin: NatsTransport;
  const procs = new Map<string, ServiceProcess>();
  /** Processes lost in the run (their output is kept for the failover figures and CLUSTER_LOG_DIR). */
  const lostProcs: [string, ServiceProcess][] = [];
  /** Set at the end of the test: a run that did not get there prints what its processes warned of (afterAll). */
  let passed = false;
  const ports: number[] = [];
  const seedFile = () => join(root, 'seed.json');

  const env = (dir: string, services: string, extra: Record<string, string> = {}): Record<string, string> => ({
    NATS_URL: cluster.url,
    NATS_REPLICAS: '3',
    DATA_DIR: join(root, dir),
    SERVICES: services,
    SEED_FILE: seedFile(),
    RATE_LIMIT_PER_MINUTE: '0',
    CHECKOUT_REQUEST_TIMEOUT_MS: '2000',
    // Deadlines long enough to ride out a node's loss and a process's restart; the saga's own
    // timeouts are tested elsewhere.
    CHECKOUT_RESERVE_DEADLINE_MS: '30000',
    CHECKOUT_PAYMENT_DEADLINE_MS: '30000',
    CHECKOUT_ORDER_DEADLINE_MS: '30000',
    CHECKOUT_SLOTS: String(CHECKOUT_SLOTS),
    PARTITIONS: String(PARTITIONS),
    // The slots' takeover lines ('slot lease taken', 'slot serving') are at info: the failover figures.
    LOG_LEVEL: 'info',
    ...extra,
  });
  const spawn = (name: string, dir: string, services: string, extra?: Record<string, string>): ServiceProcess => {
    const p = spawnServices(env(dir, services, extra));
    procs.set(name, p);
    return p;
  };
  const gateway = (i: number) => spawn(`gateway-${i}`, `gateway-${i}`, 'gateway', { PORT: String(ports[i]) });

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'poa-cluster-'));
    writeFileSync(seedFile(), JSON.stringify({ ...defaultSeed, products: defaultSeed.products.map((p) => ({ ...p, stock: STOCK })) }));
    cluster = await startNatsCluster();
    admin = await connectNats({ servers: cluster.servers, user: 'admin', pass: 'admin-dev-secret', name: 'cluster-test', onError: () => undefined });
    ports.push(await freePort(), await freePort());
    spawn('participants-a', 'participants-a', PARTICIPANTS.join(','));
    spawn('participants-b', 'participants-b', PARTICIPANTS.join(','));
    spawn('checkout-a', 'checkout-a', 'checkout');
    spawn('checkout-b', 'checkout-b', 'checkout');
    gateway(0);
    gateway(1);
    await waitForServices(admin, [...PARTICIPANTS, 'checkout'], 90_000, procs.get('participants-a'));
    for (const port of ports) await waitForHttp(`http://127.0.0.1:${port}`, 60_000);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([...procs.values()].map((p) => p.kill('SIGTERM')));
    // A failed run prints each process's last warnings and errors: CI keeps only what was printed
    // (one run in CI failed on a checkout refused 503 for 120 s, which 8 runs alone did not repeat).
    if (!passed) {
      for (const [n, p] of [...lostProcs.map(([n, p]) => [`${n}-lost`, p] as const), ...procs]) {
        const bad = p.output().split('\n').filter((l) => /"level":(4|5|6)0/.test(l));
        console.log(`--- ${n}: ${bad.length} warnings and errors, the last 25:\n${bad.slice(-25).map((l) => l.slice(0, 400)).join('\n')}`);
      }
    }
    // CLUSTER_LOG_DIR=<dir>: every process's log kept for a closer look; a failed run keeps them
    // beside its stores, which it keeps too (printed below): D2's failed audit (docs/benchmarks.md)
    // could not be looked into, its stores gone with the test's directory.
    const logDir = process.env.CLUSTER_LOG_DIR ?? (passed || !root ? undefined : join(root, 'logs'));
    if (logDir) {
      mkdirSync(logDir, { recursive: true });
      for (const [n, p] of [...lostProcs.map(([n, p]) => [`${n}-lost`, p] as const), ...procs]) writeFileSync(join(logDir, `${n}.log`), p.output());
      for (let i = 0; i < cluster.nodes.length; i++) writeFileSync(join(logDir, `nats-${i}.log`), cluster.log(i));
    }
    await admin?.drain();
    await cluster?.stop();
    if (root && passed) rmSync(root, { recursive: true, force: true });
    else if (root) console.log(`the run failed: its stores and logs are kept in ${root}`);
  });

  /** A process's owner name (its DATA_DIR's slot-owner), '' before it wrote one. */
  const ownerName = (name: string): string => {
    try {
      return readFileSync(join(root, name, 'slot-owner'), 'utf8').trim();
    } catch {
      return '';
    }
  };
  /** Every slot's lease key: the participants' (partitions or slot 0) and the orchestrator's. */
  const slotKeys = (): string[] => [
    ...PARTICIPANTS.flatMap((s) => (s !== 'inventory' && PARTITIONS > 1 ? Array.from({ length: PARTITIONS }, (_, k) => leaseKey(s, `slot-${k}`)) : [leaseKey(s, '0')])),
    ...Array.from({ length: CHECKOUT_SLOTS }, (_, k) => leaseKey('checkout', `slot-${k}`)),
  ];

  /**
   * The process (its DATA_DIR's name) whose slot-owner holds a lease now, as the bucket's leader has
   * it: a KV get is a direct get that any replica answers, one behind (the node restarted in the
   * run, catching up) may name an earlier owner, and the audit would read that owner's stale store.
   */
  const ownerOf = async (key: string): Promise<string> => {
    const kv = await admin.kv(Bucket.journalLeases);
    for (let attempt = 0; ; attempt++) {
      const e = await kv.get(key, { fromLeader: true }).catch(() => undefined);
      const id = e ? (JSON.parse(e.value) as { owner: string }).owner : '';
      const name = [...procs.keys()].find((n) => ownerName(n) === id);
      if (name) return name;
      if (attempt > 100) throw new Error(`nobody holds ${key}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  it('loses nothing a gateway acknowledged through a node loss and lost machines', async () => {
    const acknowledged: { checkoutId: string; orderId: string; cartId: string }[] = [];
    let started = 0;
    const shopper = async (n: number): Promise<void> => {
      while (started < CHECKOUTS) {
        await paused;
        if (started >= CHECKOUTS) return;
        started++;
        const base = `http://127.0.0.1:${ports[(started + n) % ports.length]}`;
        const cartId = randomUUID();
        const productId = PRODUCTS[started % PRODUCTS.length]!;
        await postUntilAccepted(base, ports, `/carts/${cartId}/items`, { productId, quantity: 1 });
        const cart = await postUntilAccepted(base, ports, `/carts/${cartId}/checkout`, { customerId: randomUUID() });
        acknowledged.push({ checkoutId: String(cart.checkoutId), orderId: String(cart.orderId), cartId });
      }
    };
    const faults = async (): Promise<void> => {
      await until(() => acknowledged.length >= 100, 120_000);
      await cluster.kill(1); // a NATS node is lost; its streams' other replicas carry on
      const nodeKilledAt = Date.now();
      await until(() => acknowledged.length >= 180, 120_000);
      // The node's loss is absorbed before the machines are lost: every stream it led has a new
      // leader (nats-server 2.9.10 elects one 4-9 s after the loss). Otherwise the takeovers below
      // wait for those elections, whatever they do, and the failover figures measure the node's loss.
      // No checkout starts meanwhile (on a quiet machine the rest of the run would end in that
      // wait, and the machines would be lost with nothing in flight); once resumed, the machines
      // are lost with 40 more acknowledged, checkouts in flight.
      let resume: () => void = () => undefined;
      paused = new Promise((r) => (resume = r));
      await streamsLed(admin, 60_000);
      nodeSettledMs = Date.now() - nodeKilledAt;
      const resumedAt = acknowledged.length;
      paused = undefined;
      resume();
      await until(() => acknowledged.length >= resumedAt + 40, 120_000);
      // One process of every service is lost with its machine: SIGKILL, its disk gone, a fresh one
      // started empty. The participants' process lost is the one serving inventory's slot.
      const participants = await ownerOf(leaseKey('inventory', '0'));
      const lost = [participants, 'checkout-a', 'gateway-1'];
      // The slots the lost processes hold now: the failover figures are theirs.
      const kv = await admin.kv(Bucket.journalLeases);
      for (const key of slotKeys()) {
        const e = await kv.get(key).catch(() => undefined);
        const owner = e && (JSON.parse(e.value) as { owner?: string }).owner;
        if (owner && lost.some((n) => ownerName(n) === owner)) lostSlots.push(key);
      }
      killedAt = Date.now();
      await Promise.all(lost.map((n) => procs.get(n)!.kill('SIGKILL')));
      for (const n of lost) lostProcs.push([n, procs.get(n)!]);
      for (const n of lost) rmSync(join(root, n), { recursive: true, force: true });
      spawn(participants, participants, PARTICIPANTS.join(','));
      spawn('checkout-a', 'checkout-a', 'checkout');
      gateway(1);
      await until(() => acknowledged.length >= 300, 180_000);
      await cluster.restart(1);
    };
    let killedAt = 0;
    let nodeSettledMs = 0;
    /** While set, no new checkout starts. */
    let paused: Promise<void> | undefined;
    const lostSlots: string[] = [];
    await Promise.all([...Array.from({ length: CONCURRENCY }, (_, n) => shopper(n)), faults()]);
    expect(acknowledged).toHaveLength(CHECKOUTS);

    // Every acknowledged checkout reaches a final status (read from the replicated KV).
    const kv = await admin.kv(Bucket.checkouts);
    const finals = new Map<string, string>();
    const end = Date.now() + 120_000;
    while (finals.size < acknowledged.length && Date.now() < end) {
      for (const c of acknowledged) {
        if (finals.has(c.checkoutId)) continue;
        const e = await kv.get(c.checkoutId).catch(() => undefined);
        const status = e && CheckoutStatus.parse(JSON.parse(e.value)).status;
        if (status === 'CONFIRMED' || status === 'CANCELLED') finals.set(c.checkoutId, status);
      }
      if (finals.size < acknowledged.length) await new Promise((r) => setTimeout(r, 500));
    }
    // Read once every checkout is final, so every takeover has logged (the gateways may have
    // acknowledged the last checkout before the lost machine's slots were even taken).
    console.log('FAILOVER', JSON.stringify({ nodeSettledMs, ...failover([...procs.values()].map((p) => p.output()), killedAt, lostSlots) }));
    const missing = acknowledged.filter((c) => !finals.has(c.checkoutId));
    expect(missing.map((c) => c.checkoutId)).toEqual([]);
    const confirmed = [...finals.values()].filter((s) => s === 'CONFIRMED').length;
    if (confirmed < CHECKOUTS * 0.95) {
      const why = new Map<string, number>();
      for (const c of acknowledged) {
        const e = await kv.get(c.checkoutId).catch(() => undefined);
        const st = e && (JSON.parse(e.value) as { status: string; reason?: string; detail?: string; step?: string });
        if (st && st.status === 'CANCELLED') why.set(`${st.reason}/${st.detail}/${st.step}`, (why.get(`${st.reason}/${st.detail}/${st.step}`) ?? 0) + 1);
      }
      console.log('CANCELLED BY', JSON.stringify([...why]));
      // What the participants answered that failed a step, as the orchestrators' relays logged it, and every error line.
      for (const [n, p] of procs) {
        const lines = p.output().split('\n').filter((l) => l.includes('failed') || l.includes('"level":50'));
        const counts = new Map<string, number>();
        for (const l of lines) {
          const key = l.replace(/"(time|pid|hostname|correlationId|requestId|id|checkoutId|orderId|reservationId)":"?[^,"]*"?,?/g, '').slice(0, 400);
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
        console.log(`--- ${n}: ${lines.length} error lines\n${[...counts].map(([l, c]) => `${c}x ${l}`).join('\n')}\n${p.output().slice(-1500)}`);
      }
    }
    // Stock is ample and no participant refuses: only a timed-out step could cancel one.
    expect(confirmed).toBeGreaterThanOrEqual(CHECKOUTS * 0.95);

    // What carried the run through the node's loss: every stream and bucket has three replicas.
    const jsm = await jetstreamManager(admin.nc, { checkAPI: false });
    for (const name of [...Object.values(Stream).map((s) => s.name), `KV_${Bucket.checkouts}`, `KV_${Bucket.sagaOwners}`, `KV_${Bucket.journalLeases}`]) {
      expect((await jsm.streams.info(name)).config.num_replicas, name).toBe(3);
    }

    // The audit reads the stores of the slots' owners now (a standby's copy may be stale).
    const dir = async (service: string, slot = '0') => join(root, await ownerOf(leaseKey(service, slot)));
    const slotFiles = (service: string, count: number) => Promise.all(Array.from({ length: count }, async (_, k) => join(await dir(service, `slot-${k}`), `${service}-slot-${k}.db`)));
    if (PARTITIONS > 1) {
      // Both participant processes serve: each holds partitions of the partitioned services. The
      // survivor adopted every partition the lost process held (beyond its share) and hands them
      // on to the fresh process one a TTL, so this is waited for.
      const holding = async () => new Set(await Promise.all(['cart', 'promotion', 'payment', 'order'].flatMap((s) => Array.from({ length: PARTITIONS }, (_, k) => ownerOf(leaseKey(s, `slot-${k}`))))));
      let holders = await holding();
      for (const end = Date.now() + 60_000; holders.size < 2 && Date.now() < end; holders = await holding()) await new Promise((r) => setTimeout(r, 500));
      expect([...holders].sort()).toEqual(['participants-a', 'participants-b']);
    }
    const stores = {
      inventory: await dir('inventory'),
      payment: PARTITIONS > 1 ? await slotFiles('payment', PARTITIONS) : await dir('payment'),
      order: PARTITIONS > 1 ? await slotFiles('order', PARTITIONS) : await dir('order'),
      checkout: await slotFiles('checkout', CHECKOUT_SLOTS),
    };
    await Promise.all([...procs.values()].map((p) => p.kill('SIGTERM')));
    const initial = new Map(defaultSeed.products.map((p) => [p.productId, STOCK]));
    expect(audit(stores, initial)).toEqual([]);
    passed = true;
  }, 600_000);
});

/**
 * From the processes' logs: for each slot the lost processes held at their SIGKILL (`killedAt`),
 * the milliseconds from the kill to the lease taken by another process and to its serving (the
 * first 'slot lease taken' and 'slot serving' lines after the kill, whoever logged them), how
 * long that opening took and its steps (leased-slot.ts, OpenPhases). `killedAt` too, to line the
 * logs up.
 */
function failover(outputs: readonly string[], killedAt: number, lostSlots: readonly string[]): Record<string, unknown> {
  const first = new Map<string, { taken?: number; serving?: number; openMs?: number; phases?: Record<string, number> }>(lostSlots.map((s) => [s, {}]));
  for (const out of outputs) {
    for (const line of out.split('\n')) {
      if (!line.includes('"slot lease taken') && !line.includes('"slot serving"')) continue;
      const l = JSON.parse(line) as { time: number; slot: string; msg: string; openMs?: number; phases?: Record<string, number> };
      const f = first.get(l.slot);
      if (!f || l.time < killedAt) continue;
      const at = l.time - killedAt;
      if (l.msg === 'slot serving') {
        if (f.serving === undefined || f.serving > at) Object.assign(f, { serving: at, openMs: l.openMs, phases: l.phases });
      } else if (f.taken === undefined || f.taken > at) f.taken = at;
    }
  }
  return { killedAt, ...Object.fromEntries([...first].sort(([a], [b]) => a.localeCompare(b))) };
}

/**
 * POSTs until a gateway accepts it, as a client would: the same idempotency key on every attempt,
 * the other gateway when this one is down, a pause after a 503 or a refused connection.
 */
async function postUntilAccepted(base: string, ports: readonly number[], path: string, body: unknown): Promise<Record<string, unknown>> {
  const key = randomUUID();
  const end = Date.now() + 120_000;
  let url = base;
  let last = '';
  for (let attempt = 0; Date.now() < end; attempt++) {
    try {
      const res = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
      const text = await res.text();
      if (res.ok) return JSON.parse(text) as Record<string, unknown>;
      last = `HTTP ${res.status} ${text}`;
      if (res.status < 500) throw new Error(`POST ${path}: ${last}`);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('POST ')) throw err;
      last = String(err);
      url = `http://127.0.0.1:${ports[attempt % ports.length]}`;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`POST ${path} never accepted: ${last}`);
}

/** Waits until every stream and bucket has a leader, as the admin reads it. */
async function streamsLed(admin: NatsTransport, ms: number): Promise<void> {
  const jsm = await jetstreamManager(admin.nc, { checkAPI: false, timeout: 1_000 });
  const names = [...Object.values(Stream).map((s) => s.name), JournalStream.name, `KV_${Bucket.checkouts}`, `KV_${Bucket.sagaOwners}`, `KV_${Bucket.journalLeases}`];
  const end = Date.now() + ms;
  for (const name of names) {
    for (;;) {
      const info = await jsm.streams.info(name).catch(() => undefined);
      if (info?.cluster?.leader) break;
      if (Date.now() > end) throw new Error(`stream ${name} has no leader after ${ms} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function waitForHttp(base: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > end) throw new Error(`${base} did not come up in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

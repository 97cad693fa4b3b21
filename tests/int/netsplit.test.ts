/**
 * A service cut off from NATS, with real components: a 3-node nats-server cluster (routes through
 * cuttable proxies, tests/support/tcp-proxy.ts), two processes of the participants, each reaching
 * NATS only through proxies of its own (one serves every participant's slot under its lease, the
 * other stands by), two orchestrators sharing CHECKOUT_SLOTS=2, and shoppers checking out all along.
 * The serving process's link is cut for CUT_MS while checkouts run (they pause just before the
 * cut, see underLoad, and start again with it), then healed:
 *
 *   1. silent  its proxies stop forwarding and close nothing (silence, not a reset): what it sends
 *              is held and delivered late, at heal;
 *   2. reset   its connections are reset (RST) at the cut, and new ones refused until heal.
 *
 * Shown each time: the cut owner stops serving every slot within the lease's TTL less its margin;
 * the other process takes every slot (rebuilt from the stream, fenced) and serves them before the
 * link heals; no slot's lease is held by two processes at once (both processes' logs). At the end:
 * every acknowledged checkout is final; a journal append of the silently cut owner reached the
 * stream late, at heal, after the other process had fenced the journal (an authorization the
 * owner's processor was still stalling on at the cut makes sure one goes out), and every
 * participant's journal is still one unbroken chain of positions: the stream refused it. (The cut
 * owner's own log cannot say so: once its lease is lost its replicator is stopped, and the answer
 * to a late append reaches nobody.) And the invariants hold (stock conserved, no stray
 * holds or authorizations, one saga and at most one order per cart) in the current owners' stores.
 * Each phase prints its figures as a JSON line (docs/benchmarks.md, "Partitions").
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defaultSeed, productIdFor } from '../../src/actors/seed/seed.ts';
import { Cart, MessageType } from '../../src/contracts/index.ts';
import { Bucket, Command, journalSubject } from '../../src/contracts/subjects.ts';
import { ServiceClient } from '../../src/runtime/client.ts';
import { systemClock } from '../../src/runtime/clock.ts';
import { LEASE_TIMING, leaseKey } from '../../src/runtime/slot-lease.ts';
import { connectNats, type NatsTransport } from '../../src/runtime/transport/nats.ts';
import { credentialsFor } from '../support/nats-server.ts';
import { startNatsCluster, type NatsClusterHandle } from '../support/nats-cluster.ts';
import { journalChains, leaseHolders, leaseTerms, logLines, ownerName, retried, sleep, until } from '../support/partition.ts';
import { spawnServices, waitForServices, type ServiceProcess } from '../support/processes.ts';
import { audit, Shopper } from '../support/shop.ts';
import { startTcpProxy, type CutMode, type TcpProxy } from '../support/tcp-proxy.ts';

const PARTICIPANTS = ['order', 'inventory', 'payment', 'promotion', 'cart'] as const;
const PRODUCTS = ['ACME-BIRDSEED', 'ACME-GIANT-MAG', 'ACME-ROCKET-SK8'].map(productIdFor);
const STOCK = 1_000;
const CHECKOUT_SLOTS = 2;
const TTL_MS = LEASE_TIMING.ttlMs;
const MARGIN_MS = LEASE_TIMING.marginMs;
const CUT_MS = Number(process.env.NETSPLIT_CUT_MS ?? 12_000);
const SHOPPERS = 6;
/** A customer whose authorizations the payment processor stalls for STALL_MS (see underLoad). */
const STALLER = randomUUID();
/**
 * The stalled authorization reaches the owner STALL_LEAD_MS before the cut (its arrival's commit
 * and append done by then, the shoppers paused) and is decided STALL_MS after: its commit comes
 * about 0.3 s into the cut, before the cut owner lets its leases go (TTL − margin after its last
 * renewal: at least 1 s after the cut, unless its renewals lagged under load).
 */
const STALL_MS = 600;
const STALL_LEAD_MS = 300;

interface Checkout {
  cartId: string;
  checkoutId: string;
  startedAt: number;
  finalAt?: number;
  status?: string;
  /** Why it was cancelled: reason/detail. */
  why?: string;
}

describe('network partitions', () => {
  let cluster: NatsClusterHandle;
  let root: string;
  let admin: NatsTransport;
  let shopperTransport: NatsTransport;
  let client: ServiceClient;
  let shopper: Shopper;
  /** Each participants' process reaches NATS through proxies of its own: a and b, one per node it may use. */
  const links = new Map<string, TcpProxy[]>();
  /** The journal subjects of the appends a silent cut held and delivered late. */
  const lateAppends: string[] = [];
  const procs = new Map<string, ServiceProcess>();
  const all: Checkout[] = [];

  const env = (dir: string, services: string, natsUrl: string): Record<string, string> => ({
    NATS_URL: natsUrl,
    NATS_REPLICAS: '3',
    DATA_DIR: join(root, dir),
    SERVICES: services,
    SEED_FILE: join(root, 'seed.json'),
    CHECKOUT_SLOTS: String(CHECKOUT_SLOTS),
    PAYMENT_STALL_CUSTOMERS: STALLER,
    PAYMENT_STALL_MS: String(STALL_MS),
    LOG_LEVEL: 'info',
  });
  const spawn = (name: string, services: string, natsUrl: string) => procs.set(name, spawnServices(env(name, services, natsUrl)));
  /** A participants' process whose NATS connections all go through proxies to the given nodes. */
  const spawnParticipants = async (name: string, nodes: number[]) => {
    const proxies = await Promise.all(nodes.map((n) => startTcpProxy({ port: cluster.nodes[n]!.port })));
    links.set(name, proxies);
    spawn(name, PARTICIPANTS.join(','), proxies.map((p) => `nats://127.0.0.1:${p.port}`).join(','));
  };
  /** The process holding each participant's slot now, read from the leases. */
  const holders = () => leaseHolders(admin, root, procs.keys(), PARTICIPANTS);
  const holdsAll = async (name: string): Promise<boolean> => Object.values(await holders().catch(() => ({}))).every((h) => h === name);

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'poa-netsplit-'));
    writeFileSync(join(root, 'seed.json'), JSON.stringify({ ...defaultSeed, products: defaultSeed.products.map((p) => ({ ...p, stock: STOCK })) }));
    cluster = await startNatsCluster({ routeProxies: true, noAdvertise: true });
    const majority = [cluster.nodes[0]!.url, cluster.nodes[1]!.url];
    admin = await connectNats({ servers: majority, user: 'admin', pass: 'admin-dev-secret', name: 'netsplit-admin', onError: () => undefined });
    shopperTransport = await connectNats({ servers: majority, ...credentialsFor('gateway'), inboxPrefix: '_INBOX.gateway', name: 'netsplit-shopper', onError: () => undefined });
    client = new ServiceClient(shopperTransport, 'urn:test:netsplit', systemClock);
    shopper = new Shopper(shopperTransport);
    // a: on n1 and n2 (the majority of cut 2); b and one orchestrator: on n3 only (its minority).
    await spawnParticipants('a', [0, 1]);
    await waitForServices(admin, PARTICIPANTS, 90_000, procs.get('a'));
    await spawnParticipants('b', [2]);
    spawn('co-1', 'checkout', cluster.nodes[0]!.url);
    spawn('co-2', 'checkout', cluster.nodes[2]!.url);
    await until(() => procs.get('b')!.output().includes('standing by'), 60_000, () => procs.get('b')!.output());
    await waitForServices(admin, ['checkout'], 60_000, procs.get('co-1'));
  }, 180_000);

  afterAll(async () => {
    await Promise.all([...procs.values()].map((p) => p.kill('SIGTERM')));
    // NETSPLIT_LOGS=<dir> keeps every process's and node's output, to see what a run did.
    const keep = process.env.NETSPLIT_LOGS;
    if (keep) {
      for (const [name, p] of procs) writeFileSync(join(keep, `${name}.log`), p.output());
      cluster?.nodes.forEach((n, i) => writeFileSync(join(keep, `${n.name}.log`), cluster.log(i)));
    }
    await Promise.all([...links.values()].flat().map((p) => p.close()));
    await shopperTransport?.drain();
    await admin?.drain();
    await cluster?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** One checkout, as a client does it: each call retried with the same idempotency key until answered. */
  const checkOut = async (): Promise<void> => {
    const cartId = randomUUID();
    const startedAt = Date.now();
    const productId = PRODUCTS[all.length % PRODUCTS.length]!;
    await retried(() => client.call(Command.addItemToCart, MessageType.addItemToCart, { cartId, productId, quantity: 1 }, Cart, { timeoutMs: 2_000, idempotencyKey: `${cartId}:add` }));
    const cart = (await retried(() => client.call(Command.checkoutCart, MessageType.checkoutCart, { cartId, customerId: randomUUID() }, Cart, { timeoutMs: 2_000, idempotencyKey: `checkout:${cartId}` }))).payload;
    const c: Checkout = { cartId, checkoutId: cart.checkoutId!, startedAt };
    all.push(c);
    const status = await shopper.settle(c.checkoutId, ['CONFIRMED', 'CANCELLED', 'NEEDS_ATTENTION'], 120_000);
    c.status = status.status;
    if (status.status === 'CANCELLED') c.why = `${status.reason}/${JSON.stringify(status.detail)}`;
    c.finalAt = Date.now();
  };

  /**
   * Runs shoppers while `fault` cuts and heals; returns the checkouts started in this phase, each
   * settled, and the phase's figures.
   */
  const underLoad = async (phase: string, fault: { cut(): void; heal(): void }, newOwner: string) => {
    const from = all.length;
    let running = true;
    /** While set, no shopper starts a new checkout; `waiting` counts the shoppers stopped at it. */
    let gate: Promise<void> | undefined;
    let open = (): void => undefined;
    let waiting = 0;
    const shoppers = Array.from({ length: SHOPPERS }, async () => {
      while (running) {
        if (gate) {
          waiting++;
          await gate;
          waiting--;
        }
        await checkOut();
      }
    });
    await sleep(2_000);
    // An authorization the owner is still working on when the cut comes (its processor stalls on
    // this customer): its commit's journal append goes out during the cut, is held (silent) or
    // retried (reset), and reaches the stream after the heal, where the new owner's fence refuses
    // it. Left to chance (an append in flight at the instant of the cut), the last test found no
    // refused append in 2 of 2 full runs. A journal has one append in flight at a time, and one
    // sent just before the cut, whose answer the cut holds, keeps every later one from going out
    // (seen in 1 run in 3, or 2 of 3 with stalls 50 ms apart: each arrival is a commit too). So
    // the shoppers pause first, until their checkouts are final, the stalled request goes alone,
    // and the shoppers start again at the cut. Nobody waits for the stall's answer.
    gate = new Promise<void>((resolve) => (open = resolve));
    const quietBy = Date.now() + 10_000;
    while (waiting < SHOPPERS && Date.now() < quietBy) await sleep(50);
    await sleep(200);
    const staller = new ServiceClient(admin, 'urn:test:netsplit-staller', systemClock);
    const stalled = { cartId: randomUUID(), orderId: randomUUID(), customerId: STALLER, amount: 1_000, currency: 'USD' };
    void staller.call(Command.authorizePayment, MessageType.authorizePayment, stalled, z.unknown(), { timeoutMs: 1_000, idempotencyKey: randomUUID() }).catch(() => undefined);
    await sleep(STALL_LEAD_MS);
    const cutAt = Date.now();
    fault.cut();
    gate = undefined;
    open();
    let takenAt = 0;
    while (Date.now() - cutAt < CUT_MS) {
      if (!takenAt && (await holdsAll(newOwner))) takenAt = Date.now();
      await sleep(200);
    }
    const healAt = Date.now();
    fault.heal();
    // When the new owner's last slot started serving (its log), after the cut.
    const started = new Map<string, number>();
    for (const e of logLines(procs.get(newOwner)!.output())) if (e.msg === 'service started' && e.time >= cutAt && e.service && !started.has(e.service)) started.set(e.service, e.time);
    await sleep(2_000);
    running = false;
    await Promise.all(shoppers);
    const mine = all.slice(from);
    const servedAfterCut = mine.filter((c) => c.startedAt >= cutAt && c.status === 'CONFIRMED').map((c) => c.finalAt! - cutAt);
    const latencies = mine.map((c) => c.finalAt! - c.startedAt).sort((x, y) => x - y);
    const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.ceil(p * latencies.length) - 1)] ?? 0;
    const figures = {
      bench: 'netsplit',
      phase,
      cutMs: healAt - cutAt,
      checkouts: mine.length,
      confirmed: mine.filter((c) => c.status === 'CONFIRMED').length,
      leasesTakenMs: takenAt ? takenAt - cutAt : null,
      servingMs: started.size === PARTICIPANTS.length ? Math.max(...started.values()) - cutAt : null,
      firstServedAfterCutMs: servedAfterCut.length ? Math.min(...servedAfterCut) : null,
      delayedOver2s: latencies.filter((l) => l > 2_000).length,
      p50Ms: q(0.5),
      p99Ms: q(0.99),
    };
    console.log(JSON.stringify(figures));
    if (process.env.NETSPLIT_LOGS) console.log(phase, JSON.stringify(mine.map((c) => [c.startedAt - cutAt, c.finalAt! - cutAt])));
    return { cutAt, healAt, figures, mine };
  };

  const terms = (name: string) => leaseTerms(name, procs.get(name)!.output());
  /** No slot was held by two processes at once: per slot, the terms of every process never overlap. */
  const overlaps = (): string[] => {
    const ts = ['a', 'b', 'co-1', 'co-2'].flatMap(terms).sort((x, y) => x.from - y.from);
    const problems: string[] = [];
    for (const t of ts) {
      for (const u of ts) if (u !== t && u.slot === t.slot && u.from > t.from && u.from < t.to) problems.push(`${t.slot}: ${u.name} took it at ${u.from} while ${t.name} held it (${t.from}-${t.to})`);
    }
    return problems;
  };
  /** The time each of a process's slots was lost at or after `since`. */
  const lostSince = (name: string, since: number) => terms(name).filter((t) => t.to >= since && t.to !== Infinity).map((t) => t.to);

  /** A cut of the serving participants' process from NATS, while checkouts run: what must hold. */
  const ownerCut = async (mode: CutMode, from: string, to: string) => {
    expect(await holders()).toEqual(Object.fromEntries(PARTICIPANTS.map((s) => [s, from])));
    const link = links.get(from)!;
    const { cutAt, healAt, figures } = await underLoad(mode, { cut: () => link.forEach((p) => p.cut(mode)), heal: () => link.forEach((p) => p.heal()) }, to);
    // The cut owner let every slot go within TTL − margin of the cut (its last renewal was sent before it).
    const lost = lostSince(from, cutAt);
    expect(lost).toHaveLength(PARTICIPANTS.length);
    for (const at of lost) expect(at - cutAt).toBeLessThan(TTL_MS - MARGIN_MS + 300);
    // The other process took every slot while the cut lasted, and served checkouts started during it.
    expect(figures.leasesTakenMs).not.toBeNull();
    expect(figures.servingMs).not.toBeNull();
    expect(figures.servingMs!).toBeLessThan(healAt - cutAt);
    expect(figures.firstServedAfterCutMs).not.toBeNull();
    expect(await holders()).toEqual(Object.fromEntries(PARTICIPANTS.map((s) => [s, to])));
    expect(overlaps()).toEqual([]);
  };

  it('a service cut off from NATS (silence, not a reset) stops serving within TTL − margin; the standby takes every slot and serves during the cut', async () => {
    await ownerCut('silent', 'a', 'b');
    // The cut owner did send meanwhile (held by the proxy, delivered late at heal), journal appends among it.
    expect(links.get('a')!.reduce((n, p) => n + p.stats.heldBytes, 0)).toBeGreaterThan(0);
    // Appends to a journal subject (records and fenced markers), not a checkpoint image's chunks,
    // which go beside it unfenced and count only once a fenced marker names them.
    const journals = new Set(PARTICIPANTS.map((s) => journalSubject(s, '0')));
    const late = links.get('a')!.flatMap((p) => p.stats.heldPublishes).filter((s) => journals.has(s));
    console.log(JSON.stringify({ bench: 'netsplit-late-appends', subjects: late, proxies: links.get('a')!.map((p) => ({ heldBytes: p.stats.heldBytes, publishes: p.stats.heldPublishes.length, subjects: [...new Set(p.stats.heldPublishes)].slice(0, 12) })) }));
    lateAppends.push(...late);
  }, 120_000);

  it('a service cut off from NATS by a reset: the same, the other way round', async () => {
    await ownerCut('reset', 'b', 'a');
    expect(links.get('b')!.reduce((n, p) => n + p.stats.resets, 0)).toBeGreaterThan(0);
  }, 120_000);

  it('afterwards every acknowledged checkout is final, the cut owners\' late appends were refused, every journal is one chain, and the invariants hold', async () => {
    expect(all.filter((c) => c.status !== 'CONFIRMED' && c.status !== 'CANCELLED')).toEqual([]);
    const cancelled = all.filter((c) => c.status === 'CANCELLED').map((c) => c.why);
    console.log(JSON.stringify({ bench: 'netsplit-total', checkouts: all.length, cancelled }));
    // Journal appends of a cut owner reached the stream late, after its journals were fenced, and
    // every chain is unbroken: the stream refused them (one it had taken would repeat positions).
    expect(lateAppends.length).toBeGreaterThan(0);
    expect((await journalChains(admin, PARTICIPANTS)).breaks).toEqual([]);

    const owners = await holders();
    const slotOwner = async (k: number) => {
      const kv = await admin.kv(Bucket.journalLeases);
      const e = await kv.get(leaseKey('checkout', `slot-${k}`));
      const id = e ? (JSON.parse(e.value) as { owner: string }).owner : '';
      const name = ['co-1', 'co-2'].find((n) => ownerName(root, n) === id);
      if (!name) throw new Error(`nobody holds checkout slot-${k}`);
      return name;
    };
    const checkoutStores = await Promise.all(Array.from({ length: CHECKOUT_SLOTS }, async (_, k) => join(root, await slotOwner(k), `checkout-slot-${k}.db`)));
    await Promise.all([...procs.values()].map((p) => p.kill('SIGTERM')));
    const initial = new Map(defaultSeed.products.map((p) => [p.productId, STOCK]));
    expect(audit({ inventory: join(root, owners.inventory!), payment: join(root, owners.payment!), order: join(root, owners.order!), checkout: checkoutStores }, initial)).toEqual([]);
  }, 60_000);
});

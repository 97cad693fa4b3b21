/**
 * One simulated run: a seed, the faults to inject and the size of the workload go in; a verdict
 * (the violated invariants, if any) and the trace come out. Same options, same trace, byte for
 * byte: every random choice is drawn from the seed and every timer is a task of the simulated loop.
 *
 *   start every instance ─▶ shoppers shop while faults are injected ─▶ faults stop, every instance
 *   is (re)started, the world runs until every checkout settled (or a time limit) ─▶ invariants
 */
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSimulator, defaultSimulatorRules, type Simulator } from '../../actors/payment/simulator.ts';
import { defaultSeed } from '../../actors/seed/seed.ts';
import { configFromEnv, type SystemConfig } from '../../config.ts';
import { withBroken, type BrokenVariant } from '../../runtime/broken.ts';
import { withUuidSource } from '../../runtime/ids.ts';
import type { BackendService } from '../../registry.ts';
import { FaultPlan, type FaultKind } from './faults.ts';
import { checkInvariants, settled, unsettled } from './invariants.ts';
import { SIM_EPOCH, SimLoop } from './loop.ts';
import { SimNetwork } from './network.ts';
import { Prng } from './prng.ts';
import type { Scenario } from './scenarios.ts';
import { Customers, startShopper, type ShopperRecord } from './shoppers.ts';
import { Trace } from './trace.ts';
import { SimWorld, type Instance } from './world.ts';

export interface RunOptions {
  seed: number;
  faults: readonly FaultKind[];
  /** Shoppers in flight at once. Default 6. */
  shoppers?: number;
  /** Faults stop after this many loop steps (the shrinker lowers it). Default: when the shoppers are done. */
  faultSteps?: number;
  /** Deliberately broken variants to switch on (tests only). */
  broken?: readonly BrokenVariant[];
  /** Generated scenarios (scenarios.ts): every other shopper follows one of them, in turn. None: random shoppers only. */
  scenarios?: readonly Scenario[];
  /** Where the run's stores go; a fresh temp dir by default, removed afterwards. */
  dir?: string;
}

export interface RunResult {
  seed: number;
  ok: boolean;
  violations: string[];
  trace: string[];
  steps: number;
  /** Simulated time the run covered. */
  simulatedMs: number;
  checkouts: number;
  crashes: number;
}

export const defaultShoppers = 6;
/** Orchestrators run as two instances (they claim sagas through KV); the other services own their data alone. */
const instanceCounts: Record<BackendService, number> = { order: 1, inventory: 1, payment: 1, promotion: 1, cart: 1, checkout: 2 };
/** Hard limits, so that a run that livelocks ends and is reported rather than hanging. */
const MAX_STEPS = 400_000;
const HEAL_LIMIT_MS = 30 * 60_000;

/** The run's world configuration: small stock (contention), and customers who decline, defraud, stall or are refused. */
function simConfig(rng: Prng): { config: SystemConfig; initialStock: Map<string, number> } {
  const base = configFromEnv({});
  const products = defaultSeed.products.map((p) => ({ ...p, stock: rng.int(2, 8) }));
  const config: SystemConfig = {
    ...base,
    seed: { ...defaultSeed, products },
    payment: {
      ...defaultSimulatorRules,
      declineCustomers: [Customers.declined],
      fraudCustomers: [Customers.fraud],
      stallCustomers: [Customers.slow],
      stallMs: 20_000,
      transientFailureRate: 0.1,
    },
    order: { refuseCustomers: [Customers.refused], maxTotal: undefined },
  };
  return { config, initialStock: new Map(products.map((p) => [p.productId, p.stock])) };
}

/**
 * Where runs keep their stores: RAM-backed /dev/shm when there is one (real files, real WAL and
 * crash recovery, without waiting for a disk: a run's cost was mostly the disk), else the temp dir.
 */
function scratchDir(): string {
  return process.env.SIM_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
}

export async function runSeed(o: RunOptions): Promise<RunResult> {
  const root = new Prng(o.seed);
  const ids = root.fork();
  return withUuidSource(() => ids.uuid(), () => withBroken(o.broken ?? [], () => simulate(o, root)));
}

async function simulate(o: RunOptions, root: Prng): Promise<RunResult> {
  const loop = new SimLoop();
  const trace = new Trace(loop);
  const faults = new FaultPlan(o.faults, root.fork());
  const net = new SimNetwork(loop, faults, root.fork(), trace);
  const { config, initialStock } = simConfig(root.fork());
  const processorSleep = (ms: number) => new Promise<void>((resolve) => loop.schedule('processor', ms, resolve));
  const processor: Simulator = createSimulator(config.payment, processorSleep);
  const dir = o.dir ?? join(scratchDir(), `sim-${process.pid}-${o.seed}-${Math.floor(performance.now() * 1000)}`);
  const worldRng = root.fork();
  const world = new SimWorld({ dir, loop, net, rng: worldRng.fork(), trace, config, processor, instances: instanceCounts });
  const shopRng = root.fork();
  const chaos = root.fork();
  trace.add(`seed ${o.seed} faults ${o.faults.join(',') || 'none'} shoppers ${o.shoppers ?? defaultShoppers}${o.broken?.length ? ` broken ${o.broken.join(',')}` : ''}`);
  let crashes = 0;

  const runUntil = async (done: () => boolean, limitMs = Infinity): Promise<void> => {
    const until = loop.now + limitMs;
    while (!done() && loop.steps < MAX_STEPS && loop.now <= until) {
      if (o.faultSteps !== undefined && loop.steps >= o.faultSteps) faults.active = false;
      if (!(await loop.step())) {
        // Nothing scheduled: let pending promises settle once, then look again.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (loop.nextAt() === undefined) return;
      }
    }
  };
  const startAll = async (which: readonly Instance[]) => {
    for (const inst of which) {
      let started = false;
      let settledStart = false;
      void world.start(inst).then((ok) => (started = ok), () => (started = false)).finally(() => void (settledStart = true));
      await runUntil(() => settledStart);
      if (!started) throw new Error(`${inst.name} did not start`);
    }
  };

  try {
    // The world boots healthy (a service that cannot start is a deployment problem, not a fault under test).
    faults.active = false;
    await startAll(world.instances);
    world.retryStarts = true;
    faults.active = true;
    const gateway = net.connect('gateway');
    const products = config.seed.products.map((p) => p.productId);
    const promotionCodes = config.seed.promotions.map((p) => p.code);
    const shoppers: ShopperRecord[] = [];
    const maxStock = Math.max(...initialStock.values());
    const scenarios = o.scenarios ?? [];
    // Scenarios take turns from a seeded start, so that every kind comes up across seeds.
    const firstScenario = scenarios.length ? shopRng.int(0, scenarios.length - 1) : 0;
    for (let i = 0; i < (o.shoppers ?? defaultShoppers); i++) {
      const scenario = i % 2 === 1 && scenarios.length ? scenarios[(firstScenario + (i >> 1)) % scenarios.length] : undefined;
      shoppers.push(startShopper(`shopper-${i + 1}`, { loop, rng: shopRng.fork(), trace, transport: gateway, products, promotionCodes, maxStock }, scenario).record);
    }

    // Chaos: crash an instance now and then and restart it later; jump the clock.
    const chaosTick = () => {
      if (!faults.active) return;
      if (faults.has('crash') && chaos.chance(0.25)) {
        const up = world.instances.filter((i) => i.up && !i.starting);
        if (up.length > 0) {
          const victim = chaos.pick(up);
          world.crash(victim);
          crashes++;
          loop.schedule('chaos', chaos.int(50, 5_000), () => void world.start(victim));
        }
      }
      if (faults.has('clock') && chaos.chance(0.1)) {
        const ms = chaos.int(1_000, 40_000);
        trace.add(`CLOCK jumps ${ms} ms`);
        loop.jump(ms);
      }
      loop.schedule('chaos', chaos.int(20, 1_500), chaosTick);
    };
    loop.schedule('chaos', chaos.int(20, 1_500), chaosTick);

    await runUntil(() => shoppers.every((s) => s.done));
    faults.active = false;
    trace.add('faults off: healing');
    const down = world.instances.filter((i) => !i.up);
    for (const inst of down) void world.start(inst);
    // Checked every so often: it reads every store.
    const check = () => loop.steps % 64 === 0 || (loop.nextAt() ?? Infinity) - loop.now > 1_000;
    await runUntil(() => check() && world.instances.every((i) => i.up) && net.unacked() === 0 && settled(world.instances, shoppers), HEAL_LIMIT_MS);

    const unacked = net.unacked();
    const notSettled = unacked > 0 ? `${unacked} stream messages not yet acknowledged by their consumers` : unsettled(world.instances, shoppers);
    if (notSettled) trace.add(`not settled after healing: ${notSettled}`);
    world.closeAll();
    const violations = [
      ...loop.uncaught.map((u) => `uncaught: ${u}`),
      ...(loop.steps >= MAX_STEPS ? [`the run did not settle within ${MAX_STEPS} steps`] : []),
      ...(notSettled ? [`not settled ${HEAL_LIMIT_MS / 60_000} min after the faults stopped: ${notSettled}`] : []),
      ...world.instances.filter((i) => !i.up && i.generation === 0).map((i) => `${i.name} never started`),
      ...checkInvariants({ instances: world.instances, shoppers, net, initialStock, timerFirings: world.timerFirings, approvals: processor.approvalCounts() }),
    ];
    for (const violation of violations) trace.add(`VIOLATION ${violation}`);
    return {
      seed: o.seed, ok: violations.length === 0, violations, trace: trace.lines, steps: loop.steps,
      simulatedMs: loop.now - SIM_EPOCH, checkouts: shoppers.filter((s) => s.checkout).length, crashes,
    };
  } finally {
    world.closeAll();
    if (!o.dir) rmSync(dir, { recursive: true, force: true });
  }
}

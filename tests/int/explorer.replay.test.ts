/**
 * `npm run replay` against real history: the whole system runs the flow's scenarios (confirmed,
 * out of stock, declined, fraud, payment deadline, order refused), then the CLI, run as a developer
 * runs it next to the checkout store, replays each saga's journal through the machine. Its final
 * state must be the live saga's, as the orchestrator reports it over the transport.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import { CheckoutTrace, ExplorerMessageType } from '../../src/contracts/index.ts';
import { ExplorerQuery } from '../../src/contracts/subjects.ts';
import { systemClock } from '../../src/runtime/clock.ts';
import { ServiceClient } from '../../src/runtime/client.ts';
import type { ReplayReport } from '../../src/devtools/visualize/replay-report.ts';
import { startTestSystem, type TestSystem } from '../support/system-fixture.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));

const ANVIL = productIdFor('ACME-ANVIL-01');
const BATSUIT = productIdFor('ACME-BATMAN-SUIT');
const BIRDSEED = productIdFor('ACME-BIRDSEED');
const FRAUDSTER = randomUUID();
const SLOWPOKE = randomUUID();
const REFUSED = randomUUID();

async function replay(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(tsx, ['scripts/replay.ts', ...args], { cwd: root, timeout: 30_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('npm run replay', () => {
  let t: TestSystem;
  const scenarios = new Map<string, string>(); // name -> checkoutId

  beforeAll(async () => {
    t = await startTestSystem('embedded', (c) => {
      c.payment = { ...c.payment, declineAbove: 100_000, fraudCustomers: [FRAUDSTER], stallCustomers: [SLOWPOKE], stallMs: 4_000 };
      c.order = { refuseCustomers: [REFUSED], maxTotal: undefined };
    });
    const buys: Array<[string, string, ReadonlyArray<readonly [string, number]>]> = [
      ['confirmed', randomUUID(), [[BIRDSEED, 2]]],
      ['out of stock', randomUUID(), [[BIRDSEED, 1], [BATSUIT, 4]]],
      ['payment declined', randomUUID(), [[ANVIL, 8]]],
      ['fraud', FRAUDSTER, [[BIRDSEED, 1]]],
      ['payment deadline', SLOWPOKE, [[BIRDSEED, 1]]],
      ['order refused', REFUSED, [[BIRDSEED, 1]]],
    ];
    const done = await Promise.all(
      buys.map(async ([name, customer, lines]) => {
        const cart = await t.shopper.buy(customer, lines);
        await t.shopper.settle(cart.checkoutId);
        return [name, cart.checkoutId] as const;
      }),
    );
    for (const [name, id] of done) scenarios.set(name, id);
  }, 30_000);
  afterAll(async () => t?.stop());

  it('gives, for every scenario, the final state of the live saga', async () => {
    const live = new ServiceClient(await t.system.transportFor('gateway'), 'urn:test', systemClock);
    const ids = [...scenarios.values()];
    const out = await replay([...ids, '--data-dir', t.dataDir, '--json']);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const { reports } = JSON.parse(out.stdout) as { reports: ReplayReport[] };
    expect(reports.map((r) => r.id)).toEqual(ids);
    for (const [name, id] of scenarios) {
      const saga = (await live.call(ExplorerQuery.getCheckoutTrace, ExplorerMessageType.getCheckoutTraceRequest, { checkoutId: id }, CheckoutTrace, { timeoutMs: 5_000 })).payload;
      const report = reports.find((r) => r.id === id)!;
      expect({ name, value: report.final.replayed.value, status: report.final.replayed.status }).toEqual({ name, value: saga.stateValue, status: saga.status });
      expect(report.steps.slice(1).map((s) => s.to), name).toEqual(saga.journal.map((j) => j.to));
      expect(report.divergences, name).toEqual([]);
    }
    const outcomes = reports.map((r) => (r.final.replayed.context as { failure: string | null }).failure);
    expect(outcomes).toEqual([null, 'OUT_OF_STOCK', 'PAYMENT_DECLINED', 'FRAUD', 'PAYMENT_TIMEOUT', 'ORDER_REJECTED']);
  });

  it('prints the trace as event, from-state, to-state and actions, and confirms the current machine agrees', async () => {
    const out = await replay([scenarios.get('payment declined')!, '--data-dir', t.dataDir, '--against', '1']);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/checkout\.started\s+\(new\) -> reservingInventory\s+requestReserveInventory\(…\), startTimer\(timer=reserveInventory, ms=3000\), publishStatus\(status=PENDING, step=RESERVING_INVENTORY\)/);
    expect(out.stdout).toMatch(/payment\.declined\s+authorizingPayment -> compensating\.voidingPayment\.trying\s+cancelTimer\(authorizePayment\), publishStatus\(status=PENDING, step=COMPENSATING\), requestVoidPayment\(/);
    expect(out.stdout).toContain('recorded final state:  cancelled (done)');
    expect(out.stdout).toContain('decides every step exactly as version 1 did');
  });

  it('warns when the history was stored by another version than the one named, and fails for an unknown id', async () => {
    // Two processes at once: each spends seconds transforming the sources (14 s one after the other at load 10).
    const [warned, missing] = await Promise.all([
      replay([scenarios.get('confirmed')!, '--data-dir', t.dataDir, '--against', '0']),
      replay([randomUUID(), '--data-dir', t.dataDir]),
    ]);
    expect(warned.stdout).toContain('warning: the stored snapshot says machine version 1, not 0');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/not in .*checkout\.db/);
  }, 60_000);
});

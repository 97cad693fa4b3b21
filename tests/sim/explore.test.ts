/**
 * The explorer opens a simulated run like stored sagas (#18): a seed runs with crashes and drops,
 * its orchestrator stores are read after the run, and the explorer, given that recording instead of
 * a transport, lists the run's sagas, finds one by its short order number and shows its trace
 * replayed on the statechart: the same view a live saga gets, marked as recorded.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ListCheckoutsResponse } from '../../src/contracts/index.ts';
import { orderNumberOf } from '../../src/contracts/order-number.ts';
import { explorerPlugin } from '../../src/devtools/explorer/plugin.ts';
import type { CheckoutView } from '../../src/devtools/explorer/view.ts';
import { recordedRunOf } from '../../src/devtools/simulation/recorded.ts';
import { runSeed } from '../../src/devtools/simulation/run.ts';

describe('a simulated run opened in the explorer', () => {
  let dir: string;
  let app: FastifyInstance;
  let recordedCount = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sim-explore-'));
    const r = await runSeed({ seed: 7, faults: ['crash', 'drop'], dir });
    expect(r.violations).toEqual([]);
    const run = recordedRunOf(dir, 'simulated seed 7');
    recordedCount = run.checkouts.length;
    app = Fastify();
    await app.register(explorerPlugin, { recorded: run });
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("lists every saga of the run's orchestrator instances", async () => {
    expect(recordedCount).toBeGreaterThan(0);
    const list = (await app.inject({ method: 'GET', url: '/explorer/api/checkouts?limit=200' })).json<ListCheckoutsResponse>();
    expect(list.checkouts.length).toBe(recordedCount);
    expect(list.checkouts.every((c) => c.status === 'done' || c.state.includes('needsAttention'))).toBe(true);
  });

  it('finds a saga by its short order number and shows its path on the statechart', async () => {
    const list = (await app.inject({ method: 'GET', url: '/explorer/api/checkouts?limit=200' })).json<ListCheckoutsResponse>();
    const one = list.checkouts.find((c) => c.orderId)!;
    const found = (await app.inject({ method: 'GET', url: `/explorer/api/checkouts?q=${orderNumberOf(one.orderId!)}` })).json<ListCheckoutsResponse>();
    expect(found.checkouts.map((c) => c.checkoutId)).toEqual([one.checkoutId]);
    const view = (await app.inject({ method: 'GET', url: `/explorer/api/checkouts/${one.checkoutId}` })).json<CheckoutView>();
    expect(view.trace.checkoutId).toBe(one.checkoutId);
    expect(view.replay.consistent).toBe(true);
    expect(view.steps.length).toBe(view.trace.journal.length + 1);
    expect(view.steps.slice(1).every((s) => s.takenEdges.length > 0)).toBe(true);
    const page = await app.inject({ method: 'GET', url: `/explorer/checkouts/${one.checkoutId}` });
    expect(page.body).toContain('data-recorded="simulated seed 7"');
  });
});

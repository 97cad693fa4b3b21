/**
 * Operator actions: a compensation that keeps failing parks the saga in needsAttention; once the
 * participant recovers, the operator retries it through `npm run ops` (over the gateway's HTTP,
 * the embedded system's door) and the saga finishes. The CLI lists and shows it by either id.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command } from '../../src/contracts/subjects.ts';
import { startServer, type RunningServer } from '../../src/gateway/server.ts';
import { startSystem, type System } from '../../src/system.ts';
import { busWithFaultySubject, type FaultySubject } from '../support/faulty-participant.ts';
import { Shopper } from '../support/shop.ts';
import { initialStock, testConfig } from '../support/system-fixture.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = 'operator-token-for-tests-0123456789';
const declined = '7d1c4a8e-1f2b-4c3d-9e8f-0a1b2c3d4e5f';

function ops(url: string, ...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, OPS_URL: url, OPERATOR_TOKEN: TOKEN };
  delete env.NATS_URL;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/ops.ts', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

describe('an operator retries a saga that needs attention', () => {
  let dataDir: string;
  let system: System;
  let server: RunningServer;
  let fault: FaultySubject;
  let shopper: Shopper;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'poa-ops-'));
    fault = busWithFaultySubject(dataDir, Command.cancelOrder);
    const config = testConfig(dataDir, (c) => {
      c.payment.declineCustomers = [declined];
    });
    system = await startSystem({ config, transport: fault.transport });
    server = await startServer({ port: 0, transport: fault.transport, config: { operatorToken: TOKEN, rateLimit: false } });
    shopper = new Shopper(fault.transport);
  });

  afterAll(async () => {
    await server?.close();
    await system?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('parks on a failing cancel-order, and finishes cancelled after the retry', async () => {
    const productId = [...initialStock.keys()][0]!;
    const cart = await shopper.buy(declined, [[productId, 1]]);
    const parked = await shopper.settle(cart.checkoutId, ['NEEDS_ATTENTION', 'CANCELLED', 'CONFIRMED']);
    expect(parked.status).toBe('NEEDS_ATTENTION');
    expect(fault.refused).toBeGreaterThan(0);

    const list = await ops(server.url, 'list');
    expect(list.code, list.err).toBe(0);
    expect(list.out).toContain(cart.checkoutId);
    expect(list.out).toContain('cancellingOrder.needsAttention');

    // By order id: the orchestrator resolves it to the checkout.
    const show = await ops(server.url, 'show', cart.orderId);
    expect(show.code, show.err).toBe(0);
    expect(show.out).toContain(`checkout ${cart.checkoutId}`);
    expect(show.out).toContain('needsAttention');

    // Without the token the gateway refuses.
    const anonymous = await fetch(`${server.url}/checkouts/${cart.checkoutId}/retry`, { method: 'POST' });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ code: 'UNAUTHORIZED' });

    fault.broken = false;
    const retry = await ops(server.url, 'retry', cart.checkoutId);
    expect(retry.code, retry.err).toBe(0);
    expect(retry.out).toMatch(/now compensating\.cancellingOrder/);

    const done = await shopper.settle(cart.checkoutId, ['CANCELLED', 'CONFIRMED']);
    expect(done).toMatchObject({ status: 'CANCELLED', reason: 'PAYMENT_FAILED' });

    // A saga that no longer needs attention refuses a retry, naming its state.
    const again = await ops(server.url, 'retry', cart.orderId);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/409 CONFLICT.*cancelled/);
  }, 90_000); // four `npm run ops` processes, each transforming its sources with tsx: seconds each on a loaded machine

  it('declares the operator token as a security scheme of the operator routes', async () => {
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as {
      components: { securitySchemes: Record<string, { type: string; scheme: string }> };
      paths: Record<string, Record<string, { security?: unknown }>>;
    };
    expect(doc.components.securitySchemes.operatorToken).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.paths['/checkouts/{checkoutId}/retry']?.post?.security).toContainEqual({ operatorToken: [] });
    expect(doc.paths['/orders/{orderId}/complete']?.post?.security).toContainEqual({ operatorToken: [] });
  });
});

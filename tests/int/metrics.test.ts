/**
 * Metrics: after a confirmed and a cancelled checkout, `/metrics` (the gateway's, embedded) counts
 * both, the cancellation by reason, with the runtime's own figures beside them; METRICS_PORT
 * serves the same registry on a port of its own.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/gateway/server.ts';
import { startMetricsServer } from '../../src/runtime/metrics-server.ts';
import { buyOverHttp } from '../support/http-shopper.ts';
import { initialStock, startTestSystem, type TestSystem } from '../support/system-fixture.ts';

const declined = '3b0e6c52-9d4a-4f1e-8c2b-5a6d7e8f9a0b';
const customer = '0c9b8a7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d';

/** The value of one sample line, e.g. `checkouts_cancelled_total{reason="PAYMENT_FAILED",detail="PAYMENT_DECLINED"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics', () => {
  let t: TestSystem;
  let server: RunningServer;

  beforeAll(async () => {
    t = await startTestSystem('embedded', (c) => {
      c.payment.declineCustomers = [declined];
    });
    server = await startServer({ port: 0, transport: await t.system.transportFor('gateway'), config: { rateLimit: false } });
  });
  afterAll(async () => {
    await server?.close();
    await t?.stop();
  });

  it('counts a confirmed and a cancelled checkout, the cancellation by reason', async () => {
    const productId = [...initialStock.keys()][0]!;
    expect((await buyOverHttp(server.url, customer, productId)).status).toBe('CONFIRMED');
    expect((await buyOverHttp(server.url, declined, productId)).status).toBe('CANCELLED');

    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(sample(text, 'checkouts_started_total')).toBe(2);
    expect(sample(text, 'checkouts_confirmed_total')).toBe(1);
    expect(sample(text, 'checkouts_cancelled_total{reason="PAYMENT_FAILED",detail="PAYMENT_DECLINED"}')).toBe(1);
    expect(text).toMatch(/^sagas_needing_attention\{instance="[^"]+"\} 0$/m);
    // Per step: the forward steps of both, the undo steps of the declined one.
    expect(sample(text, 'saga_step_duration_seconds_count{kind="checkout",step="reserveInventory",outcome="inventory-reserved"}')).toBe(2);
    expect(sample(text, 'saga_step_duration_seconds_count{kind="checkout",step="cancelOrder",outcome="order-cancelled"}')).toBe(1);
    expect(sample(text, 'store_commits_total{service="checkout"}')).toBeGreaterThan(0);
    expect(text).toMatch(/^store_commit_batch_size_count\{service="order"\} \d+/m);
    expect(sample(text, 'outbox_backlog{service="checkout"}')).toBeGreaterThanOrEqual(0);
    expect(text).toMatch(/^outbox_lag_seconds\{service="cart"\} /m);
    expect(sample(text, 'http_request_duration_seconds_count{method="POST",route="/carts/:cartId/checkout",status_code="200"}')).toBe(2);
    expect(text).toContain('nats_reconnects_total');
    expect(text).toContain('process_cpu_seconds_total');

    // The Grafana dashboard in docs/ asks only for series this registry exposes.
    const dashboard = readFileSync(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8');
    const asked = new Set([...dashboard.matchAll(/\b([a-z][a-z0-9_]*_(?:total|seconds|size|backlog|attention)(?:_bucket|_sum|_count)?)\b/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, '')));
    expect(asked.size).toBeGreaterThan(8);
    for (const name of asked) expect(text, name).toContain(`# TYPE ${name} `);
  });

  it('serves the same registry on METRICS_PORT for processes without the gateway', async () => {
    const m = await startMetricsServer('127.0.0.1', 0);
    try {
      const text = await (await fetch(m.url)).text();
      expect(text).toContain('checkouts_started_total');
      const other = await fetch(m.url.replace('/metrics', '/nope'));
      expect(other.status).toBe(404);
      expect(await other.json()).toMatchObject({ code: 'NOT_FOUND' });
    } finally {
      await m.close();
    }
  });
});

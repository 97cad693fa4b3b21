/**
 * Traces: with an OTLP endpoint set, one checkout through the gateway is one trace, with spans
 * from every service that handled it, each span's parent exported in the same trace (the
 * `traceparent` each message carries names the span that sent it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/gateway/server.ts';
import { startTracing, type TracingHandle } from '../../src/runtime/tracing.ts';
import { buyOverHttp } from '../support/http-shopper.ts';
import { startOtlpReceiver } from '../support/otlp-receiver.ts';
import { initialStock, startTestSystem, type TestSystem } from '../support/system-fixture.ts';

describe('tracing', () => {
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let tracing: TracingHandle;
  let t: TestSystem;
  let server: RunningServer;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    tracing = startTracing({ endpoint: receiver.endpoint, scheduledDelayMs: 100 });
    t = await startTestSystem('embedded');
    server = await startServer({ port: 0, transport: await t.system.transportFor('gateway'), config: { rateLimit: false } });
  });
  afterAll(async () => {
    await server?.close();
    await t?.stop();
    await tracing?.stop();
    await receiver?.close();
  });

  it('makes one trace of a checkout, with spans from every service that handled it', async () => {
    const productId = [...initialStock.keys()][0]!;
    const bought = await buyOverHttp(server.url, '5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c', productId, 'WELCOME10');
    expect(bought.status).toBe('CONFIRMED');
    // The last sends (status KV writes) end after the status is visible: give them a moment.
    await new Promise((r) => setTimeout(r, 300));
    await tracing.flush();

    const http = receiver.spans.find((s) => s.service === 'gateway' && s.name === 'POST /carts/:cartId/checkout');
    expect(http, 'the HTTP span of the checkout').toBeDefined();
    const trace = receiver.spans.filter((s) => s.traceId === http!.traceId);
    const services = new Set(trace.map((s) => s.service));
    for (const service of ['gateway', 'cart-api', 'promotion-service', 'checkout-orchestrator', 'inventory-service', 'payment-api', 'order-service']) {
      expect(services, `spans from ${service}`).toContain(service);
    }
    // Handled messages and sends, each linked to its cause: every parent is a span of this trace.
    const ids = new Set(trace.map((s) => s.spanId));
    const orphans = trace.filter((s) => s !== http && s.parentSpanId !== '' && !ids.has(s.parentSpanId));
    expect(orphans).toEqual([]);
    expect(trace.filter((s) => s.parentSpanId === '')).toEqual([http]);
    expect(trace.some((s) => s.service === 'checkout-orchestrator' && s.name.startsWith('handle cart-checked-out'))).toBe(true);
    expect(trace.some((s) => s.service === 'inventory-service' && s.name.startsWith('handle reserve-inventory'))).toBe(true);
    expect(trace.some((s) => s.service === 'checkout-orchestrator' && s.name.startsWith('send reserve-inventory'))).toBe(true);
  });
});

/**
 * The gateway's share of metrics and traces: every request is timed per route template
 * (`http_request_duration_seconds`: rate, errors by status, latency) and, with tracing on, is a
 * SERVER span, the child of the caller's `traceparent` when it sends one. The calls a route makes
 * to services carry that span's context (correlation.ts `causeOf`). `/metrics` serves this
 * process's Prometheus text.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { httpDuration, registry } from '../runtime/metrics.ts';
import { SpanKind, startSpan, traceparentOf, tracingOn, type Span } from '../runtime/tracing.ts';

export const GATEWAY_SERVICE_NAME = 'gateway';

const spans = new WeakMap<FastifyRequest, Span>();

/** The traceparent of this request's span, when tracing is on. */
export function requestTraceparent(req: object): string | undefined {
  const span = spans.get(req as FastifyRequest);
  return span ? traceparentOf(span) : undefined;
}

export function observability(app: FastifyInstance): void {
  app.addHook('onRequest', async (req) => {
    if (!tracingOn()) return;
    const tp = req.headers.traceparent;
    const span = startSpan(GATEWAY_SERVICE_NAME, `${req.method} ${req.routeOptions.url ?? 'unmatched'}`, SpanKind.SERVER, typeof tp === 'string' ? tp : undefined, {
      'http.request.method': req.method,
      'url.path': req.url.split('?')[0] ?? '',
      'http.route': req.routeOptions.url ?? '',
    });
    if (span) spans.set(req, span);
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    httpDuration.observe({ method: req.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    const span = spans.get(req);
    if (span) {
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: 2 });
      span.end();
    }
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
}

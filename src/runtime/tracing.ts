/**
 * OpenTelemetry spans from the W3C `traceparent` every message already carries. Off unless
 * OTEL_EXPORTER_OTLP_ENDPOINT is set; then spans are batched and exported over OTLP/HTTP (JSON).
 *
 *   HTTP request (gateway, SERVER) ─▶ send (CLIENT/PRODUCER) ─▶ handle (SERVER/CONSUMER) ─▶ send ─▶ …
 *
 * A message's `traceparent` names the span that sent it: a handler's span is the child of the
 * incoming `traceparent`, and what the handler sends is parented on the handler's span (when on,
 * `childTraceparent` passes the handler's context through; the relay or client then opens the
 * send span and puts *its* context on the wire). Each service reports under its own
 * `service.name` (the last part of its CloudEvents source), so an embedded process still shows
 * the cart, the orchestrator and each participant as services of their own.
 *
 * When off, `startSpan` returns undefined after one check and nothing else happens.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { traceparent as freshChild } from './ids.ts';

export { SpanKind };
export type { Span };

const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

interface Active {
  processor: BatchSpanProcessor;
  providers: Map<string, BasicTracerProvider>;
  tracers: Map<string, Tracer>;
}

let active: Active | undefined;

export interface TracingOptions {
  /** The collector's base URL; spans go to `<endpoint>/v1/traces`. */
  endpoint: string;
  /** Export batches this often (ms); default 1000. */
  scheduledDelayMs?: number;
}

export interface TracingHandle {
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/** Turns tracing on for this process. */
export function startTracing(opts: TracingOptions): TracingHandle {
  const exporter = new OTLPTraceExporter({ url: `${opts.endpoint.replace(/\/$/, '')}/v1/traces` });
  const processor = new BatchSpanProcessor(exporter, { scheduledDelayMillis: opts.scheduledDelayMs ?? 1_000, maxQueueSize: 8_192 });
  const state: Active = { processor, providers: new Map(), tracers: new Map() };
  active = state;
  return {
    flush: () => processor.forceFlush(),
    async stop() {
      if (active === state) active = undefined;
      await processor.forceFlush().catch(() => undefined);
      await processor.shutdown().catch(() => undefined);
    },
  };
}

/** True when spans are being made (cheap; checked on hot paths). */
export const tracingOn = (): boolean => active !== undefined;

/** `urn:acme:shopping:cart-api` -> `cart-api`. */
export const serviceNameOf = (source: string): string => source.slice(source.lastIndexOf(':') + 1);

function tracerFor(service: string, a: Active): Tracer {
  let tracer = a.tracers.get(service);
  if (!tracer) {
    // One provider per service, sharing the processor: each gets its own resource (service.name).
    const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: service }), spanProcessors: [a.processor] });
    a.providers.set(service, provider);
    tracer = provider.getTracer('place-an-order');
    a.tracers.set(service, tracer);
  }
  return tracer;
}

/** Starts a span as the child of `parent` (a traceparent), or a root span; undefined when tracing is off. */
export function startSpan(service: string, name: string, kind: SpanKind, parent: string | undefined, attributes?: Attributes): Span | undefined {
  const a = active;
  if (!a) return undefined;
  const m = parent ? TRACEPARENT_RE.exec(parent) : null;
  const ctx = m ? trace.setSpanContext(ROOT_CONTEXT, { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16), isRemote: true }) : ROOT_CONTEXT;
  return tracerFor(service, a).startSpan(name, { kind, ...(attributes ? { attributes } : {}) }, ctx);
}

/** The span's context as a traceparent header value. */
export function traceparentOf(span: Span): string {
  const sc = span.spanContext();
  return `00-${sc.traceId}-${sc.spanId}-0${(sc.traceFlags & 1).toString(16)}`;
}

/**
 * The traceparent to store on a message being prepared: with tracing on, the handler's own
 * context (the send span, opened when the message leaves, becomes its child); off, a fresh
 * child id as before.
 */
export function childTraceparent(parent: string | undefined): string {
  return active && parent && TRACEPARENT_RE.test(parent) ? parent : freshChild(parent);
}

/** Ends `span` when `p` settles, marking it failed if `p` rejects. */
export function endWith<T>(span: Span | undefined, p: Promise<T>): Promise<T> {
  if (!span) return p;
  return p.then(
    (v) => {
      span.end();
      return v;
    },
    (err: unknown) => {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      span.end();
      throw err;
    },
  );
}

/**
 * Request and correlation ids. A caller's `x-request-id` / `x-correlation-id` is honoured when it is
 * a sane token, so one id follows a purchase from the browser through the gateway's pino logs into
 * the NATS headers (`ce-correlationid`) of every message the services exchange for it. Anything
 * else (missing, too long, odd characters that could forge log lines) is replaced by a fresh UUID.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { MessageMeta } from '../contracts/headers.ts';
import { requestTraceparent } from './observability.ts';

export const RequestHeader = {
  requestId: 'x-request-id',
  correlationId: 'x-correlation-id',
  traceparent: 'traceparent',
  idempotencyKey: 'idempotency-key',
} as const;

const TOKEN_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const TRACEPARENT_RE = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return typeof v === 'string' ? v : undefined;
}

function token(v: string | undefined): string | undefined {
  return v !== undefined && TOKEN_RE.test(v) ? v : undefined;
}

/** The request id: the caller's `x-request-id` if it is a sane token, else a new UUID. */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  return token(header(headers, RequestHeader.requestId)) ?? randomUUID();
}

/** The correlation id: the caller's `x-correlation-id`, else the request id. */
export function correlationIdOf(headers: IncomingHttpHeaders, requestId: string): string {
  return token(header(headers, RequestHeader.correlationId)) ?? requestId;
}

/** What the services see as the cause of a call made for this request. */
export function causeOf(req: { id: string; headers: IncomingHttpHeaders }): Pick<MessageMeta, 'id' | 'correlationId' | 'traceparent'> {
  const own = requestTraceparent(req);
  if (own) return { id: req.id, correlationId: correlationIdOf(req.headers, req.id), traceparent: own };
  const tp = header(req.headers, RequestHeader.traceparent);
  return {
    id: req.id,
    correlationId: correlationIdOf(req.headers, req.id),
    traceparent: tp !== undefined && TRACEPARENT_RE.test(tp) ? tp : undefined,
  };
}

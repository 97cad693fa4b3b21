/**
 * Message metadata travels in NATS headers, following the CloudEvents NATS protocol binding
 * (binary mode): each context attribute is a `ce-` header, and the body is exactly the
 * catalog payload as JSON. We add the idempotency key, W3C trace context and error headers.
 */
import { dataSchemaOf } from './index.ts';
export const Header = {
  id: 'ce-id',
  type: 'ce-type',
  source: 'ce-source',
  time: 'ce-time',
  specVersion: 'ce-specversion',
  subject: 'ce-subject',
  /** The schema and version the body follows (`dataSchemaOf`). */
  dataSchema: 'ce-dataschema',
  correlationId: 'ce-correlationid',
  causationId: 'ce-causationid',
  idempotencyKey: 'ce-idempotencykey',
  traceparent: 'traceparent',
  contentType: 'content-type',
  /** Set on error replies; the body is `{code, message}`. */
  errorCode: 'x-error-code',
  /** JetStream's de-duplication header. */
  natsMsgId: 'Nats-Msg-Id',
} as const;
export type Header = (typeof Header)[keyof typeof Header];

/** Metadata every message carries. */
export interface MessageMeta {
  id: string;
  type: string;
  source: string;
  time: string;
  correlationId: string;
  causationId?: string | undefined;
  idempotencyKey?: string | undefined;
  traceparent?: string | undefined;
  subject?: string | undefined;
}

export type Headers = Record<string, string>;

export function metaToHeaders(meta: MessageMeta): Headers {
  const h: Headers = {
    [Header.specVersion]: '1.0',
    [Header.id]: meta.id,
    [Header.type]: meta.type,
    [Header.source]: meta.source,
    [Header.time]: meta.time,
    [Header.correlationId]: meta.correlationId,
    [Header.contentType]: 'application/json',
  };
  if (meta.causationId) h[Header.causationId] = meta.causationId;
  if (meta.idempotencyKey) h[Header.idempotencyKey] = meta.idempotencyKey;
  if (meta.traceparent) h[Header.traceparent] = meta.traceparent;
  if (meta.subject) h[Header.subject] = meta.subject;
  const schema = dataSchemaOf(meta.type);
  if (schema) h[Header.dataSchema] = schema;
  return h;
}

export class MissingHeaderError extends Error {
  override readonly name = 'MissingHeaderError';
  constructor(readonly header: string) {
    super(`missing required header ${header}`);
  }
}

/** Reads metadata from headers; throws MissingHeaderError for a missing required one. */
export function headersToMeta(h: Headers): MessageMeta {
  return {
    id: required(h, Header.id),
    type: required(h, Header.type),
    source: required(h, Header.source),
    time: required(h, Header.time),
    correlationId: h[Header.correlationId] ?? required(h, Header.id),
    causationId: h[Header.causationId],
    idempotencyKey: h[Header.idempotencyKey],
    traceparent: h[Header.traceparent],
    subject: h[Header.subject],
  };
}

/**
 * A required header's value. A module-level function, not a closure per call: tsx compiles with
 * esbuild's keepNames, which names every closure made at run time (an `Object.defineProperty`
 * each), and this runs for every message received (docs/benchmarks.md, "Closures named at run time").
 */
function required(h: Headers, k: string): string {
  const v = h[k];
  if (!v) throw new MissingHeaderError(k);
  return v;
}

/**
 * What every route module receives as its plugin options: the gateway's config and its seams to
 * the services. Passed explicitly rather than decorated onto Fastify, so routes need no type
 * augmentation and tests can see exactly what a route depends on.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ZodType } from 'zod';
import { uuidv5 } from '../runtime/ids.ts';
import type { Auth } from './auth.ts';
import type { CheckoutTracker } from './checkouts.ts';
import type { GatewayConfig } from './config.ts';
import { causeOf } from './correlation.ts';
import type { ServiceCalls } from './services.ts';

export interface GatewayContext {
  config: GatewayConfig;
  services: ServiceCalls;
  checkouts: CheckoutTracker;
  /** Who is asking (AUTH=off or jwt). */
  auth: Auth;
}

export interface RouteOptions {
  ctx: GatewayContext;
}

/** What a route's request is to the services: the cause of the messages it sends. */
type CausingRequest = Parameters<typeof causeOf>[0];

/**
 * A route's one-line forwarding of its HTTP request to a service: the request is the messages'
 * cause, and the deadline is the config's for a query or a command.
 */
export function forwarding({ services, config }: GatewayContext) {
  return {
    query: <T>(req: CausingRequest, subject: string, type: string, reply: ZodType<T>, payload: unknown): Promise<T> =>
      services.call({ subject, type, payload, reply, timeoutMs: config.timeouts.queryMs, cause: causeOf(req) }),
    command: <T>(
      req: CausingRequest,
      subject: string,
      type: string,
      reply: ZodType<T>,
      payload: unknown,
      idempotencyKey?: string,
    ): Promise<T> =>
      services.call({ subject, type, payload, reply, timeoutMs: config.timeouts.commandMs, cause: causeOf(req), idempotencyKey }),
    /** A query over many entities: every partition's answer, merged (ServiceCalls.gather). */
    gather: <T>(req: CausingRequest, subject: string, type: string, reply: ZodType<T>, payload: unknown, merge: (answers: T[]) => T): Promise<T> =>
      services.gather({ subject, type, payload, reply, timeoutMs: config.timeouts.queryMs, cause: causeOf(req) }, merge),
  };
}

const IDEMPOTENCY_NS = '2c7e9b14-6a3d-4f58-b1e2-8d4c6a9f0e11';

/**
 * The idempotency key sent to a service for a client's `Idempotency-Key`. Services dedupe per
 * subject, not per cart or order, so the client's key is scoped to the resource it was sent for,
 * and to the request body: the same key on another cart, or with another body, is a different
 * request (a reused key cannot return someone else's result).
 */
export function scopedIdempotencyKey(
  headers: IncomingHttpHeaders & { 'idempotency-key'?: string | undefined },
  route: string,
  resource: string,
  body: unknown,
): string | undefined {
  const key = headers['idempotency-key'];
  if (key === undefined) return undefined;
  return uuidv5(JSON.stringify([route, resource, key, body ?? null]), IDEMPOTENCY_NS);
}

/**
 * The gateway's only way to reach a service: request/reply over the transport, through
 * `ServiceClient`, always with a deadline. Failures are classified here, once:
 *  - the service refused (RemoteError BAD_REQUEST / NOT_FOUND / CONFLICT): the shopper's 4xx;
 *  - the service did not answer in time, nobody listens, it said UNAVAILABLE, or the transport is
 *    closing: `ServiceUnavailableError`, a 503 with Retry-After (the client may retry; commands
 *    are safe to retry with the same Idempotency-Key);
 *  - the service failed (INTERNAL), or answered something that does not parse:
 *    `UpstreamFailureError`, a 502 whose body says nothing about why.
 *
 * `ServiceClient` asks again, within the call's deadline, when the service answered UNAVAILABLE or
 * nobody listened (a slot handing over to its next owner, a process restarting): the repeat carries
 * the first attempt's message id and idempotency key, so the service's inbox answers a command it
 * already did with the stored reply (call-retry.ts). A timeout is not asked again here: it used the
 * whole deadline, and a command that timed out may have happened, so only a client holding an
 * Idempotency-Key can safely ask again.
 */
import { z, type ZodType } from 'zod';
import type { MessageMeta } from '../contracts/headers.ts';
import { gatherSubjects, pingSubject, type Partitions, type Service } from '../contracts/subjects.ts';
import { ServiceClient } from '../runtime/client.ts';
import type { Clock } from '../runtime/clock.ts';
import {
  ErrorCode,
  NoRespondersError,
  RemoteError,
  RequestTimeoutError,
  TransportClosedError,
  TransportError,
} from '../runtime/transport/errors.ts';
import type { Transport } from '../runtime/transport/transport.ts';

/** A service could not be reached in time: the client should retry after a pause. */
export class ServiceUnavailableError extends Error {
  override readonly name = 'ServiceUnavailableError';
  constructor(
    readonly subject: string,
    override readonly cause: unknown,
  ) {
    super(`no answer on ${subject}`);
  }
}

/** A service failed, or answered with something the gateway cannot read. Never shown to clients. */
export class UpstreamFailureError extends Error {
  override readonly name = 'UpstreamFailureError';
  constructor(
    readonly subject: string,
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

/** A refusal the client can act on: its status code and `{code, message}` body. */
export class RefusedError extends Error {
  override readonly name = 'RefusedError';
  constructor(
    readonly statusCode: 400 | 404 | 409,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type Cause = Pick<MessageMeta, 'id' | 'correlationId' | 'traceparent'>;

export interface CallSpec<T> {
  subject: string;
  type: string;
  payload: unknown;
  reply: ZodType<T>;
  timeoutMs: number;
  cause: Cause;
  idempotencyKey?: string | undefined;
  /** ServiceClient's retries (default); false: one attempt. */
  retry?: false;
}

const refusals: Partial<Record<string, 400 | 404 | 409>> = {
  [ErrorCode.badRequest]: 400,
  [ErrorCode.notFound]: 404,
  [ErrorCode.conflict]: 409,
};

export class ServiceCalls {
  private readonly client: ServiceClient;

  constructor(
    transport: Transport,
    clock: Clock,
    private readonly partitions: Partitions = {},
    readonly source = 'urn:acme:shopping:gateway',
  ) {
    this.client = new ServiceClient(transport, source, clock, partitions);
  }

  /**
   * A query over many entities of a partitioned service (subjects.ts, gatheredQueries): asked of
   * every partition at once, each answer parsed, merged by the caller. Any partition that fails
   * fails the whole (a partial list would read as complete).
   */
  async gather<T>(spec: CallSpec<T>, merge: (answers: T[]) => T): Promise<T> {
    const subjects = gatherSubjects(spec.subject, this.partitions);
    if (subjects.length === 1) return this.call(spec);
    return merge(await Promise.all(subjects.map((subject) => this.call({ ...spec, subject }))));
  }

  async call<T>(spec: CallSpec<T>): Promise<T> {
    let raw: unknown;
    try {
      // The reply is parsed below rather than by the client: the client reports a reply that
      // does not parse as a BAD_REQUEST RemoteError, which would read as the shopper's fault.
      const r = await this.client.call(spec.subject, spec.type, spec.payload, z.unknown(), {
        timeoutMs: spec.timeoutMs,
        cause: spec.cause,
        idempotencyKey: spec.idempotencyKey,
        ...(spec.retry === false ? { retry: false } : {}),
      });
      raw = r.payload;
    } catch (err) {
      throw classify(spec.subject, err);
    }
    const parsed = spec.reply.safeParse(raw);
    if (!parsed.success) {
      throw new UpstreamFailureError(spec.subject, `reply on ${spec.subject} does not match its schema`, parsed.error);
    }
    return parsed.data;
  }

  /** Pings a service's readiness subject; resolves with the round trip in ms, rejects if it is down. */
  async ping(service: Service, timeoutMs: number, cause: Cause): Promise<number> {
    const started = performance.now();
    // One attempt: a readiness check says "down" at once, not after its retries.
    await this.call({ subject: pingSubject(service), type: 'ping', payload: {}, reply: z.unknown(), timeoutMs, cause, retry: false });
    return Math.round(performance.now() - started);
  }
}

function classify(subject: string, err: unknown): Error {
  if (err instanceof RemoteError) {
    // The transport stamps the subject on every error reply; a RemoteError without one came from
    // parsing the reply body locally (not JSON at all).
    if (err.subject === undefined) return new UpstreamFailureError(subject, `reply on ${subject} is not JSON`, err);
    const status = refusals[err.code];
    if (status !== undefined) return new RefusedError(status, err.code, err.message);
    if (err.code === ErrorCode.unavailable) return new ServiceUnavailableError(subject, err);
    return new UpstreamFailureError(subject, `${subject} failed with ${err.code}`, err);
  }
  if (err instanceof RequestTimeoutError || err instanceof NoRespondersError || err instanceof TransportClosedError) {
    return new ServiceUnavailableError(subject, err);
  }
  // Anything else (a permission the deployment forgot, a bug) will not cure itself by waiting.
  const what = err instanceof TransportError ? err.name : 'error';
  return new UpstreamFailureError(subject, `call on ${subject} failed (${what})`, err);
}

/**
 * Transport failures, classified where they happen (nats.js style: a `name` and a `cause`). An error
 * translated from a nats.js one keeps that error as its `cause` (nats-mapping.ts), so a log shows
 * what the client library saw.
 *  - `RequestTimeoutError` and `NoRespondersError` are transient: retry with the same idempotency key.
 *  - `RemoteError` is the responder's answer: a business or validation refusal, or its own failure.
 *    Its `code` says which; `isTransient` tells a retry loop what to do with it.
 */
export const ErrorCode = {
  badRequest: 'BAD_REQUEST',
  notFound: 'NOT_FOUND',
  conflict: 'CONFLICT',
  unavailable: 'UNAVAILABLE',
  internal: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode] | (string & {});

export class TransportError extends Error {
  override readonly name: string = 'TransportError';
}

export class RequestTimeoutError extends TransportError {
  override readonly name = 'RequestTimeoutError';
  constructor(
    readonly subject: string,
    readonly timeoutMs: number,
    options?: ErrorOptions,
  ) {
    super(`no reply on ${subject} within ${timeoutMs} ms`, options);
  }
}

export class NoRespondersError extends TransportError {
  override readonly name = 'NoRespondersError';
  constructor(
    readonly subject: string,
    options?: ErrorOptions,
  ) {
    super(`no responders on ${subject}`, options);
  }
}

export class RemoteError extends TransportError {
  override readonly name = 'RemoteError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly subject?: string,
  ) {
    super(message);
  }
}

export class TransportClosedError extends TransportError {
  override readonly name = 'TransportClosedError';
  constructor(options?: ErrorOptions) {
    super('transport is closed', options);
  }
}

/** True for failures that a retry with the same idempotency key may cure. */
export function isTransient(err: unknown): boolean {
  if (err instanceof RequestTimeoutError || err instanceof NoRespondersError) return true;
  if (err instanceof RemoteError) return err.code === ErrorCode.unavailable;
  return false;
}

/** The error body of an error reply. */
export interface ErrorBody {
  code: string;
  message: string;
}

/**
 * One error handler for the whole API: every failure leaves as the catalog's `Error {code, message}`.
 *  - 4xx: the message tells the client what to fix (a validation error names the field);
 *  - 5xx: the message is fixed text; the cause goes to the log under the request id, which the
 *    client gets back in `x-request-id` to quote.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import type { ErrorBody } from '../contracts/index.ts';
import { RefusedError, ServiceUnavailableError, UpstreamFailureError } from './services.ts';

export const HttpCode = {
  badRequest: 'BAD_REQUEST',
  unauthorized: 'UNAUTHORIZED',
  forbidden: 'FORBIDDEN',
  notFound: 'NOT_FOUND',
  methodNotAllowed: 'METHOD_NOT_ALLOWED',
  conflict: 'CONFLICT',
  payloadTooLarge: 'PAYLOAD_TOO_LARGE',
  unsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  rateLimited: 'RATE_LIMITED',
  internal: 'INTERNAL',
  badGateway: 'BAD_GATEWAY',
  unavailable: 'SERVICE_UNAVAILABLE',
} as const;
export type HttpCode = (typeof HttpCode)[keyof typeof HttpCode];

/** A refusal raised by the gateway itself (as opposed to one relayed from a service). */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly statusCode: number,
    readonly code: HttpCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const CLIENT_CODES: Partial<Record<number, HttpCode>> = {
  400: HttpCode.badRequest,
  401: HttpCode.unauthorized,
  403: HttpCode.forbidden,
  404: HttpCode.notFound,
  405: HttpCode.methodNotAllowed,
  409: HttpCode.conflict,
  413: HttpCode.payloadTooLarge,
  415: HttpCode.unsupportedMediaType,
  429: HttpCode.rateLimited,
};

const MESSAGES = {
  internal: 'Something went wrong on our side. Please try again; quote the request id if it keeps happening.',
  badGateway: 'A service failed to answer properly. Please try again later.',
  unavailable: 'A service is not answering right now. Please try again shortly.',
} as const;

/** `body.quantity: Too small: expected number to be >=1; …` */
function describeValidation(context: string | undefined, issues: readonly { instancePath: string; message?: string | undefined }[]): string {
  const where = context ?? 'request';
  return issues
    .slice(0, 5)
    .map((i) => {
      const path = i.instancePath.split('/').filter(Boolean).join('.');
      return `${path ? `${where}.${path}` : where}: ${i.message ?? 'invalid'}`;
    })
    .join('; ');
}

export function createErrorHandler(retryAfterSeconds: number) {
  return function errorHandler(err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): FastifyReply {
    const send = (status: number, body: ErrorBody): FastifyReply => reply.code(status).type('application/json').send(body);

    if (hasZodFastifySchemaValidationErrors(err)) {
      return send(400, { code: HttpCode.badRequest, message: describeValidation(err.validationContext, err.validation) });
    }
    if (err instanceof RefusedError) return send(err.statusCode, { code: err.code, message: err.message });
    if (err instanceof HttpError) {
      reply.headers(err.headers);
      return send(err.statusCode, { code: err.code, message: err.message });
    }
    if (err instanceof ServiceUnavailableError) {
      req.log.warn({ subject: err.subject, cause: describeCause(err.cause) }, 'service unavailable');
      reply.header('retry-after', String(retryAfterSeconds));
      return send(503, { code: HttpCode.unavailable, message: MESSAGES.unavailable });
    }
    if (err instanceof UpstreamFailureError) {
      req.log.error({ err, subject: err.subject, cause: describeCause(err.cause) }, 'upstream failure');
      return send(502, { code: HttpCode.badGateway, message: MESSAGES.badGateway });
    }
    // Fastify's own 4xx (bad JSON, body too large, wrong media type, rate limit): their messages
    // are written for clients. Anything else is a bug here and stays in the log.
    const status = 'statusCode' in err && typeof err.statusCode === 'number' ? err.statusCode : 500;
    const code = CLIENT_CODES[status];
    if (status >= 400 && status < 500 && code) return send(status, { code, message: clientMessage(err, status) });
    req.log.error({ err }, 'unhandled error');
    return send(500, { code: HttpCode.internal, message: MESSAGES.internal });
  };
}

function clientMessage(err: Error & { code?: string }, status: number): string {
  if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return 'body is not valid JSON';
  if (status === 413) return 'request body is too large';
  return err.message;
}

function describeCause(cause: unknown): string | undefined {
  return cause instanceof Error ? `${cause.name}: ${cause.message}` : undefined;
}

export function notFoundHandler(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = (req.url.split('?')[0] ?? '').slice(0, 200);
  return reply.code(404).send({ code: HttpCode.notFound, message: `no route ${req.method} ${path}` });
}

/**
 * Who may call operator routes: the one place that decides. Today a shared bearer token
 * (OPERATOR_TOKEN); unset, the routes are open (development). An identity provider's tokens
 * with an operator role would be checked here too, so every operator route keeps calling just
 * `requireOperator`.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { GatewayConfig } from './config.ts';
import { HttpCode, HttpError } from './errors.ts';

/** The OpenAPI security scheme operator routes declare (openapi.ts defines it). */
export const OPERATOR_SECURITY = [{ operatorToken: [] as string[] }];

/** Throws 401 unless the request carries the operator's credentials. */
export function requireOperator(req: Pick<FastifyRequest, 'headers'>, config: Pick<GatewayConfig, 'operatorToken'>): void {
  if (config.operatorToken === undefined) return;
  if (bearerMatches(req.headers.authorization, config.operatorToken)) return;
  throw new HttpError(401, HttpCode.unauthorized, 'operator token required', { 'www-authenticate': 'Bearer' });
}

/** Constant-time comparison, so the token cannot be guessed a byte at a time from response times. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Who is asking. Two modes (docs/security.md):
 *  - `off` (default): no identity. Ids are the only capability, as the catalog's contract (which
 *    declares no security) has it; operator routes need `OPERATOR_TOKEN` when one is set.
 *  - `jwt`: every shopper route needs `Authorization: Bearer <JWT>` issued by the shop's identity
 *    provider, verified here (RS256 or ES256; a JWKS URL or a PEM public key; issuer, audience and
 *    expiry always checked). The token's `sub` is the customer id. Operator routes need the
 *    operator role in the token's `roles` (array or space-separated) or `scope` claim.
 *
 * The gateway only says *who* asks. *Whose* a cart or order is, is decided by the service that
 * holds it (the customer id travels in the command or query; see src/machines/cart.ts and the
 * Order Service), inside the same mailbox that changes it, so no check-then-act race is possible.
 */
import { readFileSync } from 'node:fs';
import { createPublicKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { Uuid } from '../contracts/index.ts';
import { HttpCode, HttpError } from './errors.ts';

export const AuthMode = { off: 'off', jwt: 'jwt' } as const;
export type AuthMode = (typeof AuthMode)[keyof typeof AuthMode];

/** The algorithms accepted; `none` and the HMAC family never are (a public key is not a secret). */
export const jwtAlgorithms = ['RS256', 'ES256'] as const;

export interface JwtAuthConfig {
  mode: 'jwt';
  /** The identity provider's key set (refreshed on an unknown `kid`); or use `publicKeyPem`. */
  jwksUrl?: string | undefined;
  /** One PEM (SPKI) public key, RSA or EC P-256. */
  publicKeyPem?: string | undefined;
  issuer: string;
  audience: string;
  /** The role, in `roles` or `scope`, that operator routes require. */
  operatorRole: string;
  /** Seconds of clock skew tolerated on `exp` and `nbf`. */
  clockToleranceSec: number;
  /** Where the storefront sends a shopper without a token (the shop's login). */
  loginUrl?: string | undefined;
}

export type AuthConfig = { mode: 'off' } | JwtAuthConfig;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * AUTH, AUTH_JWKS_URL, AUTH_PUBLIC_KEY_FILE, AUTH_ISSUER, AUTH_AUDIENCE, AUTH_OPERATOR_ROLE,
 * AUTH_CLOCK_TOLERANCE_S, AUTH_LOGIN_URL. A jwt configuration missing a key, the
 * issuer or the audience fails at startup: a verifier that skips one of them accepts tokens minted
 * for someone else.
 */
export function authFromEnv(env: Env): AuthConfig {
  const mode = (env.AUTH ?? 'off').toLowerCase();
  if (mode === 'off') return { mode: 'off' };
  if (mode !== 'jwt') throw new Error(`AUTH must be off or jwt, got "${env.AUTH}"`);
  const keyFile = env.AUTH_PUBLIC_KEY_FILE || undefined;
  const config: JwtAuthConfig = {
    mode: 'jwt',
    jwksUrl: env.AUTH_JWKS_URL || undefined,
    publicKeyPem: keyFile ? readFileSync(keyFile, 'utf8') : undefined,
    issuer: env.AUTH_ISSUER ?? '',
    audience: env.AUTH_AUDIENCE ?? '',
    operatorRole: env.AUTH_OPERATOR_ROLE || 'operator',
    clockToleranceSec: Number(env.AUTH_CLOCK_TOLERANCE_S ?? 30),
    loginUrl: env.AUTH_LOGIN_URL || undefined,
  };
  checkJwtConfig(config);
  return config;
}

function checkJwtConfig(c: JwtAuthConfig): void {
  if (!c.jwksUrl === !c.publicKeyPem) throw new Error('AUTH=jwt needs exactly one of AUTH_JWKS_URL or AUTH_PUBLIC_KEY_FILE');
  if (!c.issuer) throw new Error('AUTH=jwt needs AUTH_ISSUER (the iss your identity provider puts in its tokens)');
  if (!c.audience) throw new Error('AUTH=jwt needs AUTH_AUDIENCE (the aud of tokens minted for this shop)');
  if (!Number.isFinite(c.clockToleranceSec) || c.clockToleranceSec < 0) throw new Error('AUTH_CLOCK_TOLERANCE_S must be a non-negative number');
}

/** Who did an operator action, for the log line every such action writes. */
export interface OperatorIdentity {
  operator: string;
  via: 'jwt' | 'operator-token' | 'open';
}

/** RFC 6750: a request with no credentials gets the challenge alone; a bad token also gets `error`. */
const unauthorized = (message: string, error: 'invalid_token' | null = 'invalid_token') =>
  new HttpError(401, HttpCode.unauthorized, message, {
    'www-authenticate': `Bearer realm="acme-shop"${error ? `, error="${error}"` : ''}`,
  });

const forbidden = (message: string) => new HttpError(403, HttpCode.forbidden, message);

/** The gateway's one answer to "who is asking", in either mode. */
export class Auth {
  readonly mode: AuthMode;
  private readonly key: KeyObject | JWTVerifyGetKey | undefined;

  /** `operatorToken`: what operator routes require under `off` (unset: they are open, for development). */
  constructor(
    readonly config: AuthConfig,
    private readonly operatorToken: string | undefined,
  ) {
    this.mode = config.mode;
    if (config.mode === 'jwt') {
      checkJwtConfig(config);
      this.key = config.publicKeyPem ? createPublicKey(config.publicKeyPem) : createRemoteJWKSet(new URL(config.jwksUrl ?? ''));
    }
  }

  /**
   * The customer a shopper route acts for: the token's subject under `jwt` (401 without a valid
   * token), undefined under `off` (the request names whom it likes, as the catalog allows).
   */
  async customer(req: FastifyRequest): Promise<string | undefined> {
    if (this.config.mode === 'off') return undefined;
    const claims = await this.verify(req);
    const sub = Uuid.safeParse(claims.sub);
    if (!sub.success) throw unauthorized('the token subject is not a customer id');
    return sub.data;
  }

  /**
   * Under `jwt`, a customer id the client wrote (a body or path field) must be the token's own:
   * 403 otherwise. Under `off` anything goes.
   */
  async sameCustomer(req: FastifyRequest, claimed: string): Promise<string | undefined> {
    const customer = await this.customer(req);
    if (customer !== undefined && customer !== claimed) throw forbidden('customerId is not the signed-in customer');
    return customer;
  }

  /** The operator behind an operator route, or 401/403. */
  async operator(req: FastifyRequest): Promise<OperatorIdentity> {
    const c = this.config;
    if (c.mode === 'jwt') {
      const claims = await this.verify(req);
      if (!rolesOf(claims).includes(c.operatorRole)) throw forbidden(`the token lacks the ${c.operatorRole} role`);
      return { operator: String(claims.sub ?? 'unknown'), via: 'jwt' };
    }
    if (this.operatorToken === undefined) return { operator: 'anyone (OPERATOR_TOKEN unset)', via: 'open' };
    if (!bearerMatches(req.headers.authorization, this.operatorToken)) {
      throw unauthorized('operator token required', req.headers.authorization ? 'invalid_token' : null);
    }
    return { operator: 'operator-token', via: 'operator-token' };
  }

  private async verify(req: FastifyRequest): Promise<JWTPayload> {
    const c = this.config;
    if (c.mode !== 'jwt' || !this.key) throw new Error('verify() without a jwt configuration');
    const token = bearerOf(req.headers.authorization);
    if (!token) throw unauthorized('sign in: this route needs Authorization: Bearer <token>', req.headers.authorization ? 'invalid_token' : null);
    const options = { issuer: c.issuer, audience: c.audience, algorithms: [...jwtAlgorithms], clockTolerance: c.clockToleranceSec, requiredClaims: ['sub', 'exp'] };
    try {
      // jwtVerify's overloads split on the key's kind; both are the same call.
      const { payload } =
        typeof this.key === 'function' ? await jwtVerify(token, this.key, options) : await jwtVerify(token, this.key, options);
      return payload;
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw unauthorized('the token has expired; sign in again');
      // jose reports a key set it could not fetch or read as a timeout, a fetch error or a generic JOSEError.
      const keySetDown =
        err instanceof joseErrors.JWKSTimeout ||
        !(err instanceof joseErrors.JOSEError) ||
        (typeof this.key === 'function' && err.code === 'ERR_JOSE_GENERIC');
      if (keySetDown) {
        // The identity provider's key set could not be fetched: not the shopper's fault.
        req.log.warn({ err }, 'cannot fetch the identity provider key set');
        throw new HttpError(503, HttpCode.unavailable, 'sign-in cannot be checked right now; try again shortly', { 'retry-after': '2' });
      }
      if (err instanceof joseErrors.JOSEError) {
        req.log.info({ reason: err.code }, 'bearer token refused');
        throw unauthorized('the token is not valid for this shop');
      }
      throw err;
    }
  }
}

function bearerOf(header: string | undefined): string | undefined {
  const m = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(header ?? '');
  return m?.[1];
}

function rolesOf(claims: JWTPayload): string[] {
  const roles = claims.roles;
  const list = Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : typeof roles === 'string' ? roles.split(' ') : [];
  const scope = typeof claims.scope === 'string' ? claims.scope.split(' ') : [];
  return [...list, ...scope];
}

/** Constant-time comparison, so the token cannot be guessed a byte at a time from response times. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

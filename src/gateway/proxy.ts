/**
 * TRUST_PROXY: whether the gateway believes `X-Forwarded-For` / `-Proto` / `-Host`. Only when it is
 * told to: a client talking to the gateway directly could otherwise claim any address (and so
 * escape the per-IP rate limit) or claim HTTPS. Behind a TLS-terminating proxy, name the proxy.
 */
import type { FastifyServerOptions } from 'fastify';

/**
 * unset, `false`, `0`: trust nothing (the default); `true`: trust every hop (only when nothing can
 * reach the gateway but the proxy); a number: trust that many hops; otherwise a comma list of
 * addresses or CIDRs of the proxies (`127.0.0.1,10.0.0.0/8`).
 */
export function trustProxyFromEnv(raw: string | undefined): NonNullable<FastifyServerOptions['trustProxy']> {
  const v = (raw ?? '').trim();
  if (v === '' || v === 'false' || v === '0') return false;
  if (v === 'true') return true;
  if (/^\d+$/.test(v)) {
    const hops = Number(v);
    return (_address: string, hop: number) => hop < hops;
  }
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

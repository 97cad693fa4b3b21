/**
 * The whole shop for an end-to-end test: every service (embedded, or over a real nats-server with
 * nats.conf's users) and the gateway listening on a free port, reached with node's fetch.
 */
import type { SystemConfig } from '../../../src/config.ts';
import type { GatewayConfigInput } from '../../../src/gateway/config.ts';
import { startServer, type RunningServer } from '../../../src/gateway/server.ts';
import { startTestSystem, type Mode, type TestSystem } from '../../support/system-fixture.ts';

export interface HttpResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface Shop {
  t: TestSystem;
  server: RunningServer;
  url: string;
  http<T = unknown>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpResponse<T>>;
  stop(): Promise<void>;
}

export async function startShop(
  mode: Mode,
  opts: { system?: (c: SystemConfig) => void; gateway?: GatewayConfigInput } = {},
): Promise<Shop> {
  const t = await startTestSystem(mode, opts.system);
  let server: RunningServer;
  try {
    server = await startServer({
      transport: await t.system.transportFor('gateway'),
      port: 0,
      config: { rateLimit: false, ...opts.gateway },
    });
  } catch (err) {
    await t.stop();
    throw err;
  }
  const http = async <T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResponse<T>> => {
    const init: RequestInit = { method, headers: { accept: 'application/json', ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      init.headers = { 'content-type': 'application/json', ...init.headers };
    }
    const res = await fetch(`${server.url}${path}`, init);
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  };
  return {
    t,
    server,
    url: server.url,
    http,
    async stop() {
      await server.close();
      await t.stop();
    },
  };
}

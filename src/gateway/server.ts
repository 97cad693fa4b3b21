/**
 * Runs the gateway on a port. `close()` is graceful: the server stops accepting connections, open
 * event streams are ended, requests in flight finish; what is still running after `graceMs` is cut
 * off, so a shutdown never hangs on a slow client. Signals are the composition root's business
 * (src/main.ts closes the server, then the services).
 */
import type { FastifyInstance } from 'fastify';
import { buildApp, type GatewayDeps } from './app.ts';

export interface ServerOptions extends GatewayDeps {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** How long close() waits for requests in flight before cutting connections. */
  graceMs?: number;
}

export interface RunningServer {
  app: FastifyInstance;
  /** e.g. `http://127.0.0.1:8080` */
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const { host = '127.0.0.1', port = 8080, graceMs = 10_000, ...deps } = opts;
  const app = await buildApp(deps);
  await app.listen({ host, port });
  const addr = app.server.address();
  const boundPort = typeof addr === 'object' && addr ? addr.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    app,
    url: `http://${shownHost}:${boundPort}`,
    port: boundPort,
    close: () => (closing ??= closeGracefully(app, graceMs)),
  };
}

async function closeGracefully(app: FastifyInstance, graceMs: number): Promise<void> {
  const cutOff = setTimeout(() => app.server.closeAllConnections(), graceMs);
  cutOff.unref();
  try {
    await app.close();
  } finally {
    clearTimeout(cutOff);
  }
}

/**
 * Runs the gateway on a port. `close()` is graceful: the server stops accepting connections, open
 * event streams are ended, requests in flight finish; what is still running after `graceMs` is cut
 * off, so a shutdown never hangs on a slow client. `closeOnSignals` wires that to SIGINT/SIGTERM for
 * the composition root, in the manner of close-with-grace.
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

/**
 * Calls `shutdown` once on the first SIGINT or SIGTERM; a second signal, or a shutdown that takes
 * longer than `graceMs`, exits at once with status 1. Returns a function that removes the handlers.
 */
export function closeOnSignals(
  shutdown: () => Promise<void>,
  opts: { graceMs?: number; log?: (msg: string, err?: unknown) => void } = {},
): () => void {
  const { graceMs = 15_000, log = (msg, err) => console.error(msg, err ?? '') } = opts;
  let started = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (started) {
      log(`${signal} again: exiting now`);
      process.exit(1);
    }
    started = true;
    log(`${signal}: shutting down (at most ${graceMs} ms)`);
    const timer = setTimeout(() => {
      log('shutdown took too long: exiting');
      process.exit(1);
    }, graceMs);
    timer.unref();
    shutdown().then(
      () => {
        clearTimeout(timer);
        process.exitCode ??= 0;
      },
      (err: unknown) => {
        log('shutdown failed', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

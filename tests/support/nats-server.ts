/**
 * Starts a throwaway nats-server for a test file: the repo's nats.conf (users and permissions), a free
 * loopback port and a temporary JetStream store. A missing binary is an error, never a silent skip:
 * a test that needs NATS must fail where NATS is absent, in CI above all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Service } from '../../src/contracts/subjects.ts';

export const defaultNatsConfig = fileURLToPath(new URL('../../nats.conf', import.meta.url));

export interface NatsServerHandle {
  url: string;
  port: number;
  /** The server's process id (the bench reads its CPU time). */
  pid: number;
  storeDir: string;
  /** The server's recent log output (permission violations show up here). */
  log(): string;
  stop(): Promise<void>;
}

export type NatsUser = Service | 'admin';

/** The dev credentials in nats.conf. Local use only: production replaces nats.conf. */
export function credentialsFor(user: NatsUser): { user: string; pass: string } {
  return { user, pass: `${user}-dev-secret` };
}

export function findNatsServer(): string | undefined {
  const candidates = (process.env.PATH ?? '')
    .split(delimiter)
    .filter(Boolean)
    .map((dir) => join(dir, 'nats-server'));
  candidates.push('/usr/sbin/nats-server');
  return candidates.find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export async function startNatsServer(
  opts: { config?: string; readyTimeoutMs?: number } = {},
): Promise<NatsServerHandle> {
  const bin = findNatsServer();
  if (!bin) {
    const where = process.env.CI === 'true' ? 'CI must provide it' : 'install it to run this test';
    throw new Error(
      `nats-server not found on PATH or at /usr/sbin/nats-server (${where}, e.g. apt-get install nats-server)`,
    );
  }
  const port = await freePort();
  const storeDir = await mkdtemp(join(tmpdir(), 'nats-test-'));
  const config = opts.config ?? defaultNatsConfig;
  // Command-line flags override the file, so the file's listen address and store dir do not matter here.
  // NATS_SERVER_EXTRA_ARGS (measurement only): e.g. `-m 8222` or `-V -l /tmp/trace.log` to count or trace every message.
  const extra = (process.env.NATS_SERVER_EXTRA_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(bin, ['-c', config, '-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    log = (log + chunk).slice(-100_000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (): Promise<void> => {
    await kill(child, exited);
    await rm(storeDir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, exited, opts.readyTimeoutMs ?? 10_000);
  } catch (err) {
    await stop();
    throw new Error(`nats-server did not start: ${(err as Error).message}\n${log}`);
  }
  return { url: `nats://127.0.0.1:${port}`, port, pid: child.pid ?? 0, storeDir, log: () => log, stop };
}

/** A loopback port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, exited: Promise<number | null>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let gone: number | null | undefined;
  void exited.then((code) => (gone = code));
  while (Date.now() < deadline) {
    if (gone !== undefined) throw new Error(`exited with code ${gone}`);
    if (await canConnect(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} not accepting connections after ${timeoutMs} ms`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

async function kill(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

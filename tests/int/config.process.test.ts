/**
 * The process as an operator starts it: each bad setting ends it before anything opens, with one
 * line naming the variable, its value and the fix, and exit code 2; `npm start` stopped with
 * SIGTERM leaves its port free and no process behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

function run(cmd: string, args: string[], env: Record<string, string>): { child: ChildProcess; done: Promise<{ code: number | null; out: string; err: string }> } {
  const base: NodeJS.ProcessEnv = { ...process.env };
  delete base.NATS_URL;
  const full: NodeJS.ProcessEnv = { ...base, LOG_LEVEL: 'warn', ...env };
  const child = spawn(cmd, args, { cwd: root, env: full, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return { child, done: new Promise((resolve) => child.on('exit', (code) => resolve({ code, out, err }))) };
}

/**
 * Each case starts node with tsx, which transforms the sources before the process can answer: a
 * few seconds alone, several times that on a loaded 2-core CI machine beside other test files
 * (the default 30 s is a hang guard these cases came near). What they assert is not a duration.
 */
const SPAWN_TIMEOUT_MS = 60_000;

const start = (env: Record<string, string>) => run(process.execPath, ['--import', 'tsx', 'src/main.ts'], env).done;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('a process with a bad setting', () => {
  let dataDir: string;
  let held: Server;
  let heldPort: number;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'poa-cfg-'));
    held = createServer();
    await new Promise<void>((r) => held.listen(0, '127.0.0.1', r));
    heldPort = (held.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((r) => held.close(r));
    rmSync(dataDir, { recursive: true, force: true });
  });

  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['PORT not a number', { PORT: 'abc' }, /^config error: PORT="abc" is not a whole number\. Set PORT to a free TCP port/],
    ['PORT out of range', { PORT: '70000' }, /^config error: PORT="70000" must be at most 65535\./],
    ['LOG_LEVEL unknown', { LOG_LEVEL: 'loud' }, /^config error: LOG_LEVEL="loud" is not one of fatal, error, warn, info, debug, trace, silent\. Set LOG_LEVEL/],
    ['DATA_DIR not writable', { DATA_DIR: '/etc/hostname/data' }, /^config error: DATA_DIR="\/etc\/hostname\/data" is not a writable directory \(ENOTDIR\)\. Set DATA_DIR/],
    ['AUTH unknown', { AUTH: 'basic' }, /^config error: AUTH="basic" is not one of off, jwt\. Set AUTH to off \(default\) or jwt/],
    ['AUTH_CLOCK_TOLERANCE_S not a number', { AUTH_CLOCK_TOLERANCE_S: '-5' }, /^config error: AUTH_CLOCK_TOLERANCE_S="-5" is not a whole number\./],
    ['TRUST_PROXY with a space inside', { TRUST_PROXY: '10.0.0.1 10.0.0.2' }, /^config error: TRUST_PROXY="10\.0\.0\.1 10\.0\.0\.2" is not true, a hop count/],
    ['NATS_URL not a URL', { NATS_URL: 'localhost:4222' }, /^config error: NATS_URL="localhost:4222" is not a nats: or tls: or ws: or wss: URL\./],
    ['SQLITE_SYNCHRONOUS unknown', { SQLITE_SYNCHRONOUS: 'OFF' }, /^config error: SQLITE_SYNCHRONOUS="OFF" is not one of FULL, NORMAL\./],
    ['a deadline negative', { CHECKOUT_PAYMENT_DEADLINE_MS: '-5' }, /^config error: CHECKOUT_PAYMENT_DEADLINE_MS="-5" is not a whole number\./],
    ['a rate above 1', { PAYMENT_TRANSIENT_FAILURE_RATE: '1.5' }, /^config error: PAYMENT_TRANSIENT_FAILURE_RATE="1.5" is not a number from 0 to 1\./],
    ['SERVICES unknown', { SERVICES: 'cart,billing' }, /^config error: SERVICES="cart,billing" names unknown services \(billing\)\./],
    ['OTEL endpoint not http', { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, /^config error: OTEL_EXPORTER_OTLP_ENDPOINT="collector:4318" is not a http: or https: URL\./],
    ['OPERATOR_TOKEN too short', { OPERATOR_TOKEN: 'secret' }, /^config error: OPERATOR_TOKEN="secret" is shorter than 16 characters\./],
  ];
  for (const [what, env, line] of cases) {
    it.concurrent(`${what}: one line, exit 2`, async () => {
      const r = await start({ DATA_DIR: dataDir, PORT: String(await freePort()), ...env });
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err.trimEnd().split('\n')).toHaveLength(1);
      expect(r.err).toMatch(line);
      expect(r.err).not.toMatch(/\n\s+at /);
    }, SPAWN_TIMEOUT_MS);
  }

  it('a port in use: says so and suggests PORT, before any service starts', async () => {
    const r = await start({ DATA_DIR: dataDir, PORT: String(heldPort) });
    expect(r.code).toBe(2);
    expect(r.err.trim()).toBe(
      `config error: PORT="${heldPort}" cannot be used: 127.0.0.1:${heldPort} is already in use (another instance?). Stop what holds it, or set PORT to a free port, e.g. PORT=${heldPort + 1}`,
    );
    // Nothing opened: no store was created.
    expect(readdirSync(dataDir).filter((f) => f.endsWith('.db'))).toEqual([]);
  }, SPAWN_TIMEOUT_MS);

  it('METRICS_PORT in use: the same, naming METRICS_PORT', async () => {
    const r = await start({ DATA_DIR: dataDir, PORT: String(await freePort()), METRICS_PORT: String(heldPort) });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`^config error: METRICS_PORT="${heldPort}" cannot be used: .* set METRICS_PORT to a free port`));
  }, SPAWN_TIMEOUT_MS);
});

/** Every process whose parent chain leads to `pid` (from /proc). */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const walk = (p: number) => {
    for (const [child, parent] of parents) {
      if (parent !== p) continue;
      found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('npm start, stopped with SIGTERM', () => {
  it('stops the app: the port is free and no process is left', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'poa-term-'));
    const port = await freePort();
    const { child, done } = run('npm', ['start', '--silent'], { DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'info', LOG_FORMAT: 'json', SQLITE_SYNCHRONOUS: 'NORMAL' });
    try {
      const end = Date.now() + 60_000;
      for (;;) {
        const up = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
        if (up) break;
        if (Date.now() > end) throw new Error('npm start did not come up in 60 s');
        await new Promise((r) => setTimeout(r, 200));
      }
      const tree = descendants(child.pid!);
      expect(tree.length).toBeGreaterThan(0);
      child.kill('SIGTERM');
      const r = await done;
      expect(r.code).toBe(0);
      // Every line names its service and instance; the app heard the signal and stopped.
      const lines = r.out.trim().split('\n').map((l) => JSON.parse(l) as { service?: string; instance?: string; msg?: string });
      expect(lines.every((l) => typeof l.service === 'string' && typeof l.instance === 'string')).toBe(true);
      expect(lines.map((l) => l.msg)).toContain('stopped');
      // The app's node process may still be finishing its exit when npm returns: wait for it, bounded
      // (15 s: a loaded machine; it is normally gone at once).
      for (let i = 0; i < 150 && tree.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
      expect(tree.filter(alive)).toEqual([]);
      const free = await new Promise<boolean>((resolve) => {
        const s = createServer().once('error', () => resolve(false)).listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
      });
      expect(free).toBe(true);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 2 * SPAWN_TIMEOUT_MS);
});

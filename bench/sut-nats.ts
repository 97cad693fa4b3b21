/**
 * The system under test, distributed: a nats-server started with the repo's nats.conf on a free
 * loopback port with a temporary store, and the services as child processes (`src/main.ts` with
 * SERVICES=<service>, each with its own data dir), plus `src/main.ts` with SERVICES=gateway for
 * entry http. With `--instances K`, K orchestrators (each its own store, sharing the work through
 * their durable consumer and the saga-owners claim) and K gateways; with `--partitions P` also K
 * processes of each partitioned participant (cart, promotion, payment, order) sharing its P
 * partitions (inventory stays one process: it has one slot). The bench connects as the gateway
 * user, so nats.conf's permissions hold for it too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bucket, partitionedServices, pingSubject } from '../src/contracts/subjects.ts';
import { leaseKey } from '../src/runtime/slot-lease.ts';
import { readFileSync } from 'node:fs';
import { YOUNG_GENERATION_FLAG } from '../src/heap.ts';
import { backendServices } from '../src/registry.ts';
import { connectNats } from '../src/runtime/transport/nats.ts';
import type { Transport } from '../src/runtime/transport/transport.ts';
import type { BenchOptions } from './options.ts';
import type { ProcessRef } from './procstat.ts';
import { benchGatewayConfig, type SystemEnv, type SystemUnderTest } from './sut.ts';
import { freePort, startNatsServer } from '../tests/support/nats-server.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

export interface Child {
  name: string;
  proc: ChildProcess;
  exited: Promise<number | null>;
  /** The last lines it wrote to stderr, to explain a failure. */
  tail(): string;
}

/** With `logFile`, everything the process writes is appended to it as well. */
export function spawnChild(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, logFile?: string): Child {
  const proc = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (chunk: string) => {
    log = (log + chunk).slice(-8_000);
    if (logFile) appendFileSync(logFile, chunk);
  };
  proc.stdout?.setEncoding('utf8').on('data', keep);
  proc.stderr?.setEncoding('utf8').on('data', keep);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { name, proc, exited, tail: () => log };
}

export async function stopChild(c: Child, graceMs = 20_000): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill('SIGTERM');
  const timer = setTimeout(() => c.proc.kill('SIGKILL'), graceMs);
  await c.exited;
  clearTimeout(timer);
}

async function waitUntil(what: string, probe: () => Promise<boolean>, children: Child[], timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    const dead = children.find((c) => c.proc.exitCode !== null);
    if (dead) throw new Error(`${dead.name} exited with ${dead.proc.exitCode} before ${what}:\n${dead.tail()}`);
    if (Date.now() > deadline) throw new Error(`${what} timed out`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function startNats(dataDir: string, env: SystemEnv, opts: BenchOptions): Promise<SystemUnderTest> {
  // The same nats-server start as the tests': the repo's nats.conf, a free loopback port, a temp store.
  const nats = await startNatsServer();
  const children: Child[] = [];
  const profileDir = opts.profile ? join(dataDir, 'profiles') : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const nodeArgs = (entry: string) => [
    YOUNG_GENERATION_FLAG, // as `npm start` (src/heap.ts)
    '--import', 'tsx',
    ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
    entry,
  ];
  // One process per service (the orchestrator K times), or all of them in one; named as reported.
  const k = opts.instances;
  const p = opts.partitions;
  const partitioned = (s: string) => p > 1 && (partitionedServices as readonly string[]).includes(s);
  const processesOf = (s: string) => (s === 'checkout' || partitioned(s) ? k : 1);
  // Every process routes by the same PARTITIONS (the gateway and the orchestrator too).
  const partitionEnv = p > 1 ? { PARTITIONS: String(p) } : {};
  const instanceName = (service: string, i: number) => (i === 0 ? service : `${service}-${i + 1}`);
  const groups: { name: string; services: string }[] =
    opts.procs === 'single'
      ? [{ name: 'services', services: backendServices.join(',') }]
      : backendServices.flatMap((s) => Array.from({ length: processesOf(s) }, (_, i) => ({ name: instanceName(s, i), services: s })));
  const dirOf = (name: string) => join(dataDir, opts.procs === 'single' ? 'all' : name);
  let transport: Transport | undefined;
  try {
    for (const { name, services } of groups) {
      children.push(
        spawnChild(name, process.execPath, nodeArgs('src/main.ts'), {
          ...process.env, ...env, ...partitionEnv, NATS_URL: nats.url, SERVICES: services, DATA_DIR: dirOf(name),
        }, opts.logs ? join(dataDir, `${name}.log`) : undefined),
      );
    }
    const httpUrls: string[] = [];
    for (let i = 0; opts.entry === 'http' && i < k; i++) {
      const port = await freePort();
      const name = instanceName('gateway', i);
      children.push(
        // The gateway alone (src/main.ts, SERVICES=gateway). Its per-client rate limit is for shoppers;
        // the bench is one client standing in for thousands, so the limit is raised (the limiter stays).
        spawnChild(name, process.execPath, nodeArgs('src/main.ts'), {
          ...process.env, ...env, NATS_URL: nats.url, SERVICES: 'gateway', HOST: '127.0.0.1', PORT: String(port),
          DATA_DIR: join(dataDir, name), RATE_LIMIT_PER_MINUTE: String(benchGatewayConfig.rateLimit.max),
          GATEWAY_INSTANCES: String(k), ...partitionEnv,
        }),
      );
      httpUrls.push(`http://127.0.0.1:${port}`);
    }
    const t = await connectNats({ servers: nats.url, user: 'gateway', pass: 'gateway-dev-secret', name: 'bench' });
    transport = t;
    for (const s of backendServices) {
      await waitUntil(`${s} answering its ping`, async () => {
        await t.request(pingSubject(s), '{}', { timeoutMs: 500 });
        return true;
      }, children);
    }
    for (const url of httpUrls) {
      await waitUntil(`the gateway at ${url} listening`, async () => (await fetch(`${url}/healthz`)).ok, children);
    }
    const auditDirs = {
      inventory: dirOf('inventory'),
      payment: dirOf('payment') as string | string[],
      order: dirOf('order') as string | string[],
      checkout: opts.procs === 'single' ? [dirOf('checkout')] : Array.from({ length: k }, (_, i) => dirOf(instanceName('checkout', i))),
    };
    /** Partitioned: the directory of the process holding each partition's lease now. */
    const partitionHolders = async (service: string): Promise<(string | undefined)[]> => {
      const admin = await connectNats({ servers: nats.url, user: 'admin', pass: 'admin-dev-secret', name: 'bench-leases' });
      try {
        const kv = await admin.kv(Bucket.journalLeases);
        const dirs = Array.from({ length: k }, (_, i) => dirOf(instanceName(service, i)));
        const byOwner = new Map(dirs.map((d) => [readFileSync(join(d, 'slot-owner'), 'utf8').trim(), d]));
        return await Promise.all(Array.from({ length: p }, async (_, slot) => {
          const e = await kv.get(leaseKey(service, `slot-${slot}`));
          return e ? byOwner.get((JSON.parse(e.value) as { owner: string }).owner) : undefined;
        }));
      } finally {
        await admin.drain();
      }
    };
    /** The audit reads each partition's store at the process holding its lease at the end. */
    const partitionStores = async (service: 'payment' | 'order'): Promise<string[]> =>
      (await partitionHolders(service)).map((dir, slot) => {
        if (!dir) throw new Error(`nobody holds ${service} partition ${slot}`);
        return join(dir, `${service}-slot-${slot}.db`);
      });
    // The processes share the partitions before anything is measured (a joiner gets its share a TTL at a time).
    for (const s of p > 1 && k > 1 ? partitionedServices : []) {
      await waitUntil(`${s}'s ${p} partitions shared by ${k} processes`, async () => {
        const holders = await partitionHolders(s);
        if (holders.includes(undefined)) return false;
        const counts = [...new Set(holders)].map((d) => holders.filter((h) => h === d).length);
        return counts.length === Math.min(k, p) && counts.every((c) => c <= Math.ceil(p / k));
      }, children);
    }
    return {
      transport: t,
      httpUrls,
      processes: [{ name: 'nats-server', pid: nats.pid }, ...children.map((c): ProcessRef => ({ name: c.name, pid: c.proc.pid ?? 0 }))],
      auditDirs,
      profileDir,
      async stop() {
        await t.drain();
        if (p > 1) {
          auditDirs.payment = await partitionStores('payment');
          auditDirs.order = await partitionStores('order');
        }
        // Callers first, as system.stop() does: gateway, then sagas and carts, then participants.
        for (const c of [...children].reverse()) await stopChild(c);
        await nats.stop();
      },
    };
  } catch (err) {
    await transport?.drain().catch(() => undefined);
    for (const c of children) await stopChild(c, 2_000);
    await nats.stop();
    throw err;
  }
}

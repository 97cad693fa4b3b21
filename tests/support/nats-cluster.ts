/**
 * A throwaway 3-node nats-server cluster for a test: nats-cluster.conf (nats.conf's users and
 * permissions plus authenticated routes), free loopback ports for clients and routes, a JetStream
 * store per node. A node can be killed and started again on its own store, as a machine that
 * reboots. A missing binary is an error, never a skip (see nats-server.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectNats } from '../../src/runtime/transport/nats.ts';
import { findNatsServer, freePort } from './nats-server.ts';

export const clusterNatsConfig = fileURLToPath(new URL('../../nats-cluster.conf', import.meta.url));
const ROUTE_USER = 'route:route-dev-secret';

export interface ClusterNode {
  name: string;
  port: number;
  routePort: number;
  url: string;
  storeDir: string;
  /** Whether its process is running. */
  running(): boolean;
}

export interface NatsClusterHandle {
  nodes: readonly ClusterNode[];
  /** Every node's client URL, comma-separated: what NATS_URL takes. */
  url: string;
  /** The servers as a list, for connectNats. */
  servers: string[];
  log(node: number): string;
  /** SIGKILLs one node (its store stays). */
  kill(node: number): Promise<void>;
  /** Starts a killed node again on its store and waits for its client port. */
  restart(node: number): Promise<void>;
  stop(): Promise<void>;
}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
  log: string;
}

export async function startNatsCluster(opts: { size?: number; readyTimeoutMs?: number } = {}): Promise<NatsClusterHandle> {
  const bin = findNatsServer();
  if (!bin) {
    const where = process.env.CI === 'true' ? 'CI must provide it' : 'install it to run this test';
    throw new Error(`nats-server not found on PATH or at /usr/sbin/nats-server (${where}, e.g. apt-get install nats-server)`);
  }
  const size = opts.size ?? 3;
  const root = await mkdtemp(join(tmpdir(), 'nats-cluster-'));
  const nodes: ClusterNode[] = [];
  const procs: (Running | undefined)[] = [];
  for (let i = 0; i < size; i++) {
    const port = await freePort();
    const routePort = await freePort();
    nodes.push({ name: `n${i + 1}`, port, routePort, url: `nats://127.0.0.1:${port}`, storeDir: join(root, `n${i + 1}`), running: () => procs[i] !== undefined });
  }
  const start = (i: number): Running => {
    const n = nodes[i]!;
    const routes = nodes.filter((o) => o !== n).map((o) => `nats://${ROUTE_USER}@127.0.0.1:${o.routePort}`).join(',');
    const child = spawn(bin, ['-c', clusterNatsConfig, '-n', n.name, '-a', '127.0.0.1', '-p', String(n.port), '-cluster', `nats://127.0.0.1:${n.routePort}`, '-routes', routes, '-js', '-sd', n.storeDir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const r: Running = { child, exited: new Promise((resolve) => child.once('exit', () => resolve())), log: '' };
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      r.log = (r.log + chunk).slice(-200_000);
    });
    void r.exited.then(() => {
      if (procs[i] === r) procs[i] = undefined;
    });
    return r;
  };
  const logs: string[] = nodes.map(() => '');
  for (let i = 0; i < size; i++) procs[i] = start(i);
  const handle: NatsClusterHandle = {
    nodes,
    url: nodes.map((n) => n.url).join(','),
    servers: nodes.map((n) => n.url),
    log: (i) => logs[i]! + (procs[i]?.log ?? ''),
    async kill(i) {
      const r = procs[i];
      if (!r) return;
      logs[i] += r.log;
      r.child.kill('SIGKILL');
      await r.exited;
      procs[i] = undefined;
    },
    async restart(i) {
      if (procs[i]) return;
      procs[i] = start(i);
      await waitForJetStream([nodes[i]!.url], opts.readyTimeoutMs ?? 30_000);
    },
    async stop() {
      await Promise.all(
        procs.map(async (r) => {
          if (!r) return;
          r.child.kill('SIGTERM');
          const t = setTimeout(() => r.child.kill('SIGKILL'), 5_000);
          await r.exited;
          clearTimeout(t);
        }),
      );
      await rm(root, { recursive: true, force: true });
    },
  };
  try {
    await waitForJetStream(handle.servers, opts.readyTimeoutMs ?? 30_000);
  } catch (err) {
    const logsNow = nodes.map((_, i) => handle.log(i)).join('\n');
    await handle.stop();
    throw new Error(`nats cluster did not start: ${(err as Error).message}\n${logsNow}`);
  }
  return handle;
}

/**
 * Waits until the cluster's JetStream answers through these servers: a meta leader is elected and
 * an R1 bucket can be created (the admin user's, in a bucket of its own).
 */
async function waitForJetStream(servers: string[], timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const t = await connectNats({ servers, user: 'admin', pass: 'admin-dev-secret', name: 'cluster-probe', onError: () => undefined });
      try {
        const jsm = await (await import('@nats-io/jetstream')).jetstreamManager(t.nc, { checkAPI: false });
        await jsm.getAccountInfo();
        return;
      } finally {
        await t.drain();
      }
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`JetStream not ready after ${timeoutMs} ms: ${String(last)}`);
}

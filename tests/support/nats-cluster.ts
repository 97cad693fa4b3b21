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
import { startTcpProxy, type CutMode, type TcpProxy } from './tcp-proxy.ts';

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
  /** A running node's process id (to read its CPU time and memory from /proc), else undefined. */
  pid(node: number): number | undefined;
  /**
   * With `routeProxies`: cuts every route of one node (the minority of one), silently or by reset;
   * its clients stay connected to it.
   */
  isolate(node: number, mode: CutMode): void;
  /** Restores every cut route (what a silent cut held is delivered). */
  heal(): void;
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

/**
 * `routeProxies`: every route goes through a tcp-proxy.ts proxy, so a test can partition the nodes:
 * node i solicits node j through a proxy of its own for the pair, and each node advertises an
 * unreachable cluster address, so that no node learns a peer's real route port by gossip and
 * connects around the proxies. `noAdvertise`: clients are not told the other nodes' URLs, so a
 * client reaches only the servers it was given (through proxies, say).
 */
type ClusterOptions = { size?: number; readyTimeoutMs?: number; routeProxies?: boolean; noAdvertise?: boolean };

/**
 * Starts a cluster, and starts it afresh once if it is not ready in time. nats-server 2.9.10's
 * nodes, dialling each other at once, close both of a pair's connections as "Duplicate Route" now
 * and then; once (the fresh-clone CI of 1d08e2a, under the whole suite's load) a cluster so
 * started still refused an R3 stream ("no suitable peers for placement") 30 s later. That is the
 * server's start-up, not what a test is about: a second start, on new ports, gets past it.
 */
export async function startNatsCluster(opts: ClusterOptions = {}): Promise<NatsClusterHandle> {
  try {
    return await startNatsClusterOnce(opts);
  } catch (err) {
    console.warn(`nats cluster did not start; starting it afresh: ${(err as Error).message.split('\n')[0]}`);
    return startNatsClusterOnce(opts);
  }
}

async function startNatsClusterOnce(opts: ClusterOptions): Promise<NatsClusterHandle> {
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
  /** With routeProxies: node i's way to node j, by `${i}-${j}`, forwarding to node j's route port. */
  const routeProxies = new Map<string, TcpProxy>();
  if (opts.routeProxies) {
    for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) if (i !== j) routeProxies.set(`${i}-${j}`, await startTcpProxy({ port: nodes[j]!.routePort }));
  }
  const start = (i: number): Running => {
    const n = nodes[i]!;
    const routeArgs = (): string[] => {
      if (!opts.routeProxies) return ['-routes', nodes.filter((o) => o !== n).map((o) => `nats://${ROUTE_USER}@127.0.0.1:${o.routePort}`).join(',')];
      // Every node needs routes of its own (JetStream's cluster will not start without); the server
      // keeps one of the two routes each pair makes. Port 1: nobody listens there, so a route learnt
      // by gossip is refused instead of bypassing the proxies.
      const solicited = nodes.flatMap((_, j) => (j !== i ? [`nats://${ROUTE_USER}@127.0.0.1:${routeProxies.get(`${i}-${j}`)!.port}`] : []));
      return ['-routes', solicited.join(','), '--cluster_advertise', '127.0.0.1:1'];
    };
    const child = spawn(bin, ['-c', clusterNatsConfig, '-n', n.name, '-a', '127.0.0.1', '-p', String(n.port), '-cluster', `nats://127.0.0.1:${n.routePort}`, ...routeArgs(), ...(opts.noAdvertise ? ['--no_advertise=true'] : []), '-js', '-sd', n.storeDir], {
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
    pid: (i) => procs[i]?.child.pid,
    isolate(node, mode) {
      if (!opts.routeProxies) throw new Error('isolate needs a cluster started with routeProxies');
      for (const [pair, proxy] of routeProxies) if (pair.split('-').map(Number).includes(node)) proxy.cut(mode);
    },
    heal() {
      for (const proxy of routeProxies.values()) proxy.heal();
    },
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
      await Promise.all([...routeProxies.values()].map((p) => p.close()));
      await rm(root, { recursive: true, force: true });
    },
  };
  try {
    await waitForJetStream(handle.servers, opts.readyTimeoutMs ?? 30_000, size);
  } catch (err) {
    const logsNow = nodes.map((_, i) => handle.log(i)).join('\n');
    await handle.stop();
    throw new Error(`nats cluster did not start: ${(err as Error).message}\n${logsNow}`);
  }
  return handle;
}

/**
 * Waits until the cluster's JetStream answers through these servers: a meta leader is elected and
 * the account's JetStream info comes back and, when `replicas` is above 1, a stream of that many
 * replicas can be placed (made in memory and deleted). The meta leader answers before every peer
 * has reported to it, and a test's first R3 stream made in that window is refused with "no
 * suitable peers for placement" (seen once in netsplit.test's setup). Each try waits 1 s for its
 * answer: asked before the election (about 0.3 s after the start here), JetStream never answers,
 * and with nats.js's default 5 s API timeout every cluster start took 5.4 s instead of under 1 s.
 */
async function waitForJetStream(servers: string[], timeoutMs: number, replicas = 1): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const t = await connectNats({ servers, user: 'admin', pass: 'admin-dev-secret', name: 'cluster-probe', onError: () => undefined });
      try {
        const { jetstreamManager, StorageType } = await import('@nats-io/jetstream');
        const jsm = await jetstreamManager(t.nc, { checkAPI: false, timeout: 1_000 });
        await jsm.getAccountInfo();
        if (replicas > 1) {
          // The same name and configuration each try, so a try whose answer was lost is harmless.
          await jsm.streams.add({ name: 'cluster-probe', subjects: ['cluster-probe'], num_replicas: replicas, storage: StorageType.Memory });
          await jsm.streams.delete('cluster-probe');
        }
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

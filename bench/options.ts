/**
 * The bench's command line. Every flag has a default that gives a meaningful run, so
 * `npm run bench` alone measures the embedded system at C=64.
 */
import type { Synchronous } from '../src/runtime/store.ts';

export type Mode = 'embedded' | 'nats';
export type Entry = 'bus' | 'http';

export interface BenchOptions {
  mode: Mode;
  entry: Entry;
  /** Measured checkouts per run. */
  n: number;
  /** Closed loop: checkouts in flight, each worker waiting for its checkout's final state. */
  concurrency: number;
  /** Open loop: checkouts started per second, whatever the system does (overrides concurrency). */
  rate: number | undefined;
  /** Checkouts run first and not measured, so that the JIT and caches are warm. */
  warmup: number;
  sweep: boolean;
  limits: boolean;
  /** Rounds of the failover measurement (0: none); on a 3-node cluster with `cluster`. */
  failover: number;
  cluster: boolean;
  sync: Synchronous;
  /** Share of checkouts that fail by design: half declined payments, half out of stock. */
  failShare: number;
  products: number;
  /** nats mode: one process per service, or every service in one process. */
  procs: 'per-service' | 'single';
  /** nats mode: processes of the orchestrator and of the gateway, and of each partitioned participant with --partitions. */
  instances: number;
  /** nats mode: partitions of the cart, promotion, payment and order services (PARTITIONS), shared by their K processes. */
  partitions: number;
  /** Embedded: service worker threads (EMBEDDED_THREADS); 0 runs every service on the main thread. */
  threads: number;
  /** Write CPU profiles and print where the time went, by component. */
  profile: boolean;
  json: boolean;
  /** Seconds to wait for stragglers after the last checkout was accepted. */
  settleTimeoutS: number;
  seed: number;
  keepData: boolean;
  /** nats mode: every process logs at info into `<data dir>/<name>.log` (the checkpoints' costs, say); implies keepData. */
  logs: boolean;
  /**
   * Measured carts filled ahead of their checkouts. A longer run fills and checks out one segment
   * of this many after another, so its open carts (and the memory they hold) do not grow with -n.
   */
  openCarts: number;
  /** Embedded: a file for a JSON line of the process's memory every 10 s (bench/memory-trace.ts). */
  memoryTrace: string | undefined;
  /** With memoryTrace: checkouts final at which to write a heap snapshot beside the trace. */
  heapSnapshots: number[];
}

export const defaultOptions: BenchOptions = {
  mode: 'embedded',
  entry: 'bus',
  n: 5_000,
  concurrency: 64,
  rate: undefined,
  warmup: 300,
  sweep: false,
  limits: false,
  failover: 0,
  cluster: false,
  sync: 'FULL',
  failShare: 0.1,
  products: 1_000,
  procs: 'per-service',
  instances: 1,
  partitions: 1,
  threads: 0,
  profile: false,
  json: false,
  settleTimeoutS: 60,
  seed: 42,
  keepData: false,
  logs: false,
  openCarts: 5_000,
  memoryTrace: undefined,
  heapSnapshots: [],
};

export const usage = `npm run bench -- [options]
  --mode embedded|nats     one process on the in-process transport, or services as processes over nats-server (embedded)
  --entry bus|http         checkouts over the transport as the gateway user, or through the HTTP gateway (bus)
  -n N                     measured checkouts per run (5000)
  -c C                     closed loop: C checkouts in flight end to end (64)
  --rate R                 open loop: R checkouts started per second
  --warmup W               unmeasured checkouts first (300)
  --sweep                  one run each at C = 1, 8, 64, 256 (C=1 runs at most 1000 checkouts)
  --limits                 raw NATS request/reply/s and SQLite commits/s on this machine
  --failover R             only: R rounds of killing a consumer mid-work; p50/p99 of the time until its events resume elsewhere
  --cluster                with --failover: on a 3-node nats-server cluster, streams at R3
  --sync NORMAL|FULL       SQLite synchronous for the service stores (FULL, the system default)
  --fail-share F           share of checkouts that fail by design, half declined, half out of stock (0.1)
  --products P             catalog size (1000)
  --procs per-service|single   nats mode: process layout (per-service)
  --instances K            nats mode, per-service: K orchestrator and K gateway processes; HTTP spread over the gateways (1)
  --partitions P           nats mode: PARTITIONS=P; cart, promotion, payment and order run K processes each sharing P partitions (1)
  --threads T              embedded mode: spread the services over T worker threads (0: all on the main thread)
  --profile                CPU-profile the system and print where the time goes
  --settle-timeout S       seconds to wait for unfinished checkouts (60)
  --seed S                 workload PRNG seed (42)
  --keep-data              keep the temp data dir
  --logs                   nats mode: each process logs at info into <data dir>/<name>.log (implies --keep-data)
  --open-carts W           measured carts filled ahead of their checkouts; a longer run goes W at a time (5000)
  --memory-trace FILE      embedded: the process's memory every 10 s, as JSON lines into FILE (node --expose-gc: the live heap every minute)
  --heap-snapshots N,M     with --memory-trace: a heap snapshot beside FILE when N, then M checkouts are final
  --json                   JSON lines only on stdout (always printed; this silences the table)`;

export function parseArgs(argv: readonly string[]): BenchOptions {
  const o: BenchOptions = { ...defaultOptions };
  const args = [...argv];
  const value = (flag: string): string => {
    const v = args.shift();
    if (v === undefined) throw new Error(`${flag} needs a value`);
    return v;
  };
  const num = (flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const v = Number(value(flag));
    if (!Number.isFinite(v) || v < min || v > max) throw new Error(`${flag} must be a number from ${min} to ${max}`);
    return v;
  };
  while (args.length > 0) {
    const flag = args.shift()!;
    switch (flag) {
      case '--mode': {
        const m = value(flag);
        if (m !== 'embedded' && m !== 'nats') throw new Error('--mode must be embedded or nats');
        o.mode = m;
        break;
      }
      case '--entry': {
        const e = value(flag);
        if (e !== 'bus' && e !== 'http') throw new Error('--entry must be bus or http');
        o.entry = e;
        break;
      }
      case '-n': o.n = Math.round(num(flag, 1)); break;
      case '-c': o.concurrency = Math.round(num(flag, 1, 10_000)); o.rate = undefined; break;
      case '--rate': o.rate = num(flag, 1, 100_000); break;
      case '--warmup': o.warmup = Math.round(num(flag, 0)); break;
      case '--sweep': o.sweep = true; break;
      case '--limits': o.limits = true; break;
      case '--failover': o.failover = Math.round(num(flag, 1, 1_000)); break;
      case '--cluster': o.cluster = true; break;
      case '--sync': {
        const s = value(flag).toUpperCase();
        if (s !== 'NORMAL' && s !== 'FULL') throw new Error('--sync must be NORMAL or FULL');
        o.sync = s;
        break;
      }
      case '--fail-share': o.failShare = num(flag, 0, 1); break;
      case '--products': o.products = Math.round(num(flag, 10, 1_000_000)); break;
      case '--procs': {
        const p = value(flag);
        if (p !== 'per-service' && p !== 'single') throw new Error('--procs must be per-service or single');
        o.procs = p;
        break;
      }
      case '--instances': o.instances = Math.round(num(flag, 1, 8)); break;
      case '--partitions': o.partitions = Math.round(num(flag, 1, 8)); break;
      case '--threads': o.threads = Math.round(num(flag, 0, 6)); break;
      case '--profile': o.profile = true; break;
      case '--settle-timeout': o.settleTimeoutS = num(flag, 1); break;
      case '--seed': o.seed = Math.round(num(flag, 0)); break;
      case '--keep-data': o.keepData = true; break;
      case '--logs': o.logs = o.keepData = true; break;
      case '--open-carts': o.openCarts = Math.round(num(flag, 1)); break;
      case '--memory-trace': o.memoryTrace = value(flag); break;
      case '--heap-snapshots': o.heapSnapshots = value(flag).split(',').map((v) => Math.round(Number(v))); break;
      case '--json': o.json = true; break;
      case '-h':
      case '--help':
        throw new HelpRequested();
      default:
        throw new Error(`unknown option ${flag}`);
    }
  }
  if (o.instances > 1 && (o.mode !== 'nats' || o.procs !== 'per-service')) {
    throw new Error('--instances needs --mode nats with one process per service (--procs per-service)');
  }
  if (o.partitions > 1 && (o.mode !== 'nats' || o.procs !== 'per-service')) {
    throw new Error('--partitions needs --mode nats with one process per service (--procs per-service)');
  }
  if (o.memoryTrace !== undefined && o.mode !== 'embedded') throw new Error('--memory-trace needs --mode embedded: the bench process is the system');
  if (o.heapSnapshots.some((v) => !Number.isFinite(v) || v < 0)) throw new Error('--heap-snapshots takes checkout counts, N,M');
  return o;
}

export class HelpRequested extends Error {
  override readonly name = 'HelpRequested';
}

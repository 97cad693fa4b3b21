/** The JSON line a run prints, one per run, for machines (and for docs/benchmarks.md). */
import { cpus, loadavg } from 'node:os';
import type { LatencySummary } from './stats.ts';

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  node: string;
  loadAverage: number[];
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    cpus: c.length,
    cpuModel: c[0]?.model ?? 'unknown',
    node: process.version,
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export interface RunResult {
  bench: 'checkout';
  date: string;
  mode: 'embedded' | 'nats';
  entry: 'bus' | 'http';
  /** 'in-process', `${n} threads` (embedded), 'per-service' or 'single' (nats). */
  procs: string;
  /** nats mode: orchestrator and gateway processes (--instances), and of each partitioned participant with --partitions. */
  instances: number;
  /** nats mode: partitions of cart, promotion, payment and order (--partitions). */
  partitions: number;
  sync: 'NORMAL' | 'FULL';
  loop: 'closed' | 'open';
  concurrency: number | null;
  rate: number | null;
  n: number;
  warmup: number;
  failShare: number;
  products: number;
  durationS: number;
  checkoutsPerSecond: number;
  /** Accepted (checkout-cart reply) to final status. */
  latencyMs: LatencySummary;
  /** Start (scheduled start in an open loop) to the checkout-cart reply. */
  acceptMs: LatencySummary;
  confirmed: number;
  cancelled: number;
  needsAttention: number;
  /** Cancelled by one of the saga's deadlines (a step took too long, as under overload), then compensated. */
  deadlineCancelled: number;
  /** Accepted, but not final within the settle timeout. */
  unfinished: number;
  /** The checkout call itself failed (timeout, 5xx). */
  refused: number;
  cpuSeconds: Record<string, number>;
  /**
   * Each process's CPU seconds per second of the measured phase: the share of one core it kept
   * busy. A Node process near 1.0 has saturated its one JS thread; its service is the next limit.
   */
  coresBusy: Record<string, number>;
  cpuSecondsPer1000: number;
  /** Read/write syscalls (SQLite's pread/pwrite, sockets) and KiB written per checkout, all processes. */
  ioPerCheckout?: { readCalls: number; writeCalls: number; writtenKiB: number };
  peakRssMiB: { total: number; byProcess: Record<string, number> };
  /** Every checkout final with its planned outcome, and the stores' invariants hold. */
  correct: boolean;
  problems: string[];
  limitRatios?: Record<string, number>;
  profile?: Record<string, number>;
  /** With --profile, embedded on one thread: JSON.parse/stringify timed by wrapping them (also inside `profile`'s components). */
  jsonCost?: { callsPerCheckout: number; usPerCheckout: number; pctOfBusy: number };
  machine: MachineInfo;
}

/**
 * One measured run: a fresh system in a temp dir, carts filled (untimed), a warm-up, the measured
 * phase, a graceful stop, then the correctness check against the stores. A run longer than
 * `--open-carts` fills its carts a segment at a time, each just before its checkouts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { audit } from '../tests/support/shop.ts';
import { benchPartitions, busEntry, drive, fillCarts, httpEntry, Tracker, type Load, type PhaseResult, type Track } from './driver.ts';
import type { BenchOptions } from './options.ts';
import { cpuBetween, cpuSnapshot, ioSnapshot, peakRss, round, type IoCounters } from './procstat.ts';
import { monotonicUs, startCpuProfile, startJsonMeter, summarizeProfileDir, type ProfileSummary } from './profile.ts';
import { startMemoryTrace, type MemoryTrace } from './memory-trace.ts';
import { Progress } from './report.ts';
import { machineInfo, type RunResult } from './result.ts';
import { LatencyHistogram } from './stats.ts';
import { startNats } from './sut-nats.ts';
import { startEmbedded, type SystemEnv, type SystemUnderTest } from './sut.ts';
import { makeWorkload, verdict, type CheckoutPlan } from './workload.ts';

export interface RunOutput {
  result: RunResult;
  profile: ProfileSummary | undefined;
}

export async function runCheckouts(opts: BenchOptions, load: Load, n: number): Promise<RunOutput> {
  const dataDir = mkdtempSync(join(tmpdir(), 'poa-bench-'));
  const workload = makeWorkload({ products: opts.products, checkouts: opts.warmup + n, failShare: opts.failShare, seed: opts.seed });
  const seedFile = join(dataDir, 'seed.json');
  writeFileSync(seedFile, JSON.stringify(workload.seed));
  const env: SystemEnv = {
    SEED_FILE: seedFile,
    SQLITE_SYNCHRONOUS: opts.sync,
    PAYMENT_DECLINE_CUSTOMERS: workload.declineCustomers.join(','),
    LOG_LEVEL: opts.logs ? 'info' : 'warn',
    ...(opts.mode === 'embedded' && opts.threads > 0 ? { EMBEDDED_THREADS: String(opts.threads) } : {}),
    ...(process.env.HEAP_GROWING_PERCENT !== undefined ? { HEAP_GROWING_PERCENT: process.env.HEAP_GROWING_PERCENT } : {}),
  };
  const say = (msg: string) => {
    if (!opts.json) process.stderr.write(`${msg}\n`);
  };
  const progress = !opts.json;
  const label = load.kind === 'closed' ? `C=${load.concurrency}` : `R=${load.rate}/s`;
  say(`\n${opts.mode}/${opts.entry} ${label}: starting the system (${join(dataDir)})`);

  const sut: SystemUnderTest = opts.mode === 'embedded' ? await startEmbedded(join(dataDir, 'system'), env, opts.entry) : await startNats(dataDir, env, opts);
  let stopped = false;
  const tracker = new Tracker();
  const totals = new MeasuredTotals();
  let trace: MemoryTrace | undefined;
  try {
    if (opts.memoryTrace !== undefined) {
      trace = startMemoryTrace({
        file: opts.memoryTrace,
        dataDir: join(dataDir, 'system'),
        finals: () => tracker.finals,
        driver: () => ({ tracks: tracker.size, latencies: totals.latencies.count, problems: totals.problems.length }),
        snapshotsAt: opts.heapSnapshots,
        ...(sut.timers ? { timers: sut.timers } : {}),
      });
    }
    await tracker.start(sut.transport);
    const fill = async (plans: readonly CheckoutPlan[]) => {
      let filled = 0;
      const bar = new Progress('setup carts', plans.length, () => ({ started: filled, accepted: filled, final: filled }), progress);
      await fillCarts(sut.transport, plans, 64, () => filled++, benchPartitions(opts.partitions));
      bar.done();
    };
    // At most `openCarts` measured carts are filled ahead of their checkouts, as shoppers arrive
    // over a day rather than all before it: a run of any length holds the same number of open carts.
    const warm = workload.nextPlans(opts.warmup);
    let segment = workload.nextPlans(Math.min(n, opts.openCarts));
    await fill([...warm, ...segment]);

    const maxSockets = load.kind === 'closed' ? load.concurrency : 512;
    const entry = opts.entry === 'http' ? httpEntry(sut.httpUrls, maxSockets) : busEntry(sut.transport, benchPartitions(opts.partitions));
    const settleMs = opts.settleTimeoutS * 1000;
    if (warm.length > 0) {
      const warmLoad: Load = load.kind === 'closed' ? { kind: 'closed', concurrency: Math.max(8, Math.min(64, load.concurrency)) } : load;
      const base = { a: tracker.accepted, f: tracker.finals };
      const bar = new Progress('warm-up', warm.length, () => ({ started: 0, accepted: tracker.accepted - base.a, final: tracker.finals - base.f }), progress);
      tracker.forget((await drive(warm, warmLoad, entry, tracker, settleMs)).tracks);
      bar.done();
    }

    const fromUs = monotonicUs();
    const profiler = opts.profile && opts.mode === 'embedded' ? await startCpuProfile() : undefined;
    // Worker threads have their own JSON: the meter sees the main thread's only, so only without them.
    const jsonMeter = profiler && opts.threads === 0 ? startJsonMeter() : undefined;
    // The measured phase, one segment of filled carts after another. Only the checkouts count: the
    // time, CPU and I/O of each segment are taken around its checkouts, and the fill of the next
    // segment (and a pause for the journals' checkpoint of it) falls between two of them.
    for (let done = 0; segment.length > 0; ) {
      const cpu0 = cpuSnapshot(sut.processes);
      const io0 = ioSnapshot(sut.processes);
      const base = { a: tracker.accepted, f: tracker.finals };
      const bar = new Progress(n > segment.length ? `measured ${done + segment.length}/${n}` : 'measured', segment.length, () => ({ started: 0, accepted: tracker.accepted - base.a, final: tracker.finals - base.f }), progress);
      const phase = await drive(segment, load, entry, tracker, settleMs);
      bar.done();
      totals.add(phase, cpuBetween(cpu0, cpuSnapshot(sut.processes)), io0, ioSnapshot(sut.processes));
      tracker.forget(phase.tracks);
      done += segment.length;
      segment = workload.nextPlans(Math.min(opts.openCarts, n - done));
      if (segment.length > 0) {
        await fill(segment);
        await new Promise((r) => setTimeout(r, FILL_SETTLE_MS));
      }
    }
    const window = { fromUs, toUs: monotonicUs() };
    const json = jsonMeter?.stop();
    const embeddedProfile = await profiler?.stop();
    if (embeddedProfile && json) embeddedProfile.json = { ...json, pct: Math.round((json.ms / embeddedProfile.busyMs) * 1000) / 10 };
    const rss = peakRss(sut.processes);
    trace?.stop();
    trace = undefined;
    entry.close();
    await tracker.stop();

    say('stopping the system and checking the stores');
    await sut.stop();
    stopped = true;
    const problems = totals.problems;
    problems.push(...audit(sut.auditDirs, workload.initialStock));
    const profile = embeddedProfile ?? (sut.profileDir ? summarizeProfileDir(sut.profileDir, window) : undefined);

    const elapsedS = totals.elapsedMs / 1000;
    const cpuSeconds = Object.fromEntries(Object.entries(totals.cpuSeconds).map(([k, v]) => [k, round(v, 3)]));
    const cpuTotal = Object.values(totals.cpuSeconds).reduce((a, b) => a + b, 0);
    const byProcess = rss;
    const result: RunResult = {
      bench: 'checkout',
      date: new Date().toISOString(),
      mode: opts.mode,
      entry: opts.entry,
      procs: opts.mode === 'embedded' ? (opts.threads > 0 ? `${opts.threads} threads` : 'in-process') : opts.procs,
      instances: opts.instances,
      partitions: opts.partitions,
      sync: opts.sync,
      loop: load.kind,
      concurrency: load.kind === 'closed' ? load.concurrency : null,
      rate: load.kind === 'open' ? load.rate : null,
      n,
      warmup: opts.warmup,
      failShare: opts.failShare,
      products: opts.products,
      durationS: round(elapsedS, 3),
      checkoutsPerSecond: round(totals.latencies.count / elapsedS, 1),
      latencyMs: totals.latencies.summary(),
      acceptMs: totals.accepts.summary(),
      ...totals.counts,
      cpuSeconds,
      coresBusy: Object.fromEntries(Object.entries(cpuSeconds).map(([k, v]) => [k, round(v / elapsedS, 2)])),
      cpuSecondsPer1000: round((cpuTotal / n) * 1000, 3),
      ioPerCheckout: {
        readCalls: round(totals.io.readCalls / n, 1),
        writeCalls: round(totals.io.writeCalls / n, 1),
        writtenKiB: round(totals.io.writtenBytes / n / 1024, 1),
      },
      peakRssMiB: { total: round(Object.values(byProcess).reduce((a, b) => a + b, 0), 1), byProcess },
      correct: problems.length === 0,
      problems: problems.slice(0, 20),
      ...(profile ? { profile: profile.byCategory } : {}),
      ...(profile?.json ? { jsonCost: { callsPerCheckout: round(profile.json.calls / n, 1), usPerCheckout: round((profile.json.ms * 1000) / n, 1), pctOfBusy: profile.json.pct ?? 0 } } : {}),
      machine: machineInfo(),
    };
    return { result, profile };
  } finally {
    trace?.stop();
    if (!stopped) await sut.stop().catch(() => undefined);
    if (!opts.keepData) rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Pause after a segment's carts are filled, so that the journals' checkpoint of them (every second) is not measured. */
const FILL_SETTLE_MS = 1_500;

type Counts = Pick<RunResult, 'confirmed' | 'cancelled' | 'needsAttention' | 'deadlineCancelled' | 'unfinished' | 'refused'>;

/**
 * The measured segments added up: what a run reports, without keeping every checkout's track, or
 * its latency: in embedded mode this is the measured process, and its size must not follow -n.
 */
class MeasuredTotals {
  readonly latencies = new LatencyHistogram();
  readonly accepts = new LatencyHistogram();
  readonly problems: string[] = [];
  readonly counts: Counts = { confirmed: 0, cancelled: 0, needsAttention: 0, deadlineCancelled: 0, unfinished: 0, refused: 0 };
  readonly cpuSeconds: Record<string, number> = {};
  readonly io: IoCounters = { readCalls: 0, writeCalls: 0, writtenBytes: 0 };
  elapsedMs = 0;

  add(phase: PhaseResult, cpu: Record<string, number>, io0: IoCounters, io1: IoCounters): void {
    this.elapsedMs += phase.elapsedMs;
    for (const [name, s] of Object.entries(cpu)) this.cpuSeconds[name] = (this.cpuSeconds[name] ?? 0) + s;
    this.io.readCalls += io1.readCalls - io0.readCalls;
    this.io.writeCalls += io1.writeCalls - io0.writeCalls;
    this.io.writtenBytes += io1.writtenBytes - io0.writtenBytes;
    const c = this.counts;
    for (const t of phase.tracks) {
      if (t.acceptedAt !== undefined) this.accepts.add(t.acceptedAt - t.startedAt);
      if (t.acceptedAt !== undefined && t.finalAt !== undefined) this.latencies.add(t.finalAt - t.acceptedAt);
      if (t.status === 'CONFIRMED') c.confirmed++;
      else if (t.status === 'CANCELLED') c.cancelled++;
      else if (t.status === 'NEEDS_ATTENTION') c.needsAttention++;
      if (t.status !== undefined && verdict(t.plan.expect, t.status, t.reason, t.detail) === 'deadline') c.deadlineCancelled++;
      if (t.acceptedAt !== undefined && t.finalAt === undefined) c.unfinished++;
      if (t.error !== undefined) c.refused++;
      const problem = problemOf(t);
      if (problem !== undefined) this.problems.push(problem);
    }
  }
}

/** Why a measured checkout is wrong: refused, not final, or not ending the way its plan says. */
function problemOf(t: Track): string | undefined {
  const id = t.plan.checkoutId;
  if (t.error !== undefined) return `checkout ${id} was refused: ${t.error}`;
  if (t.finalAt === undefined) return `checkout ${id} did not finish`;
  if (verdict(t.plan.expect, t.status!, t.reason, t.detail) === 'wrong') return `checkout ${id} planned ${t.plan.expect} ended ${t.status}/${t.detail ?? t.reason ?? '-'}`;
  return undefined;
}

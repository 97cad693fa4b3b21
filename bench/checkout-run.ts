/**
 * One measured run: a fresh system in a temp dir, carts filled (untimed), a warm-up, the measured
 * phase, a graceful stop, then the correctness check against the stores.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { audit } from '../tests/support/shop.ts';
import { benchPartitions, busEntry, drive, fillCarts, httpEntry, Tracker, type Load, type Track } from './driver.ts';
import type { BenchOptions } from './options.ts';
import { cpuBetween, cpuSnapshot, ioSnapshot, peakRss, round } from './procstat.ts';
import { monotonicUs, startCpuProfile, startJsonMeter, summarizeProfileDir, type ProfileSummary } from './profile.ts';
import { Progress } from './report.ts';
import { machineInfo, type RunResult } from './result.ts';
import { summarize } from './stats.ts';
import { startNats } from './sut-nats.ts';
import { startEmbedded, type SystemEnv, type SystemUnderTest } from './sut.ts';
import { makeWorkload, verdict } from './workload.ts';

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
    LOG_LEVEL: 'warn',
    ...(opts.mode === 'embedded' && opts.threads > 0 ? { EMBEDDED_THREADS: String(opts.threads) } : {}),
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
  try {
    await tracker.start(sut.transport);
    const warm = workload.plans.slice(0, opts.warmup);
    const measured = workload.plans.slice(opts.warmup);

    let filled = 0;
    const fillBar = new Progress('setup carts', workload.plans.length, () => ({ started: filled, accepted: filled, final: filled }), progress);
    await fillCarts(sut.transport, workload.plans, 64, () => filled++, benchPartitions(opts.partitions));
    fillBar.done();

    const maxSockets = load.kind === 'closed' ? load.concurrency : 512;
    const entry = opts.entry === 'http' ? httpEntry(sut.httpUrls, maxSockets) : busEntry(sut.transport, benchPartitions(opts.partitions));
    const settleMs = opts.settleTimeoutS * 1000;
    if (warm.length > 0) {
      const warmLoad: Load = load.kind === 'closed' ? { kind: 'closed', concurrency: Math.max(8, Math.min(64, load.concurrency)) } : load;
      const base = { a: tracker.accepted, f: tracker.finals };
      const bar = new Progress('warm-up', warm.length, () => ({ started: 0, accepted: tracker.accepted - base.a, final: tracker.finals - base.f }), progress);
      await drive(warm, warmLoad, entry, tracker, settleMs);
      bar.done();
    }

    const base = { a: tracker.accepted, f: tracker.finals };
    const cpu0 = cpuSnapshot(sut.processes);
    const io0 = ioSnapshot(sut.processes);
    const fromUs = monotonicUs();
    const profiler = opts.profile && opts.mode === 'embedded' ? await startCpuProfile() : undefined;
    // Worker threads have their own JSON: the meter sees the main thread's only, so only without them.
    const jsonMeter = profiler && opts.threads === 0 ? startJsonMeter() : undefined;
    const bar = new Progress('measured', measured.length, () => ({ started: 0, accepted: tracker.accepted - base.a, final: tracker.finals - base.f }), progress);
    const phase = await drive(measured, load, entry, tracker, settleMs);
    bar.done();
    const window = { fromUs, toUs: monotonicUs() };
    const json = jsonMeter?.stop();
    const embeddedProfile = await profiler?.stop();
    if (embeddedProfile && json) embeddedProfile.json = { ...json, pct: Math.round((json.ms / embeddedProfile.busyMs) * 1000) / 10 };
    const cpu1 = cpuSnapshot(sut.processes);
    const io1 = ioSnapshot(sut.processes);
    const rss = peakRss(sut.processes);
    entry.close();
    await tracker.stop();

    say('stopping the system and checking the stores');
    await sut.stop();
    stopped = true;
    const problems = check(phase.tracks);
    problems.push(...audit(sut.auditDirs, workload.initialStock));
    const profile = embeddedProfile ?? (sut.profileDir ? summarizeProfileDir(sut.profileDir, window) : undefined);

    const tracks = phase.tracks;
    const latencies = tracks.filter((t) => t.acceptedAt !== undefined && t.finalAt !== undefined).map((t) => Math.max(0, t.finalAt! - t.acceptedAt!));
    const accepts = tracks.filter((t) => t.acceptedAt !== undefined).map((t) => t.acceptedAt! - t.startedAt);
    const count = (status: string) => tracks.filter((t) => t.status === status).length;
    const cpuSeconds = cpuBetween(cpu0, cpu1);
    const cpuTotal = Object.values(cpuSeconds).reduce((a, b) => a + b, 0);
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
      durationS: round(phase.elapsedMs / 1000, 3),
      checkoutsPerSecond: round(latencies.length / (phase.elapsedMs / 1000), 1),
      latencyMs: summarize(latencies),
      acceptMs: summarize(accepts),
      confirmed: count('CONFIRMED'),
      cancelled: count('CANCELLED'),
      needsAttention: count('NEEDS_ATTENTION'),
      deadlineCancelled: tracks.filter((t) => t.status !== undefined && verdict(t.plan.expect, t.status, t.reason, t.detail) === 'deadline').length,
      unfinished: tracks.filter((t) => t.acceptedAt !== undefined && t.finalAt === undefined).length,
      refused: tracks.filter((t) => t.error !== undefined).length,
      cpuSeconds,
      coresBusy: Object.fromEntries(Object.entries(cpuSeconds).map(([k, v]) => [k, round(v / (phase.elapsedMs / 1000), 2)])),
      cpuSecondsPer1000: round((cpuTotal / n) * 1000, 3),
      ioPerCheckout: {
        readCalls: round((io1.readCalls - io0.readCalls) / n, 1),
        writeCalls: round((io1.writeCalls - io0.writeCalls) / n, 1),
        writtenKiB: round((io1.writtenBytes - io0.writtenBytes) / n / 1024, 1),
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
    if (!stopped) await sut.stop().catch(() => undefined);
    if (!opts.keepData) rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Every measured checkout accepted, final, and ending the way its plan says. */
function check(tracks: readonly Track[]): string[] {
  const problems: string[] = [];
  for (const t of tracks) {
    const id = t.plan.checkoutId;
    if (t.error !== undefined) problems.push(`checkout ${id} was refused: ${t.error}`);
    else if (t.finalAt === undefined) problems.push(`checkout ${id} did not finish`);
    else if (verdict(t.plan.expect, t.status!, t.reason, t.detail) === 'wrong') {
      problems.push(`checkout ${id} planned ${t.plan.expect} ended ${t.status}/${t.detail ?? t.reason ?? '-'}`);
    }
  }
  return problems;
}

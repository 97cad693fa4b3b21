/**
 * `npm run bench`: checkouts per second and end-to-end latency of Place an Order, embedded or over
 * NATS, entering over the bus or through the HTTP gateway. See docs/benchmarks.md for how to read
 * the figures and `npm run bench -- --help` for the flags.
 *
 * stdout: one JSON line per run (and one for `--limits`). stderr: progress and a table, for people.
 * Exit status 1 when any run failed its correctness check.
 */
import { runCheckouts } from './checkout-run.ts';
import { measureFailover } from './failover.ts';
import type { Load } from './driver.ts';
import { measureLimits, ratiosFor, type Limits } from './limits.ts';
import { HelpRequested, parseArgs, usage, type BenchOptions } from './options.ts';
import { formatProfile } from './profile.ts';
import { details, tableHeader, tableRow } from './report.ts';
import type { RunResult } from './result.ts';

const SWEEP = [1, 8, 64, 256] as const;
/** At C=1 a run is one checkout after another: cap it so that a sweep ends in reasonable time. */
const SWEEP_C1_MAX = 1_000;

async function main(opts: BenchOptions): Promise<number> {
  const say = (s: string) => {
    if (!opts.json) process.stderr.write(`${s}\n`);
  };
  if (opts.failover > 0) {
    const r = await measureFailover(opts.failover, opts.cluster, (s) => say(`  ${s}`));
    process.stdout.write(`${JSON.stringify(r)}\n`);
    say(`failover (${r.topology}, ack wait ${r.ackWaitMs} ms, ${r.held} held events over ${r.rounds} rounds): p50 ${r.resumeMs.p50} ms, p99 ${r.resumeMs.p99} ms, max ${r.resumeMs.max} ms`);
    return 0;
  }
  let limits: Limits | undefined;
  if (opts.limits) {
    say('measuring the limits of this machine (raw NATS request/reply, JetStream publish, SQLite commits)');
    limits = await measureLimits((s) => say(`  ${s}`));
    process.stdout.write(`${JSON.stringify(limits)}\n`);
    // `--limits` alone measures only the limits; with --sweep, -c or --rate the runs follow.
    const asked = process.argv.slice(2);
    if (!opts.sweep && !asked.some((a) => a === '-c' || a === '--rate' || a === '-n')) return 0;
  }

  const runs: Array<{ load: Load; n: number }> = opts.sweep
    ? SWEEP.map((c) => ({ load: { kind: 'closed', concurrency: c }, n: c === 1 ? Math.min(opts.n, SWEEP_C1_MAX) : opts.n }))
    : [{ load: opts.rate !== undefined ? { kind: 'open', rate: opts.rate } : { kind: 'closed', concurrency: opts.concurrency }, n: opts.n }];

  const results: RunResult[] = [];
  for (const { load, n } of runs) {
    const { result, profile } = await runCheckouts(opts, load, n);
    if (limits) result.limitRatios = ratiosFor(result, limits);
    results.push(result);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    say(`\n${tableHeader()}\n${tableRow(result)}\n${details(result)}`);
    if (profile) say(formatProfile(profile));
  }
  if (results.length > 1) say(`\n${tableHeader()}\n${results.map(tableRow).join('\n')}`);
  return results.every((r) => r.correct) ? 0 : 1;
}

let opts: BenchOptions;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  if (err instanceof HelpRequested) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  process.stderr.write(`${(err as Error).message}\n\n${usage}\n`);
  process.exit(2);
}
main(opts).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

/**
 * Turns the bench's JSON lines into the Markdown tables of docs/benchmarks.md:
 *   npx tsx bench/markdown.ts < results.jsonl
 */
import { readFileSync } from 'node:fs';
import type { Limits } from './limits.ts';
import type { RunResult } from './result.ts';

const lines = readFileSync(0, 'utf8').split('\n').filter((l) => l.trim().startsWith('{'));
const parsed = lines.map((l) => JSON.parse(l) as RunResult | Limits);
const limits = parsed.filter((r): r is Limits => r.bench === 'limits');
const runs = parsed.filter((r): r is RunResult => r.bench === 'checkout');

for (const l of limits) {
  process.stdout.write(
    [
      '| limit | per second |',
      '| --- | ---: |',
      `| NATS request/reply, raw nats.js, one reply subscription, 64 in flight | ${l.natsRequestReplyPerS.toLocaleString('en')} |`,
      `| NATS request/reply through NatsTransport (CloudEvents headers) | ${l.natsTransportRequestReplyPerS.toLocaleString('en')} |`,
      `| JetStream publish with ack, file storage, 64 in flight | ${l.jetstreamPublishPerS.toLocaleString('en')} |`,
      `| SQLite commits, WAL, 1 INSERT + 1 UPDATE, synchronous=NORMAL | ${l.sqliteCommitsPerS.NORMAL.toLocaleString('en')} |`,
      `| SQLite commits, WAL, 1 INSERT + 1 UPDATE, synchronous=FULL | ${l.sqliteCommitsPerS.FULL.toLocaleString('en')} |`,
      `| Store group commit, 64 writers, NORMAL (writes) | ${l.storeGroupCommitWritesPerS.NORMAL.toLocaleString('en')} |`,
      `| Store group commit, 64 writers, FULL (writes) | ${l.storeGroupCommitWritesPerS.FULL.toLocaleString('en')} |`,
      '',
      `Measured ${l.date}, load average ${l.machine.loadAverage.join(' / ')}.`,
      '',
      '',
    ].join('\n'),
  );
}

if (runs.length > 0) {
  const head =
    '| mode | entry | sync | load | checkouts/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | confirmed | cancelled | deadline | unfinished | CPU s / 1k | write syscalls / checkout | peak RSS MiB | correct | load avg (1 min) |';
  const rows = runs.map((r) =>
    [
      r.mode + (r.procs === 'single' ? ' (1 process)' : r.procs.endsWith('threads') ? ` (${r.procs})` : ''),
      r.entry,
      r.sync,
      r.loop === 'closed' ? `C=${r.concurrency}` : `${r.rate}/s`,
      r.checkoutsPerSecond.toFixed(1),
      r.latencyMs.p50.toFixed(0),
      r.latencyMs.p90.toFixed(0),
      r.latencyMs.p99.toFixed(0),
      r.latencyMs.p999.toFixed(0),
      r.latencyMs.max.toFixed(0),
      r.confirmed,
      r.cancelled,
      r.deadlineCancelled ?? 0,
      r.unfinished + r.refused,
      r.cpuSecondsPer1000.toFixed(2),
      r.ioPerCheckout ? r.ioPerCheckout.writeCalls.toFixed(0) : '–',
      r.peakRssMiB.total.toFixed(0),
      r.correct ? 'yes' : 'NO',
      r.machine.loadAverage[0],
    ].join(' | '),
  );
  process.stdout.write(`${head}\n|${' --- |'.repeat(19)}\n${rows.map((r) => `| ${r} |`).join('\n')}\n`);
}

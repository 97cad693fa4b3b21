/** What people see on stderr: a live progress bar while a phase runs, and a table per run. */
import type { RunResult } from './result.ts';

export class Progress {
  private timer: NodeJS.Timeout | undefined;
  private readonly t0 = performance.now();
  private readonly tty = process.stderr.isTTY === true;
  private lastPlain = 0;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly counts: () => { started: number; accepted: number; final: number },
    private readonly enabled: boolean,
  ) {
    if (enabled) this.timer = setInterval(() => this.render(false), 200);
  }

  private render(last: boolean): void {
    const { accepted, final } = this.counts();
    const s = (performance.now() - this.t0) / 1000;
    const width = 30;
    const filled = Math.min(width, Math.round((final / Math.max(1, this.total)) * width));
    const line = `${this.label.padEnd(14)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(final).padStart(6)}/${this.total} final, ${String(accepted).padStart(6)} accepted, ${(final / Math.max(s, 0.001)).toFixed(0).padStart(5)}/s, ${s.toFixed(1)} s`;
    if (this.tty) process.stderr.write(`\r${line}\x1b[K${last ? '\n' : ''}`);
    else if (last || s - this.lastPlain >= 5) {
      this.lastPlain = s;
      process.stderr.write(`${line}\n`);
    }
  }

  done(): void {
    if (!this.enabled) return;
    clearInterval(this.timer);
    this.render(true);
  }
}

const ms = (x: number) => x.toFixed(1).padStart(8);

export function tableHeader(): string {
  return [
    'mode      entry load        n      ckout/s   p50 ms   p90 ms   p99 ms p99.9 ms   max ms  conf  canc unfin  CPU s/1k  RSS MiB  ok',
    '-'.repeat(131),
  ].join('\n');
}

export function tableRow(r: RunResult): string {
  const load = r.loop === 'closed' ? `C=${r.concurrency}` : `R=${r.rate}/s`;
  return [
    r.mode.padEnd(9),
    r.entry.padEnd(5),
    load.padEnd(8),
    String(r.n).padStart(6),
    r.checkoutsPerSecond.toFixed(0).padStart(10),
    ms(r.latencyMs.p50),
    ms(r.latencyMs.p90),
    ms(r.latencyMs.p99),
    ms(r.latencyMs.p999),
    ms(r.latencyMs.max),
    String(r.confirmed).padStart(5),
    String(r.cancelled).padStart(5),
    String(r.unfinished + r.refused).padStart(5),
    r.cpuSecondsPer1000.toFixed(2).padStart(9),
    r.peakRssMiB.total.toFixed(0).padStart(8),
    r.correct ? ' yes' : '  NO',
  ].join(' ');
}

export function details(r: RunResult): string {
  const lines = [
    `  accept latency (checkout-cart reply) p50 ${r.acceptMs.p50} ms, p99 ${r.acceptMs.p99} ms; sync=${r.sync}; procs=${r.procs}${r.instances > 1 ? ` (orchestrator and gateway x${r.instances}${r.partitions > 1 ? `, cart, promotion, payment and order x${r.instances} sharing ${r.partitions} partitions` : ''})` : r.partitions > 1 ? ` (${r.partitions} partitions)` : ''}; load average ${r.machine.loadAverage.join(' ')}`,
    `  CPU s by process: ${Object.entries(r.cpuSeconds).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `  cores busy by process (CPU s per s; 1.0 is one saturated JS thread): ${Object.entries(r.coresBusy)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `  peak RSS MiB: ${Object.entries(r.peakRssMiB.byProcess).map(([k, v]) => `${k} ${v}`).join(', ')}`,
  ];
  if (r.ioPerCheckout) {
    const io = r.ioPerCheckout;
    lines.push(`  per checkout: ${io.writeCalls} write syscalls, ${io.readCalls} read syscalls, ${io.writtenKiB} KiB written (all processes)`);
  }
  if (r.deadlineCancelled > 0) lines.push(`  ${r.deadlineCancelled} checkouts were cancelled by the saga's own deadlines (steps too slow: overload), and compensated`);
  if (r.limitRatios) lines.push(`  vs limits: ${Object.entries(r.limitRatios).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (!r.correct) lines.push(`  PROBLEMS: ${r.problems.join('; ')}`);
  return lines.join('\n');
}

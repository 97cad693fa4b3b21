/**
 * Where the suite's time goes, per file: a vitest reporter (vitest.config.ts runs it beside the
 * default one) that writes, at the end of a run, every file's wall time from its start to its end
 * in the main process (so its worker's start, imports, `beforeAll` hooks and cluster start-ups are
 * counted, which vitest's own per-file figures leave out), its import, its hooks and tests, and
 * its slowest tests. README.md's "Tests" section quotes its figures.
 *
 * The JSON goes to TIMING_OUT (default test-results/timing.json); the 25 slowest files are printed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

interface FileTiming {
  file: string;
  project: string;
  /** Seconds from the run's start to the file's start and end, as the main process saw them. */
  startS: number;
  endS: number;
  wallS: number;
  /** Importing the file and what it imports (collect), and its tests and hooks together. */
  importS: number;
  testsAndHooksS: number;
  tests: number;
  slowest: { name: string; s: number }[];
}

const seconds = (ms: number): number => Math.round(ms) / 1000;

export default class TimingReporter implements Reporter {
  private readonly t0 = Date.now();
  private readonly started = new Map<string, number>();
  private readonly files: FileTiming[] = [];

  /** Queued: its worker is given the file (before the worker imports it). */
  onTestModuleQueued(m: TestModule): void {
    this.started.set(m.moduleId, Date.now());
  }

  onTestModuleEnd(m: TestModule): void {
    const end = Date.now();
    const start = this.started.get(m.moduleId) ?? end;
    const d = m.diagnostic();
    const tests = [...m.children.allTests()];
    this.files.push({
      file: m.relativeModuleId,
      project: m.project.name,
      startS: seconds(start - this.t0),
      endS: seconds(end - this.t0),
      wallS: seconds(end - start),
      importS: seconds(d.collectDuration),
      testsAndHooksS: seconds(d.duration),
      tests: tests.length,
      slowest: tests
        .map((t) => ({ name: t.fullName, s: seconds(t.diagnostic()?.duration ?? 0) }))
        .sort((a, b) => b.s - a.s)
        .slice(0, 5),
    });
  }

  onTestRunEnd(): void {
    const files = [...this.files].sort((a, b) => b.wallS - a.wallS);
    const out = process.env.TIMING_OUT ?? 'test-results/timing.json';
    mkdirSync(dirname(out), { recursive: true });
    const spanS = seconds(Date.now() - this.t0);
    writeFileSync(out, JSON.stringify({ spanS, files }, null, 1));
    const lines = files.slice(0, 25).map((f) => `${f.wallS.toFixed(1).padStart(7)} s  ${f.startS.toFixed(0).padStart(4)}-${f.endS.toFixed(0).padEnd(4)} ${f.project.padEnd(7)}${f.file}`);
    console.log(`\nslowest files, wall time (start-end, s after the run's start); all in ${out}\n${lines.join('\n')}`);
  }
}

/**
 * The benchmark must not rot: its embedded mode runs ~50 checkouts end to end and prints the JSON
 * line docs/benchmarks.md reads. Nothing here is timed; figures are the bench's business, not the
 * test suite's. This only proves the bench still drives the real system and its correctness check
 * passes.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

function runBench(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { cwd: root, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ stdout, stderr, code });
    });
  });
}

describe('bench', () => {
  describe('when it runs the embedded mode for 50 checkouts', () => {
    it('prints one JSON line with every figure, and its correctness check passes', async () => {
      const { stdout, stderr, code } = await runBench(['--mode', 'embedded', '-n', '50', '--warmup', '10', '-c', '8', '--products', '100', '--sync', 'NORMAL', '--json']);
      expect(code, stderr).toBe(0);
      const lines = stdout.trim().split('\n');
      expect(lines).toHaveLength(1);
      const r = JSON.parse(lines[0]!) as Record<string, unknown>;
      expect(r).toMatchObject({ bench: 'checkout', mode: 'embedded', entry: 'bus', loop: 'closed', concurrency: 8, n: 50, correct: true, problems: [], unfinished: 0, refused: 0 });
      expect(r.checkoutsPerSecond).toBeGreaterThan(0);
      for (const k of ['p50', 'p90', 'p99', 'p999', 'max']) expect((r.latencyMs as Record<string, number>)[k]).toBeGreaterThan(0);
      expect((r.confirmed as number) + (r.cancelled as number)).toBe(50);
      expect(r.cpuSecondsPer1000).toBeGreaterThan(0);
      expect((r.peakRssMiB as { total: number }).total).toBeGreaterThan(0);
    }, 150_000);
  });

  describe('when the run is longer than the carts it fills ahead (--open-carts)', () => {
    it('fills and checks out one segment after another, and counts every measured checkout once', async () => {
      const { stdout, stderr, code } = await runBench(['--mode', 'embedded', '-n', '50', '--open-carts', '20', '--warmup', '10', '-c', '8', '--products', '100', '--sync', 'NORMAL', '--json']);
      expect(code, stderr).toBe(0);
      const r = JSON.parse(stdout.trim()) as Record<string, unknown>;
      expect(r).toMatchObject({ n: 50, correct: true, problems: [], unfinished: 0, refused: 0 });
      expect((r.confirmed as number) + (r.cancelled as number)).toBe(50);
      expect(r.durationS).toBeGreaterThan(0);
    }, 150_000);
  });
});

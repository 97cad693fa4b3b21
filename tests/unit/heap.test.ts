import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { configFromEnv } from '../../src/config.ts';
import { DEFAULT_HEAP_GROWING_PERCENT, YOUNG_GENERATION_FLAG } from '../../src/heap.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The old space's peak and its live bytes for a churning workload, in a fresh process bounded at `percent`. */
async function oldSpaceUnder(percent: number): Promise<{ maxOldMiB: number; liveOldMiB: number }> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', 'tests/support/heap-growth-child.ts'], {
    cwd: root,
    env: { ...process.env, HEAP_GROWING_PERCENT: String(percent) },
    encoding: 'utf8',
  });
  return JSON.parse(stdout) as { maxOldMiB: number; liveOldMiB: number };
}

describe('the heap growth bound (src/heap.ts)', () => {
  // Two fresh processes of about 2 s of CPU each, on a shared machine. retry: V8 sizes the loose
  // process's old space by its own factor, which on a loaded machine came out small once (45 MiB at
  // 300%, the bounded one 119: the fresh-clone CI of 1d08e2a); a second pair is measured before the
  // comparison counts as failed.
  it('keeps the old space within a small multiple of the live heap, set after the heap exists', { timeout: 120_000, retry: 1 }, async () => {
    const bounded = await oldSpaceUnder(100);
    const loose = await oldSpaceUnder(300); // V8's largest factor, 4, which it picks itself on a starved thread
    expect(bounded.liveOldMiB).toBeGreaterThan(30);
    // A factor of 2, plus what is promoted while a concurrent mark runs.
    expect(bounded.maxOldMiB).toBeLessThan(3.2 * bounded.liveOldMiB);
    expect(bounded.maxOldMiB).toBeLessThan(0.75 * loose.maxOldMiB);
  });

  it('is off by default: V8 keeps its own factor unless HEAP_GROWING_PERCENT is set', () => {
    expect(DEFAULT_HEAP_GROWING_PERCENT).toBe(0);
    expect(configFromEnv({}).heapGrowingPercent).toBe(0);
    expect(configFromEnv({ HEAP_GROWING_PERCENT: '100' }).heapGrowingPercent).toBe(100);
  });
});

describe('the young generation (src/heap.ts)', () => {
  const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

  it('is sized on the command line of every way the system is started', () => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.start).toContain(`node ${YOUNG_GENERATION_FLAG} `);
    expect(scripts.bench).toContain(`tsx ${YOUNG_GENERATION_FLAG} `);
    for (const script of ['scripts/run-distributed.sh', 'scripts/run-cluster.sh']) {
      for (const line of read(script).split('\n').filter((l) => l.includes('src/main.ts &'))) expect(line).toContain(`node ${YOUNG_GENERATION_FLAG} `);
    }
    expect(read('bench/sut-nats.ts')).toContain('YOUNG_GENERATION_FLAG, // as `npm start`');
  });

  it('lets the new space grow past V8\'s default when the flag is given', async () => {
    const newSpaceMiB = async (flags: string[]) => {
      const child = "const v8 = require('node:v8'); let keep = []; for (let i = 0; i < 2e6; i++) { keep.push({ i }); if (keep.length > 300000) keep = []; } console.log(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576);";
      const { stdout } = await promisify(execFile)(process.execPath, [...flags, '-e', child], { encoding: 'utf8' });
      return Number(stdout.trim());
    };
    const [plain, sized] = await Promise.all([newSpaceMiB([]), newSpaceMiB([YOUNG_GENERATION_FLAG])]);
    expect(plain).toBeLessThanOrEqual(32); // two 16 MiB semi-spaces
    expect(sized).toBeGreaterThan(plain);
  }, 60_000);
});

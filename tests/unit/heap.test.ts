import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { configFromEnv } from '../../src/config.ts';
import { DEFAULT_HEAP_GROWING_PERCENT } from '../../src/heap.ts';

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
  it('keeps the old space within a small multiple of the live heap, set after the heap exists', async () => {
    const bounded = await oldSpaceUnder(100);
    const loose = await oldSpaceUnder(300); // V8's largest factor, 4, which it picks itself on a starved thread
    expect(bounded.liveOldMiB).toBeGreaterThan(30);
    // A factor of 2, plus what is promoted while a concurrent mark runs.
    expect(bounded.maxOldMiB).toBeLessThan(3.2 * bounded.liveOldMiB);
    expect(bounded.maxOldMiB).toBeLessThan(0.75 * loose.maxOldMiB);
  }, 120_000); // two fresh processes of about 2 s of CPU each, on a shared machine

  it('is off by default: V8 keeps its own factor unless HEAP_GROWING_PERCENT is set', () => {
    expect(DEFAULT_HEAP_GROWING_PERCENT).toBe(0);
    expect(configFromEnv({}).heapGrowingPercent).toBe(0);
    expect(configFromEnv({ HEAP_GROWING_PERCENT: '100' }).heapGrowingPercent).toBe(100);
  });
});

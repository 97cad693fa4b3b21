/**
 * The bench's latency histogram: what a checkout run keeps instead of every latency, so that the
 * bench's bookkeeping in the measured process does not grow with -n (docs/benchmarks.md, "What a
 * long run still grows").
 */
import { describe, expect, it } from 'vitest';
import { LatencyHistogram, summarize } from '../../bench/stats.ts';
import { prng } from '../../bench/workload.ts';

/** Within one bucket (four significant digits) below the exact value, give or take the 0.01 ms rounding. */
function expectWithinABucket(got: number, exact: number): void {
  expect(got).toBeLessThanOrEqual(exact + 0.01);
  const width = exact > 0 ? 10 ** (Math.floor(Math.log10(exact)) - 3) : 0;
  expect(got).toBeGreaterThan(exact - width - 0.01);
}

describe('the latency histogram', () => {
  it('gives each percentile at most 0.1% below the exact one, and the exact max and mean', () => {
    const rnd = prng(7);
    // A checkout run's spread: most near 100-300 ms, a tail to seconds, a few under a millisecond.
    const samples = Array.from({ length: 50_000 }, (_, i) => (i % 1000 === 0 ? rnd() : i % 97 === 0 ? 1000 + rnd() * 9000 : 50 + rnd() * rnd() * 600));
    const h = new LatencyHistogram();
    for (const s of samples) h.add(s);
    const exact = summarize(samples);
    const got = h.summary();
    for (const q of ['p50', 'p90', 'p99', 'p999'] as const) expectWithinABucket(got[q], exact[q]);
    expect(got.max).toBe(exact.max);
    expect(got.mean).toBeCloseTo(exact.mean, 1);
    expect(h.count).toBe(samples.length);
  });

  it('places values at every decade, its edges included, in order', () => {
    const h = new LatencyHistogram();
    const values = [0, 0.005, 0.01, 0.099999, 0.1, 1, 9.999, 10, 99.99, 100, 999.9, 1000, 12_345.6, 99_999, 100_000, 999_999];
    for (const v of values) h.add(v);
    // Each value is its own sample: the nearest rank of q is the ceil(q * n)-th smallest.
    const exact = summarize(values);
    const got = h.summary();
    for (const q of ['p50', 'p90', 'p99', 'p999'] as const) expectWithinABucket(got[q], exact[q]);
  });

  it('counts a latency past 1,000 s in its top bucket, and keeps its exact max', () => {
    const h = new LatencyHistogram();
    for (let i = 0; i < 10; i++) h.add(100);
    for (let i = 0; i < 10; i++) h.add(5_000_000 + i);
    const got = h.summary();
    expect(got.p50).toBe(100);
    expect(got.p90).toBeGreaterThanOrEqual(999_900);
    expect(got.max).toBe(5_000_009);
  });

  it('holds the same bytes after a million samples as after one', () => {
    const h = new LatencyHistogram();
    h.add(120);
    const bytes = h.bytes;
    for (let i = 0; i < 1_000_000; i++) h.add((i % 5000) / 3);
    expect(h.bytes).toBe(bytes);
    expect(bytes).toBeLessThan(300 * 1024);
    expect(h.summary().p50).toBeCloseTo(833, -1);
  });

  it('summarises nothing as zeros', () => {
    expect(new LatencyHistogram().summary()).toEqual({ p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 });
  });
});

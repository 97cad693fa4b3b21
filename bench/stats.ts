/**
 * Latency summaries. `summarize`: exact percentiles (nearest rank) over every sample, for the small
 * sets (failover rounds). `LatencyHistogram`: what a checkout run keeps, a fixed-size histogram
 * of four significant digits, so that the bench's own bookkeeping does not grow with `-n` in the
 * process it measures (embedded mode: docs/benchmarks.md, "What a long run still grows").
 */
import { round } from './procstat.ts';

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

const QUANTILES = { p50: 0.5, p90: 0.9, p99: 0.99, p999: 0.999 } as const;

export function summarize(samplesMs: readonly number[]): LatencySummary {
  if (samplesMs.length === 0) return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  const s = Float64Array.from(samplesMs).sort();
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
  let sum = 0;
  for (const x of s) sum += x;
  return {
    p50: round(at(QUANTILES.p50)),
    p90: round(at(QUANTILES.p90)),
    p99: round(at(QUANTILES.p99)),
    p999: round(at(QUANTILES.p999)),
    max: round(s[s.length - 1]!),
    mean: round(sum / s.length),
  };
}

/** The smallest latency told apart from 0, as a power of ten: 0.01 ms. */
const LOW_EXP = -2;
/** Decades from 0.01 ms up to 1,000 s; a longer latency counts in the top bucket (`max` stays exact). */
const DECADES = 8;
/** Four significant digits: mantissas 1000-9999 in each decade. */
const PER_DECADE = 9_000;

/**
 * Latencies counted in buckets of four significant digits (0.01 ms to 1,000 s: 72,000 counters,
 * 288 KB, however many samples), instead of kept one by one (16 bytes a checkout for latency and
 * accept time, 4.8 MB at 300,000 checkouts, in the measured process). A percentile is the lower edge
 * of the nearest-rank sample's bucket: at most 0.1% below the exact one. `max` and `mean` are exact.
 */
export class LatencyHistogram {
  private readonly counts = new Uint32Array(1 + DECADES * PER_DECADE);
  count = 0;
  private sum = 0;
  private max = 0;

  /** The counters' bytes: the same however many samples were added. */
  get bytes(): number {
    return this.counts.byteLength;
  }

  add(ms: number): void {
    const v = Math.max(0, ms);
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
    this.counts[bucketOf(v)]!++;
  }

  summary(): LatencySummary {
    if (this.count === 0) return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
    const ranks = Object.values(QUANTILES).map((q) => Math.min(this.count, Math.max(1, Math.ceil(q * this.count))));
    const found: number[] = [];
    let seen = 0;
    for (let b = 0; b < this.counts.length && found.length < ranks.length; b++) {
      seen += this.counts[b]!;
      while (found.length < ranks.length && seen >= ranks[found.length]!) found.push(Math.min(lowerEdge(b), this.max));
    }
    const [p50, p90, p99, p999] = found as [number, number, number, number];
    return { p50: round(p50), p90: round(p90), p99: round(p99), p999: round(p999), max: round(this.max), mean: round(this.sum / this.count) };
  }
}

/** Bucket 0 holds everything below 0.01 ms; then 9,000 per decade, by the first four digits. */
function bucketOf(v: number): number {
  if (v < 10 ** LOW_EXP) return 0;
  const e = Math.floor(Math.log10(v));
  // log10 can land a hair off at a decade's edge: the clamp below keeps such a value within a bucket of its own.
  const m = Math.floor(v / 10 ** (e - 3));
  const d = e - LOW_EXP;
  if (d >= DECADES) return DECADES * PER_DECADE;
  return 1 + d * PER_DECADE + (Math.min(9_999, Math.max(1_000, m)) - 1_000);
}

function lowerEdge(b: number): number {
  if (b === 0) return 0;
  const d = Math.floor((b - 1) / PER_DECADE);
  const m = 1_000 + ((b - 1) % PER_DECADE);
  return m * 10 ** (d + LOW_EXP - 3);
}

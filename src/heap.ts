/**
 * How far V8 lets this process's heap grow past what is live (issue #14: a long run's memory flat).
 *
 * After each full GC V8 sets the next one's threshold at the live heap times a factor it picks from
 * how fast that GC ran against how fast the program allocates: from 1.1 up to 4 on a 64-bit machine
 * with this much memory. When the one JS thread is starved (a busy machine, a backlog) the measured
 * GC speed falls and the factor climbs to 4, so the old generation, and with it the resident set,
 * follows the load rather than what the process holds: in a 30,000-checkout run the live heap stayed
 * near 70-100 MiB while the old space grew to 350 MiB (docs/benchmarks.md, "A long run's memory").
 * A fixed factor makes the peak a function of the live heap alone. Its price is more full GCs and
 * more time with marking under way: with a factor of 2, 23 full GCs instead of 10 in a 20,000-checkout
 * run, and 9-12% more CPU per checkout in three A/B pairs. So it is a setting, off by default, until
 * the CPU it costs is measured away (a larger young generation promotes less, but needs a start-up
 * flag): `HEAP_GROWING_PERCENT=100` is what the long runs of docs/benchmarks.md were measured with.
 *
 * `--heap-growing-percent` is read by V8 at every GC, so it applies even though it is set after the
 * heap exists. The young generation (`--max-semi-space-size`) is sized at start-up and cannot be
 * set this way: it is a flag on the command line of every way the process is started
 * (`YOUNG_GENERATION_FLAG` below).
 */
import { setFlagsFromString } from 'node:v8';

/**
 * The young generation's size, a start-up flag: `npm start`, `npm run bench`, the bench's service
 * processes (bench/sut-nats.ts) and scripts/run-*.sh pass it (a unit test checks each). A
 * checkout's state lives 100-800 ms; with V8's default 16 MiB semi-spaces an embedded process at
 * 300 checkouts/s scavenged 7-8 times a second, so most of that state survived two scavenges and
 * was promoted, to die in the old space. With 64 MiB more of it dies young: 8% less CPU per
 * checkout embedded over four interleaved pairs of 20,000 checkouts (lower in all four), 5% over
 * eight of 5,000, for 50-90 MiB more peak resident memory (docs/benchmarks.md, "A checkout's CPU,
 * counted; the young generation", #14).
 */
export const YOUNG_GENERATION_FLAG = '--max-semi-space-size=64';

/** 0: V8 chooses its factor. With N > 0 the old generation grows to (1 + N / 100) times the live heap after a full GC. */
export const DEFAULT_HEAP_GROWING_PERCENT = 0;

/**
 * Fixes V8's heap growing factor for this process (every isolate in it: the flag is process-wide).
 * 0 leaves V8's own choice. Call once, at the composition root, before the system starts.
 */
export function boundHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${Math.round(percent)}`);
}

/**
 * Run by tests/unit/heap.test.ts in a fresh process (V8's flags are process-wide): bounds the heap's
 * growth by HEAP_GROWING_PERCENT, holds a live set, churns objects that live long enough to be
 * promoted and then die (a checkout's state in flight), and prints the old space's largest size and
 * what is live in it after a forced GC. Needs --expose-gc.
 */
import { getHeapSpaceStatistics } from 'node:v8';
import { boundHeapGrowth } from '../../src/heap.ts';

boundHeapGrowth(Number(process.env.HEAP_GROWING_PERCENT));
const oldSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!;
const live = Array.from({ length: 300_000 }, (_, i) => ({ id: `k${i}`, v: [i, i + 1] }));
const ring: unknown[] = new Array(50_000);
let maxOld = 0;
for (let i = 0; i < 3_000_000; i++) {
  ring[i % ring.length] = { id: `x${i}`, payload: [i, i, i] };
  if (i % 5_000 === 0) maxOld = Math.max(maxOld, oldSpace().space_size);
}
(globalThis as { gc?: () => void }).gc!();
process.stdout.write(`${JSON.stringify({ maxOldMiB: maxOld / 2 ** 20, liveOldMiB: oldSpace().space_used_size / 2 ** 20, held: live.length + ring.length })}\n`);

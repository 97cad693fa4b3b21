/**
 * What one inbox key costs in memory (docs/benchmarks.md, "The inbox window's memory"): a window
 * of N keys (300,000: two minutes at 250 checkouts/s) in one of three structures, filled once
 * ("fill") and then slid through 2N more keys, the oldest forgotten every 1,000 keys as the
 * journal's checkpoints do ("slide"). Counts the JS heap and the typed arrays' buffers after a full
 * GC, against the same before; the keys' hashes are made before the baseline.
 *
 *   node --expose-gc --import tsx docs/experiments/inbox-window-memory.ts <structure> [N]
 *
 *   object  a 53-bit hash to {pos, at}, as on 6852021
 *   map     a 30-bit hash to the position (Map<number, number>), with the window's clock
 *   table   a 30-bit hash to the position (src/runtime/inbox-window.ts), with the window's clock
 */
import { InboxWindow } from '../../src/runtime/inbox-window.ts';
import { inboxKeyHash } from '../../src/runtime/journal.ts';

const structure = process.argv[2] ?? 'table';
const n = Number(process.argv[3] ?? 300_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

/** 6852021's keyHash. */
function hash53(key: string): number {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  return (a >>> 0) * 0x200000 + ((b >>> 0) & 0x1fffff);
}

const hash = structure === 'object' ? hash53 : inboxKeyHash;
const key = (i: number) => `inventory.cmd.reserve-inventory/0193a1b2-${((i * 2654435761) >>> 0).toString(16).padStart(8, '0')}-7c3d-9e4f-${i.toString(16).padStart(12, '0')}:reserve-inventory`;
const hashes = Array.from({ length: 3 * n }, (_, i) => hash(key(i)));
const t0 = Date.parse('2026-12-07T13:00:00Z');
const used = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

const objects = new Map<number, { pos: number; at: number }>();
const map = new Map<number, number>();
const table = new InboxWindow();
const spans: Array<{ pos: number; from: number; at: number }> = [];
const size = () => (structure === 'object' ? objects.size : structure === 'map' ? map.size : table.size);

const base = used();
const started = performance.now();
let fill = 0;
for (let i = 0; i < 3 * n; i++) {
  const h = hashes[i]!;
  const pos = 1_000_000 + i;
  const at = t0 + Math.floor(i / 2.5); // 2,500 keys a second
  if (structure === 'object') {
    objects.delete(h);
    objects.set(h, { pos, at });
  } else {
    if (structure === 'map') {
      map.delete(h);
      map.set(h, pos);
    } else table.set(h, pos);
    const span = spans[spans.length - 1];
    if (span && at < span.from + 1_000) span.at = Math.max(span.at, at);
    else spans.push({ pos, from: at, at });
  }
  if (i === n - 1) fill = used() - base;
  if (i >= n && i % 1_000 === 999) {
    const keep = 1_000_000 + i + 1 - n;
    if (structure === 'object') {
      for (const [k, v] of objects) {
        if (v.pos >= keep) break;
        objects.delete(k);
      }
    } else {
      while (spans.length > 1 && spans[1]!.pos <= keep) spans.shift();
      if (structure === 'map') {
        for (const [k, p] of map) {
          if (p >= keep) break;
          map.delete(k);
        }
      } else table.forgetBefore(keep);
    }
  }
}
const ms = performance.now() - started;
const slide = used() - base;
// `hashes` is read here so that it is live to the end: counted in the baseline, it must not be freed before the last count.
console.log(JSON.stringify({ structure, keys: n, hashes: hashes.length, held: size(), fillBytesPerKey: Math.round(fill / n), slideBytesPerKey: Math.round(slide / size()), slideMiB: +(slide / 2 ** 20).toFixed(1), ms: Math.round(ms) }));

/**
 * What one message id of the embedded bus's duplicate window costs in memory (docs/benchmarks.md,
 * "The bus's duplicate window"): a stream's window of N ids (66,000: two minutes at 500 checkouts/s,
 * 1.1 stream messages each, UUIDs of 36 characters) in one of two structures, filled once ("fill")
 * and then slid through 2N more ids, each append expiring what left the window as bus-store.ts
 * does ("slide"). Each id is a new string per publish, as it arrives from a service; counts the JS
 * heap and the typed arrays' buffers after a full GC, against the same before.
 *
 *   node --expose-gc --import tsx docs/experiments/dup-window-memory.ts <structure> [N]
 *
 *   map     the id's string to {seq, at} in a Map, oldest first (bus-store.ts on c08d050)
 *   table   the id's 30-bit hash to its sequence (duplicate-window.ts), its message read back by
 *           sequence on a hit (here made again from the sequence, as the stored row would say)
 */
import { DuplicateWindow } from '../../src/runtime/transport/in-process/duplicate-window.ts';

const structure = process.argv[2] ?? 'table';
const n = Number(process.argv[3] ?? 66_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const windowMs = 120_000;
const t0 = Date.parse('2026-12-07T13:00:00Z');
const perSecond = n / 120;
const atOf = (seq: number) => t0 + Math.floor(((seq - 1) * 1_000) / perSecond);
/**
 * A UUID-shaped id, made anew on each call (a v5 UUID's 36 characters), as one flat string: the
 * ids reach the bus parsed from JSON, not concatenated (a concatenation's parts would be counted).
 */
const idOf = (seq: number) => {
  const a = ((seq * 2654435761) >>> 0).toString(16).padStart(8, '0');
  const b = ((seq * 40503) >>> 0).toString(16).padStart(8, '0');
  return JSON.parse(`"${a}-${b.slice(0, 4)}-5${b.slice(5, 8)}-8${a.slice(1, 4)}-${seq.toString(16).padStart(12, '0')}"`) as string;
};
const used = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

const map = new Map<string, { seq: number; at: number }>();
const table = new DuplicateWindow(windowMs, (seq) => ({ msgId: idOf(seq), at: atOf(seq) }));
let duplicates = 0;

const base = used();
const started = performance.now();
let fill = 0;
for (let seq = 1; seq <= 3 * n; seq++) {
  const id = idOf(seq);
  const now = atOf(seq);
  if (structure === 'map') {
    for (const [old, m] of map) {
      if (m.at >= now - windowMs) break;
      map.delete(old);
    }
    if (map.get(id)) duplicates++;
    else map.set(id, { seq, at: now });
  } else {
    if (table.find(id, now) !== undefined) duplicates++;
    else table.remember(id, seq, now);
  }
  if (seq === n) fill = used() - base;
}
const ms = performance.now() - started;
const slide = used() - base;
const held = structure === 'map' ? map.size : table.size;
console.log(JSON.stringify({ structure, ids: n, appends: 3 * n, duplicates, held, fillBytesPerId: Math.round(fill / n), slideBytesPerId: Math.round(slide / held), slideMiB: +(slide / 2 ** 20).toFixed(2), ms: Math.round(ms) }));

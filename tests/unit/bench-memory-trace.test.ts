/**
 * `npm run bench -- --memory-trace FILE`: one JSON line of the process's memory per interval, into
 * its own file, and a last one at stop (docs/benchmarks.md, "What a long run still grows").
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startMemoryTrace } from '../../bench/memory-trace.ts';

describe('the memory trace', () => {
  it('writes a line at start, one per interval and one at stop, with the stores and the driver named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'poa-trace-'));
    writeFileSync(join(dir, 'cart.db'), Buffer.alloc(1024 * 1024));
    writeFileSync(join(dir, 'notes.txt'), 'not a store');
    const file = join(dir, 'trace.jsonl');
    let finals = 0;
    const trace = startMemoryTrace({ file, dataDir: dir, everyMs: 40, finals: () => (finals += 100), driver: () => ({ tracks: 7 }) });
    // At least one interval's line besides the first, however slow the machine.
    const lineCount = () => readFileSync(file, 'utf8').trim().split('\n').length;
    for (let waited = 0; lineCount() < 2 && waited < 5_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    trace.stop();
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThanOrEqual(3);
    const last = lines.at(-1)!;
    expect(last).toMatchObject({ stores: { 'cart.db': 1 }, driver: { tracks: 7 } });
    expect(Object.keys(last.stores as object)).toEqual(['cart.db']);
    expect(last.rss).toBeGreaterThan(0);
    expect(last.heapTotal).toBeGreaterThan(0);
    expect((last.status as Record<string, number>).RssAnon).toBeGreaterThan(0);
    expect((last.spaces as Record<string, number[]>).old).toHaveLength(2);
    expect(lines.map((l) => l.finals)).toEqual([...lines.keys()].map((i) => (i + 1) * 100));
    const count = lines.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(count);
  });
});

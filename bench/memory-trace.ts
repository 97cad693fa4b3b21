/**
 * `--memory-trace FILE`: what the bench's process holds, sampled through one run (issue #14: a long
 * run's memory flat once the caches are full). Embedded mode only, where the bench's process is the
 * system. Every 10 s one JSON line: checkouts final so far, the resident set split into anonymous
 * and file-backed memory (`/proc/self/status`, `/proc/self/smaps_rollup`), `process.memoryUsage()`,
 * V8's heap spaces, the stores' files and WALs, the bench driver's own per-checkout bookkeeping, and
 * the timers the system's journals hold in memory and have parked.
 * With `node --expose-gc` every sixth sample first forces a full GC and records the live heap after
 * it; `--heap-snapshots 100000,250000` writes a heap snapshot (a GC first) when that many checkouts
 * are final. Nothing of this is in the bench's JSON line: the trace has its own file.
 */
import { appendFileSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';

export interface MemoryTraceOptions {
  file: string;
  /** The embedded system's data directory: its stores' sizes are sampled. */
  dataDir: string;
  everyMs?: number;
  /** Checkouts final so far, for the x axis. */
  finals: () => number;
  /** The bench driver's own bookkeeping, by name (entries held). */
  driver: () => Record<string, number>;
  /** The system's timers: held in memory, queued for parking, parked (journal.ts). */
  timers?: () => Record<string, number>;
  /** Write a heap snapshot once this many checkouts are final (each once). */
  snapshotsAt?: readonly number[];
}

export interface MemoryTrace {
  stop(): void;
}

const MiB = 1024 * 1024;
const mib = (b: number) => Math.round((b / MiB) * 10) / 10;

/** kB fields of a /proc file ("Name:   123 kB"), in MiB. */
function procKb(path: string, names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+) kB/.exec(line);
    if (m && names.includes(m[1]!)) out[m[1]!] = Math.round((Number(m[2]) / 1024) * 10) / 10;
  }
  return out;
}

function storeSizes(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    if (!n.endsWith('.db') && !n.endsWith('.db-wal')) continue;
    try {
      out[n] = mib(statSync(join(dir, n)).size);
    } catch {
      // removed between the listing and the stat
    }
  }
  return out;
}

export function startMemoryTrace(o: MemoryTraceOptions): MemoryTrace {
  const gc = (globalThis as { gc?: () => void }).gc;
  const t0 = performance.now();
  const pending = [...(o.snapshotsAt ?? [])].sort((a, b) => a - b);
  let samples = 0;
  const sample = () => {
    const finals = o.finals();
    let liveHeapMiB: number | undefined;
    if (gc && samples % 6 === 0) {
      gc();
      liveHeapMiB = mib(process.memoryUsage().heapUsed);
    }
    samples++;
    const mu = process.memoryUsage();
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name.replace(/_space$/, ''), [mib(s.space_used_size), mib(s.space_size)]]));
    const line = {
      s: Math.round((performance.now() - t0) / 1000),
      at: new Date().toISOString().slice(11, 19),
      finals,
      load1: Math.round(readLoad() * 100) / 100,
      rss: mib(mu.rss),
      heapUsed: mib(mu.heapUsed),
      heapTotal: mib(mu.heapTotal),
      external: mib(mu.external),
      arrayBuffers: mib(mu.arrayBuffers),
      ...(liveHeapMiB !== undefined ? { liveHeapMiB } : {}),
      status: procKb('/proc/self/status', ['VmHWM', 'RssAnon', 'RssFile', 'RssShmem']),
      smaps: procKb('/proc/self/smaps_rollup', ['Rss', 'Anonymous', 'Private_Dirty', 'Shared_Clean', 'Private_Clean']),
      spaces,
      stores: storeSizes(o.dataDir),
      driver: o.driver(),
      ...(o.timers ? { timers: o.timers() } : {}),
    };
    appendFileSync(o.file, `${JSON.stringify(line)}\n`);
    while (pending.length > 0 && finals >= pending[0]!) {
      const at = pending.shift()!;
      gc?.();
      const path = writeHeapSnapshot(`${o.file}.${at}.heapsnapshot`);
      appendFileSync(o.file, `${JSON.stringify({ snapshot: path, finals, at: new Date().toISOString().slice(11, 19) })}\n`);
    }
  };
  sample();
  const timer = setInterval(sample, o.everyMs ?? 10_000);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      sample();
    },
  };
}

function readLoad(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

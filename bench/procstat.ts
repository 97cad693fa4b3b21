/**
 * CPU time and peak memory of the processes under test, from /proc (Linux). The bench's own share
 * comes from process.cpuUsage(); children (services, nats-server) from /proc/<pid>/stat, whose
 * utime and stime are in clock ticks (USER_HZ, 100 on Linux for every architecture we run on).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;
function hz(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** CPU seconds (user + system) a process has used so far; undefined once it is gone. */
export function cpuSecondsOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; fields after it are counted from its closing paren.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / hz();
  } catch {
    return undefined;
  }
}

/** Peak resident set size (VmHWM) of a process in bytes; undefined once it is gone. */
export function peakRssOf(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Read and write syscalls and bytes written by a process so far (/proc/<pid>/io); zeros if unreadable. */
export interface IoCounters {
  readCalls: number;
  writeCalls: number;
  writtenBytes: number;
}

export function ioOf(pid: number | 'self'): IoCounters {
  try {
    const text = readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
    return { readCalls: field('syscr'), writeCalls: field('syscw'), writtenBytes: field('wchar') };
  } catch {
    return { readCalls: 0, writeCalls: 0, writtenBytes: 0 };
  }
}

/** Summed over the bench and its children. */
export function ioSnapshot(children: readonly ProcessRef[]): IoCounters {
  const all = [ioOf('self'), ...children.map((c) => ioOf(c.pid))];
  return {
    readCalls: all.reduce((a, b) => a + b.readCalls, 0),
    writeCalls: all.reduce((a, b) => a + b.writeCalls, 0),
    writtenBytes: all.reduce((a, b) => a + b.writtenBytes, 0),
  };
}

export interface ProcessRef {
  name: string;
  pid: number;
}

export interface CpuSnapshot {
  bench: number;
  children: Map<string, number>;
}

export function cpuSnapshot(children: readonly ProcessRef[]): CpuSnapshot {
  const u = process.cpuUsage();
  return {
    bench: (u.user + u.system) / 1e6,
    children: new Map(children.map((c) => [c.name, cpuSecondsOf(c.pid) ?? 0])),
  };
}

/** CPU seconds per process between two snapshots, the bench first. */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): Record<string, number> {
  const out: Record<string, number> = { bench: round(b.bench - a.bench, 3) };
  for (const [name, after] of b.children) out[name] = round(after - (a.children.get(name) ?? 0), 3);
  return out;
}

/** Peak RSS in MiB per process, the bench first. */
export function peakRss(children: readonly ProcessRef[]): Record<string, number> {
  const out: Record<string, number> = { bench: round(process.resourceUsage().maxRSS / 1024, 1) };
  for (const c of children) out[c.name] = round((peakRssOf(c.pid) ?? 0) / (1024 * 1024), 1);
  return out;
}

export const round = (x: number, digits = 2): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

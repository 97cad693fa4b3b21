/**
 * Where the time goes: V8 CPU profiles (the inspector in embedded mode, `node --cpu-prof` in the
 * children in nats mode) reduced to self time per component. A component is decided by the script
 * a function lives in, and for natives (better-sqlite3's statement methods, JSON) by its name.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds of CLOCK_MONOTONIC, the clock of process.hrtime(). */
  startTime?: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  /** Share of busy (non-idle) CPU time per component, in percent. */
  byCategory: Record<string, number>;
  /** The heaviest functions by self time, in percent of busy time. */
  topFunctions: Array<{ fn: string; pct: number }>;
  busyMs: number;
  /** JSON.parse and JSON.stringify, timed by wrapping them (embedded, main thread only). */
  json?: JsonCost;
}

/**
 * V8 inlines JSON.parse/stringify into their callers, so a sampling profile charges them to
 * whoever called them and no component reads "JSON". The meter wraps both and times every call.
 * The wrapper itself costs a little and keeps V8 from some fast paths, so the share it reports is
 * an upper bound.
 */
export interface JsonCost {
  calls: number;
  ms: number;
  /** Of the profile's busy time. */
  pct?: number;
}

export function startJsonMeter(): { stop(): JsonCost } {
  const { parse, stringify } = JSON;
  let calls = 0;
  let ms = 0;
  const timed =
    <A extends unknown[], R>(fn: (...args: A) => R) =>
    (...args: A): R => {
      const t0 = performance.now();
      try {
        return fn.apply(JSON, args);
      } finally {
        ms += performance.now() - t0;
        calls++;
      }
    };
  JSON.parse = timed(parse) as typeof JSON.parse;
  JSON.stringify = timed(stringify) as typeof JSON.stringify;
  return {
    stop() {
      JSON.parse = parse;
      JSON.stringify = stringify;
      return { calls, ms: Math.round(ms) };
    },
  };
}

const SQLITE_NATIVE = new Set(['run', 'get', 'all', 'iterate', 'exec', 'prepare', 'pluck', 'transaction', 'pragma']);
const JSON_NATIVE = new Set(['parse', 'stringify']);

export function categoryOf(f: CallFrame): string {
  const { url, functionName: fn } = f;
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'gc';
  if (fn === '(program)') return 'v8/native other';
  if (url === '') {
    if (SQLITE_NATIVE.has(fn)) return 'sqlite';
    if (JSON_NATIVE.has(fn)) return 'json';
    return 'v8/native other';
  }
  if (url.includes('better-sqlite3')) return 'sqlite';
  if (url.includes('/xstate/')) return 'xstate';
  if (url.includes('/zod/')) return 'zod validation';
  if (url.includes('/@nats-io/') || url.includes('/src/runtime/transport/nats')) return 'nats client';
  if (url.includes('/src/runtime/transport/')) return 'in-process transport';
  if (/\/(fastify|@fastify|find-my-way|light-my-request|avvio|pino|fast-json-stringify|secure-json-parse|fastify-type-provider-zod)/.test(url)) return 'http gateway';
  if (url.includes('/src/gateway/')) return 'http gateway';
  if (url.includes('/src/runtime/')) return 'actor runtime';
  if (url.includes('/src/machines/')) return 'machines';
  if (url.includes('/src/actors/') || url.includes('/src/contracts/')) return 'services';
  if (url.includes('/bench/') || url.includes('/tests/support/')) return 'bench';
  if (url.startsWith('node:net') || url.startsWith('node:internal/stream') || url.startsWith('node:stream') || url.includes('internal/net') || url.startsWith('node:_http') || url.startsWith('node:http')) return 'node net/http';
  if (url.includes('crypto') ) return 'crypto (ids)';
  if (url.startsWith('node:')) return 'node internals';
  return 'other';
}

/** A span of CLOCK_MONOTONIC in microseconds: only samples taken within it count. */
export interface Window {
  fromUs: number;
  toUs: number;
}

/** Now, on the clock V8 stamps profile samples with. */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

function selfTimes(p: CpuProfile, window: Window | undefined): Map<ProfileNode, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<ProfileNode, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  let at = p.startTime ?? 0;
  for (let i = 0; i < samples.length; i++) {
    at += deltas[i] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    const node = byId.get(samples[i]!);
    if (node) self.set(node, (self.get(node) ?? 0) + Math.max(0, deltas[i] ?? 0));
  }
  return self;
}

export function summarizeProfiles(profiles: readonly CpuProfile[], window?: Window): ProfileSummary {
  const cats = new Map<string, number>();
  const fns = new Map<string, number>();
  for (const p of profiles) {
    for (const [node, us] of selfTimes(p, window)) {
      const cat = categoryOf(node.callFrame);
      cats.set(cat, (cats.get(cat) ?? 0) + us);
      if (cat === 'idle') continue;
      const f = node.callFrame;
      const where = f.url ? `${f.url.replace(/^.*\/(node_modules|src|bench)\//, '$1/')}:${f.lineNumber + 1}` : 'native';
      const key = `${f.functionName || '(anonymous)'} ${where}`;
      fns.set(key, (fns.get(key) ?? 0) + us);
    }
  }
  const busy = [...cats].filter(([c]) => c !== 'idle').reduce((a, [, v]) => a + v, 0) || 1;
  const pct = (v: number) => Math.round((v / busy) * 1000) / 10;
  const byCategory = Object.fromEntries(
    [...cats].filter(([c]) => c !== 'idle').sort((a, b) => b[1] - a[1]).map(([c, v]) => [c, pct(v)]),
  );
  const topFunctions = [...fns].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([fn, v]) => ({ fn, pct: pct(v) }));
  return { byCategory, topFunctions, busyMs: Math.round(busy / 1000) };
}

/** Child processes' profiles (node --cpu-prof), cut to the measured window: startup and shutdown are not the workload. */
export function summarizeProfileDir(dir: string, window: Window): ProfileSummary {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  return summarizeProfiles(files.map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile), window);
}

/** Profiles this process (embedded mode) until `stop()`. */
export async function startCpuProfile(): Promise<{ stop(): Promise<ProfileSummary> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return {
    async stop() {
      const { profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile };
      session.disconnect();
      if (process.env.BENCH_PROFILE_OUT) writeFileSync(process.env.BENCH_PROFILE_OUT, JSON.stringify(profile));
      return summarizeProfiles([profile]);
    },
  };
}

export function formatProfile(p: ProfileSummary): string {
  const cats = Object.entries(p.byCategory).map(([c, v]) => `    ${c.padEnd(22)} ${v.toFixed(1).padStart(5)} %`);
  const fns = p.topFunctions.slice(0, 15).map((f) => `    ${f.pct.toFixed(1).padStart(5)} %  ${f.fn}`);
  const json = p.json
    ? [`  JSON.parse/stringify, timed by wrapping them (inside the components above): ${p.json.pct ?? '?'} % of busy time, ${p.json.calls} calls, ${p.json.ms} ms`]
    : [];
  return [`  where the busy time went (${p.busyMs} ms of CPU sampled):`, ...cats, ...json, '  heaviest functions (self time):', ...fns].join('\n');
}

/**
 * `npm run simulate -- --seeds N [--faults crash,duplicate,reorder,delay,drop,clock] [--seed S]`
 *
 * Runs the whole system in this process on the deterministic simulator (src/devtools/simulation/),
 * one seed after another, with a progress bar, seeds per second and a summary. A failing seed is
 * shrunk to the shortest run that still fails; its trace and the command that replays it are
 * printed. `--seed S` runs one seed (a replay) and prints its trace.
 *
 *   --seeds N          how many seeds (default 100), starting at --from (default 1)
 *   --faults LIST      which faults, comma-separated, or all / none (default all)
 *   --seed S           run only seed S and print its trace
 *   --shoppers K       shoppers in flight at once (default 6)
 *   --fault-steps K    faults stop after K loop steps (what the shrinker lowers)
 *   --broken LIST      switch on deliberately broken variants (runtime/broken.ts), to see them caught
 *   --trace-file PATH  where a failing seed's shrunk trace is written (default sim-failure-<seed>.log)
 *   --no-shrink        report a failing seed as it failed, without shrinking it
 *   --no-scenarios     random shoppers only (by default every other shopper follows a generated scenario)
 *   --explore          with --seed S: keep the run's stores, write every saga's trace to
 *                      sim-seed-<S>.explorer.json (or --explore-file PATH) and serve the explorer on it
 *                      at http://127.0.0.1:<--port, default 3001>/explorer until Ctrl-C
 *   --open FILE        serve the explorer on a recording written by --explore, without running anything
 */
import Fastify from 'fastify';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { explorerPlugin } from '../src/devtools/explorer/plugin.ts';
import { RecordedRun } from '../src/devtools/explorer/recorded.ts';
import { recordedRunOf } from '../src/devtools/simulation/recorded.ts';
import { BrokenVariant } from '../src/runtime/broken.ts';
import { allFaults, parseFaults } from '../src/devtools/simulation/faults.ts';
import { runSeed, type RunOptions, type RunResult } from '../src/devtools/simulation/run.ts';
import { generatedScenarios } from '../src/devtools/simulation/scenarios.ts';
import { replayCommand, shrink } from '../src/devtools/simulation/shrink.ts';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '100' },
    from: { type: 'string', default: '1' },
    faults: { type: 'string', default: 'all' },
    seed: { type: 'string' },
    shoppers: { type: 'string' },
    'fault-steps': { type: 'string' },
    broken: { type: 'string' },
    'trace-file': { type: 'string' },
    'no-shrink': { type: 'boolean', default: false },
    'no-scenarios': { type: 'boolean', default: false },
    explore: { type: 'boolean', default: false },
    'explore-file': { type: 'string' },
    open: { type: 'string' },
    port: { type: 'string', default: '3001' },
  },
});

/** Serves the explorer on a recorded run until the process is stopped. */
async function serveRecorded(run: RecordedRun): Promise<never> {
  const app = Fastify();
  await app.register(explorerPlugin, { recorded: run });
  const url = await app.listen({ port: int('port', values.port) ?? 3001, host: '127.0.0.1' });
  process.stdout.write(`explorer on ${run.title} (${run.checkouts.length} checkouts): ${url}/explorer  (Ctrl-C to stop)\n`);
  return new Promise<never>(() => undefined);
}

const int = (name: string, raw: string | undefined): number | undefined => {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got "${raw}"`);
  return n;
};
const broken = (values.broken ?? '').split(',').filter(Boolean).map((b) => {
  if (!(Object.values(BrokenVariant) as string[]).includes(b)) throw new Error(`unknown --broken "${b}"; expected some of ${Object.values(BrokenVariant).join(',')}`);
  return b as BrokenVariant;
});
const base = {
  faults: parseFaults(values.faults),
  shoppers: int('shoppers', values.shoppers),
  faultSteps: int('fault-steps', values['fault-steps']),
  broken,
  scenarios: values['no-scenarios'] ? undefined : await generatedScenarios(),
};
const options = (seed: number): RunOptions => {
  const o: RunOptions = { seed, faults: base.faults };
  if (base.shoppers !== undefined) o.shoppers = base.shoppers;
  if (base.faultSteps !== undefined) o.faultSteps = base.faultSteps;
  if (base.broken.length) o.broken = base.broken;
  if (base.scenarios) o.scenarios = base.scenarios;
  return o;
};

async function report(o: RunOptions, r: RunResult): Promise<void> {
  process.stderr.write(`\nseed ${o.seed} FAILED:\n${r.violations.map((v) => `  - ${v}`).join('\n')}\n`);
  let shown = { options: o, result: r };
  if (!values['no-shrink']) {
    process.stderr.write(`shrinking seed ${o.seed} (${r.trace.length} trace lines)...\n`);
    const s = await shrink(o, r);
    shown = s;
    process.stderr.write(`shrunk in ${s.tries} re-runs to ${s.result.trace.length} trace lines\n`);
  }
  const file = values['trace-file'] ?? `sim-failure-${o.seed}.log`;
  writeFileSync(file, `${shown.result.trace.join('\n')}\n`);
  process.stdout.write(`${shown.result.trace.join('\n')}\n\n`);
  process.stdout.write(`violated:\n${shown.result.violations.map((v) => `  - ${v}`).join('\n')}\n`);
  process.stdout.write(`trace written to ${file}\nreplay: ${replayCommand(shown.options)}\n`);
}

async function main(): Promise<number> {
  if (values.open) return serveRecorded(RecordedRun.parse(JSON.parse(readFileSync(values.open, 'utf8'))));
  const one = int('seed', values.seed);
  if (values.explore && one === undefined) throw new Error('--explore opens one run: give it --seed S');
  if (one !== undefined && values.explore) {
    const dir = mkdtempSync(join(tmpdir(), `sim-explore-${one}-`));
    const o = options(one);
    const r = await runSeed({ ...o, dir });
    process.stdout.write(r.ok ? `seed ${one}: all invariants hold\n` : `seed ${one}: ${r.violations.length} violation(s):\n${r.violations.map((v) => `  - ${v}`).join('\n')}\n`);
    const run = recordedRunOf(dir, `simulated seed ${one} (faults ${o.faults.join(',') || 'none'})`);
    rmSync(dir, { recursive: true, force: true });
    const file = values['explore-file'] ?? `sim-seed-${one}.explorer.json`;
    writeFileSync(file, `${JSON.stringify(run)}\n`);
    process.stdout.write(`recording written to ${file} (open it again: npm run simulate -- --open ${file})\n`);
    return serveRecorded(run);
  }
  if (one !== undefined) {
    const r = await runSeed(options(one));
    process.stdout.write(`${r.trace.join('\n')}\n`);
    process.stdout.write(r.ok ? `seed ${one}: all invariants hold\n` : `seed ${one}: ${r.violations.length} violation(s)\n`);
    return r.ok ? 0 : 1;
  }
  const n = int('seeds', values.seeds) ?? 100;
  const from = int('from', values.from) ?? 1;
  process.stderr.write(`simulating seeds ${from}..${from + n - 1} with faults ${base.faults.join(',') || 'none'} (of ${allFaults.join(',')})\n`);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let failures = 0;
  let checkouts = 0;
  let crashes = 0;
  let steps = 0;
  let simulatedMs = 0;
  const failed: Array<[RunOptions, RunResult]> = [];
  const tty = process.stderr.isTTY;
  for (let i = 0; i < n; i++) {
    const o = options(from + i);
    const r = await runSeed(o);
    checkouts += r.checkouts;
    crashes += r.crashes;
    steps += r.steps;
    simulatedMs += r.simulatedMs;
    if (!r.ok) {
      failures++;
      failed.push([o, r]);
      process.stderr.write(`${tty ? '\n' : ''}seed ${o.seed}: ${r.violations[0]}\n`);
    }
    const done = i + 1;
    if (tty || done % 100 === 0 || done === n) {
      const secs = (performance.now() - t0) / 1000;
      const width = 30;
      const bar = '#'.repeat(Math.round((done / n) * width)).padEnd(width, '.');
      process.stderr.write(`${tty ? '\r' : ''}[${bar}] ${done}/${n} seeds  ${(done / secs).toFixed(1)} seeds/s  ${failures} failing${tty ? '' : '\n'}`);
    }
  }
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  process.stderr.write(tty ? '\n' : '');
  process.stdout.write(
    [
      `seeds:           ${n} (${from}..${from + n - 1}), faults ${base.faults.join(',') || 'none'}${base.broken.length ? `, broken ${base.broken.join(',')}` : ''}`,
      `failing seeds:   ${failures}${failed.length ? ` (${failed.slice(0, 20).map(([o]) => o.seed).join(', ')}${failed.length > 20 ? ', ...' : ''})` : ''}`,
      `wall time:       ${secs.toFixed(1)} s, ${(n / secs).toFixed(2)} seeds/s`,
      `CPU:             ${(cpuMs / n).toFixed(1)} ms per seed (user+system, this process)`,
      `per seed (mean): ${(checkouts / n).toFixed(1)} checkouts, ${(crashes / n).toFixed(1)} crashes, ${Math.round(steps / n)} steps, ${(simulatedMs / n / 1000).toFixed(0)} s simulated`,
    ].join('\n') + '\n',
  );
  if (failed[0]) await report(...failed[0]);
  return failures === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);

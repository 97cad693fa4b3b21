/**
 * One seed, one run: the same seed twice gives byte-identical traces, with every fault on and the
 * generated scenarios in the workload; and nothing in a simulated run reads the real clock, real
 * timers or Math.random.
 */
import { describe, expect, it } from 'vitest';
import { allFaults } from '../../src/devtools/simulation/faults.ts';
import { runSeed } from '../../src/devtools/simulation/run.ts';
import { generatedScenarios } from '../../src/devtools/simulation/scenarios.ts';
import { systemClock } from '../../src/runtime/clock.ts';

describe('deterministic simulation', () => {
  it('gives byte-identical traces for the same seed, and different ones for another', async () => {
    const scenarios = await generatedScenarios();
    const a = await runSeed({ seed: 7, faults: allFaults, scenarios });
    const b = await runSeed({ seed: 7, faults: allFaults, scenarios });
    const c = await runSeed({ seed: 8, faults: allFaults, scenarios });
    expect(a.trace.length).toBeGreaterThan(200);
    expect(a.trace.some((l) => l.includes('follows scenario'))).toBe(true);
    expect(b.trace.join('\n')).toBe(a.trace.join('\n'));
    expect(c.trace.join('\n')).not.toBe(a.trace.join('\n'));
  }, 120_000);

  it('reads no real clock, timer or Math.random from the system while it runs', async () => {
    const seen: string[] = [];
    const fromSystem = (what: string) => {
      const stack = new Error().stack ?? '';
      // Calls from the system's code (src/), not from vitest or from this test.
      if (/\/src\/(?!devtools\/simulation\/run\.ts)/.test(stack.split('\n').slice(2).join('\n'))) seen.push(`${what}\n${stack}`);
    };
    const real = { now: Date.now, random: Math.random, setTimeout: globalThis.setTimeout, setInterval: globalThis.setInterval };
    Date.now = () => (fromSystem('Date.now'), real.now());
    Math.random = () => (fromSystem('Math.random'), real.random());
    globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => (fromSystem('setTimeout'), real.setTimeout(...args))) as typeof setTimeout;
    globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => (fromSystem('setInterval'), real.setInterval(...args)));
    try {
      systemClock.now(); // the detector sees a read from src/ ...
      expect(seen).toHaveLength(1);
      seen.length = 0; // ... and a run makes none
      const r = await runSeed({ seed: 3, faults: allFaults });
      expect(r.checkouts).toBeGreaterThan(0);
    } finally {
      Object.assign(Date, { now: real.now });
      Object.assign(Math, { random: real.random });
      Object.assign(globalThis, { setTimeout: real.setTimeout, setInterval: real.setInterval });
    }
    expect(seen).toEqual([]);
  }, 60_000);
});

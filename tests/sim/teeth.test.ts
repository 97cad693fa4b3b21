/**
 * The simulator has teeth: each deliberately broken variant of the runtime (src/runtime/broken.ts)
 * is found within the CI budget of seeds, and its failure shrinks to a shorter run that still
 * fails, with a command that replays it.
 */
import { describe, expect, it } from 'vitest';
import { allFaults } from '../../src/devtools/simulation/faults.ts';
import { runSeed, type RunOptions, type RunResult } from '../../src/devtools/simulation/run.ts';
import { replayCommand, shrink } from '../../src/devtools/simulation/shrink.ts';
import { BrokenVariant } from '../../src/runtime/broken.ts';

/** Seeds tried per variant before giving up: the CI budget. */
const BUDGET = 12;

async function firstFailure(broken: BrokenVariant): Promise<{ options: RunOptions; result: RunResult } | undefined> {
  for (let seed = 1; seed <= BUDGET; seed++) {
    const options: RunOptions = { seed, faults: allFaults, broken: [broken] };
    const result = await runSeed(options);
    if (!result.ok) return { options, result };
  }
  return undefined;
}

const expected: Record<BrokenVariant, RegExp> = {
  relayMarksSentFirst: /event lost|no saga exists|not settled/,
  // Either symptom of a forgotten inbox, both found among seeds 1-12 at c99cfce: a repeated add-item
  // counted twice (seeds 5, 9), or a saga left compensating (seed 7). Since callers ask again on
  // UNAVAILABLE (call-retry.ts), seed 5's run no longer fails and seed 7 is found first.
  inboxForgets: /was told cart .* holds|ended in \{"compensating"/,
  compensationSkippedAfterTimeout: /was cancelled \(\w+_TIMEOUT\) without releaseInventory/,
  timerFiresTwice: /fired 2 times/,
};

describe('the simulator finds deliberately broken variants', () => {
  for (const variant of Object.values(BrokenVariant)) {
    it(`finds "${variant}" within ${BUDGET} seeds and shrinks it`, async () => {
      const found = await firstFailure(variant);
      expect(found, `${variant} was not found in ${BUDGET} seeds`).toBeDefined();
      const { options, result } = found!;
      expect(result.violations.join('\n')).toMatch(expected[variant]);
      const shrunk = await shrink(options, result, 8);
      expect(shrunk.result.ok).toBe(false);
      expect(shrunk.result.trace.length).toBeLessThanOrEqual(result.trace.length);
      expect(shrunk.result.trace.at(-1)).toMatch(/VIOLATION/);
      const replay = replayCommand(shrunk.options);
      expect(replay).toContain(`--seed ${options.seed}`);
      expect(replay).toContain(`--broken ${variant}`);
      // The replay command's options give the very same run.
      const again = await runSeed(shrunk.options);
      expect(again.trace).toEqual(shrunk.result.trace);
    }, 180_000);
  }

  it('finds nothing in the correct system on the same budget', async () => {
    for (let seed = 1; seed <= BUDGET; seed++) {
      const r = await runSeed({ seed, faults: allFaults });
      expect(r.violations, `seed ${seed}`).toEqual([]);
    }
  }, 180_000);
});

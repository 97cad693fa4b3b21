/**
 * The checkout test plan's link to real runs: for each scenario, the recipe that makes it happen
 * against the running system (the scenario completed the way a healthy world goes on, see
 * checkout-world.ts) under its own stable id, or why no real run can follow it. The plan pages
 * print this under each scenario; `npm run paths -- --run <id>` resolves an id with it; the
 * model tests name their runs by the same ids.
 */
import type { EventObject } from 'xstate';
import { completeCheckout, realiseCheckout, type Recipe } from './checkout-world.ts';
import { checkoutModel } from './models/checkout.ts';
import type { PlanPages, Scenario, TestPlan } from './plan.ts';
import { scenarioId } from './scenario-id.ts';

export type ScenarioRun =
  { ok: true; recipeId: string; recipe: Recipe } | { ok: false; recipeId: string; reason: string };

const { machine, input } = checkoutModel;

/** The id a recipe runs under: the id of its complete event path. */
export const recipeId = (r: Pick<Recipe, 'events'>): string => scenarioId(checkoutModel.name, r.events);

/** How a checkout event path runs against the system: completed, then realised (memoised by the completed path). */
export function checkoutRunner(): (events: readonly EventObject[]) => ScenarioRun {
  const byComplete = new Map<string, ScenarioRun>();
  return (events) => {
    const full = completeCheckout(machine, input, events);
    const id = scenarioId(checkoutModel.name, full);
    let run = byComplete.get(id);
    if (!run) {
      const r = realiseCheckout(machine, input, full);
      run = r.ok
        ? { ok: true, recipeId: id, recipe: r.recipe }
        : { ok: false, recipeId: id, reason: r.reason };
      byComplete.set(id, run);
    }
    return run;
  };
}

/** Every id `--run` accepts: each scenario's, and each recipe's (a completed scenario), with its run. */
export function checkoutRunsById(plan: Pick<TestPlan, 'scenarios'>): Map<string, ScenarioRun> {
  const runOf = checkoutRunner();
  const out = new Map<string, ScenarioRun>();
  for (const s of plan.scenarios) {
    const run = runOf(s.events);
    out.set(s.id, run);
    out.set(run.recipeId, run);
  }
  return out;
}

/**
 * The run of one id `--run` accepts: a scenario's own id needs only its run; an id that is only a
 * recipe's needs every scenario's run to find it (about 2 s of the 8 s a lookup took).
 */
export function checkoutRunById(plan: Pick<TestPlan, 'scenarios'>, id: string): ScenarioRun | undefined {
  const s = plan.scenarios.find((x) => x.id === id);
  return s ? checkoutRunner()(s.events) : checkoutRunsById(plan).get(id);
}

/** The checkout plan's pages: how each scenario runs, and how many of each group can. */
export function checkoutPlanPages(plan: TestPlan): PlanPages {
  const runs = checkoutRunsById(plan);
  const runOf = (s: Scenario) => runs.get(s.id)!;
  // Few distinct reasons, many scenarios: each page names a reason by its number on the index.
  const tally = new Map<string, number>();
  for (const s of plan.scenarios) {
    const run = runOf(s);
    if (!run.ok) tally.set(whyNot(run.reason), (tally.get(whyNot(run.reason)) ?? 0) + 1);
  }
  const reasons = [...tally].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const reasonNo = new Map(reasons.map(([why], i) => [why, i + 1]));
  return {
    column: {
      title: 'run against the system',
      value: (ss) => String(ss.filter((s) => runOf(s).ok).length),
    },
    note: (s) => {
      const run = runOf(s);
      if (!run.ok)
        return `not realisable ([reason ${reasonNo.get(whyNot(run.reason))}](README.md#not-realisable))`;
      return run.recipeId === s.id ? 'runs as it is' : `runs as \`${run.recipeId}\``;
    },
    intro: [
      '## Running a scenario against the system',
      '',
      '`npm run paths -- --run <id>` runs one scenario against the whole system in this process',
      '(real SQLite in a temporary directory, the in-process transport; `--nats` starts a nats-server',
      'and runs it over NATS) and prints each step with its check, PASS or FAIL; the exit code is 1',
      'when a check fails. Under each scenario its page says how it runs:',
      '',
      '- *runs as it is*: the run follows exactly this path;',
      '- *runs as `<id>`*: the scenario stops before the saga ends (or needs an operator), so the run',
      '  follows its completion the way a healthy world goes on (every pending step succeeds, an undo',
      '  that was refused is retried by an operator), which has that id;',
      '- *not realisable*: no real run can follow it, for the reason numbered below; the pure tiers',
      '  (tests/model/machines.paths.test.ts, checkout.rules.test.ts) cover it.',
      '',
      'The model tests (tests/model/checkout.paths.test.ts) name each run they make by the same id.',
      '',
      '## Not realisable',
      '',
      ...reasons.map(([why, n], i) => `${i + 1}. ${why} (${n} scenarios)`),
      '',
    ],
  };
}

/** A realisation failure without its position ("at event 7 (step.failed): ..."), to count alike ones. */
const whyNot = (reason: string): string => reason.replace(/^at event \d+ \([^)]*\): /, '');

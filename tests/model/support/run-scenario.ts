/**
 * `npm run paths -- --run <id>`: one checkout scenario of the test plan, run against the whole
 * system in this process (real SQLite in a temporary directory; the in-process transport, or a
 * nats-server it starts), printing each step with its check, PASS or FAIL. Returns the exit code:
 * 0 every check passed, 1 one failed, 2 the id is unknown, 3 no real run can follow the scenario.
 *
 * `broken` switches on one of the runtime's deliberately broken variants (src/runtime/broken.ts)
 * for the run, to see a failure reported.
 */
import { checkoutRunById } from '../../../src/devtools/testing/checkout-plan.ts';
import { checkoutModel } from '../../../src/devtools/testing/models/checkout.ts';
import { planScenarios } from '../../../src/devtools/testing/plan.ts';
import { withBroken, type BrokenVariant } from '../../../src/runtime/broken.ts';
import type { Mode } from '../../support/system-fixture.ts';
import { Observer } from './observe.ts';
import { recipeCast, startRecipeSystem } from './recipe-system.ts';
import { recipeText, runRecipe } from './run-recipe.ts';
import { World } from './world.ts';

export interface RunScenarioOptions {
  mode: Mode;
  broken?: BrokenVariant | undefined;
  print: (line: string) => void;
}

export async function runScenario(id: string, o: RunScenarioOptions): Promise<number> {
  const plan = { scenarios: planScenarios(checkoutModel) };
  const run = checkoutRunById(plan, id);
  if (!run) {
    o.print(`unknown scenario "${id}": the ids are in docs/test-plan/checkout/ (npm run paths -- --write)`);
    return 2;
  }
  const scenario = plan.scenarios.find((s) => s.id === id);
  o.print(`scenario ${id}${scenario ? `: ${scenario.text}` : ''}`);
  if (!run.ok) {
    o.print(`not realisable: ${run.reason}`);
    o.print('no real run can follow this scenario; the pure tiers cover it (npm run test:model)');
    return 3;
  }
  if (run.recipeId !== id) o.print(`runs as ${run.recipeId}, its completion the way a healthy world goes on`);
  o.print(recipeText(run.recipe));
  o.print(
    `against the system: ${o.mode === 'nats' ? 'over a nats-server started for this run' : 'embedded'}${o.broken ? `, with the broken variant ${o.broken}` : ''}`,
  );
  const started = Date.now();
  const go = async (): Promise<number> => {
    const cast = recipeCast();
    const t = await startRecipeSystem(o.mode, cast);
    let observe: Observer | undefined;
    try {
      const world = new World(t);
      observe = await Observer.open(t, 'paths-run');
      const result = await runRecipe(t, world, observe, run.recipe, cast, (line) =>
        o.print(line.kind === 'act' ? `   … ${line.text}` : `${line.ok ? 'PASS' : 'FAIL'} ${line.text}`),
      );
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      if (result.problems.length) {
        o.print(`FAIL ${id} in ${secs} s:`);
        for (const p of result.problems) o.print(`  ${p}`);
        return 1;
      }
      o.print(`PASS ${id} in ${secs} s`);
      return 0;
    } finally {
      await observe?.close();
      await t.stop();
    }
  };
  return o.broken ? withBroken([o.broken], go) : go();
}

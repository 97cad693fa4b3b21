/**
 * The checkout saga's generated paths, run against the whole running system.
 *
 * Every path xstate/graph generates from the real machine (shortest, simple and the test plan) is
 * completed the way a healthy world goes on and grouped by the resulting recipe; the catalog's
 * rules must predict the recipe's outcome for every path in the group. The realisable recipes are
 * picked so that the runs show every transition, every way a compensation ends and every outcome;
 * each runs embedded, and a representative few also over a real nats-server. A run must journal
 * exactly the path's events and states, publish the statuses the model predicts while it waits,
 * and leave the outside world as the model's final state says.
 *
 * Each run is named by its stable scenario id (docs/test-plan/checkout/), which
 * `npm run paths -- --run <id>` runs alone. MODEL_RECIPES=all runs every realisable recipe
 * embedded (minutes, not seconds).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  costOf,
  groupByRecipe,
  realiseAll,
  selectRecipes,
} from '../../src/devtools/testing/checkout-recipes.ts';
import type { Recipe } from '../../src/devtools/testing/checkout-world.ts';
import { checkoutModel } from '../../src/devtools/testing/models/checkout.ts';
import { generatePaths } from '../../src/devtools/testing/paths.ts';
import type { Mode, TestSystem } from '../support/system-fixture.ts';
import { checkoutRunsById, recipeId } from '../../src/devtools/testing/checkout-plan.ts';
import { planScenarios } from '../../src/devtools/testing/plan.ts';
import { recipeCast, startRecipeSystem } from './support/recipe-system.ts';
import { Observer } from './support/observe.ts';
import { recipeText, runRecipe } from './support/run-recipe.ts';
import { World } from './support/world.ts';

const { machine, input } = checkoutModel;
const generated = generatePaths(checkoutModel);
const allPaths = [...generated.shortest, ...generated.simple, ...generated.plan];
const groups = groupByRecipe(machine, input, allPaths);
const realised = realiseAll(machine, input, groups);
const selected =
  process.env.MODEL_RECIPES === 'all' ? realised.recipes : selectRecipes(machine, input, realised.recipes);

/** A few recipes over NATS: a confirmation, a business refusal, a stall past the deadline, a participant down and back. */
const overNats = [
  selected.find((r) => r.events.at(-1)?.type === 'order.created'),
  selected.find((r) => r.customer === 'fraud'),
  selected.find((r) => r.customer === 'stall'),
  [...selected]
    .filter((r) => r.actions.some((a) => a.action.kind === 'stop'))
    .sort((a, b) => costOf(a) - costOf(b))[0],
].filter((r): r is Recipe => r !== undefined);

const cast = recipeCast();

/** Named by the recipe's stable scenario id, as docs/test-plan/checkout/ and `npm run paths -- --run <id>` name it. */
const name = (r: Recipe) => `${recipeId(r)} (${r.events.length} events): ${r.words}`;

describe('checkout saga paths', () => {
  describe('when generated paths are grouped by real-world recipe', () => {
    it("maps many paths to each recipe, and the rules predict each recipe's outcome for all of its paths", () => {
      expect(groups.length).toBeLessThan(
        new Set(allPaths.map((p) => JSON.stringify(p.steps.map((s) => s.event)))).size,
      );
      const wrong = groups.flatMap((g) =>
        g.predictions.filter((p) => p !== g.outcome).map((p) => `${g.outcome} predicted as ${p}`),
      );
      expect(wrong).toEqual([]);
    });

    it('names every run by a scenario id of docs/test-plan/checkout/, which `npm run paths -- --run` takes', () => {
      const runs = checkoutRunsById({ scenarios: planScenarios(checkoutModel, generated) });
      const unknown = selected.map(recipeId).filter((id) => !runs.get(id)?.ok);
      expect(unknown).toEqual([]);
    });

    it('realises every outcome of every step and every way a compensation ends in the selected runs', () => {
      const has = (type: string, extra: Record<string, unknown> = {}) =>
        selected.some((r) =>
          r.events.some(
            (e) =>
              e.type === type &&
              Object.entries(extra).every(([k, v]) => (e as unknown as Record<string, unknown>)[k] === v),
          ),
        );
      for (const [type, extra] of [
        ['inventory.reserved', {}],
        ['inventory.unavailable', {}],
        ['step.failed', { step: 'reserveInventory' }],
        ['timer.expired', { timer: 'reserveInventory' }],
        ['payment.authorized', {}],
        ['payment.declined', { fraud: false }],
        ['payment.declined', { fraud: true }],
        ['step.failed', { step: 'authorizePayment' }],
        ['timer.expired', { timer: 'authorizePayment' }],
        ['order.created', {}],
        ['order.rejected', {}],
        ['step.failed', { step: 'createOrder' }],
        ['timer.expired', { timer: 'createOrder' }],
        ['payment.voided', {}],
        ['inventory.released', {}],
        ['order.cancelled', {}],
        ['timer.expired', { timer: 'voidPayment' }],
        ['timer.expired', { timer: 'releaseInventory' }],
        ['timer.expired', { timer: 'cancelOrder' }],
        ['step.failed', { step: 'voidPayment' }],
        ['step.failed', { step: 'releaseInventory' }],
        ['step.failed', { step: 'cancelOrder' }],
        ['operator.retry', {}],
      ] as const) {
        expect(has(type, extra), `${type} ${JSON.stringify(extra)}`).toBe(true);
      }
      // Which scenarios cannot run for real, and why, is on each page of docs/test-plan/checkout/;
      // MODEL_VERBOSE=1 prints the tally here too.
      if (process.env.MODEL_VERBOSE)
        console.info(
          `checkout: ${allPaths.length} generated paths → ${groups.length} recipes (${new Set(groups.map((g) => g.outcome)).size} outcomes); ` +
            `${realised.recipes.length} realisable, ${selected.length} run embedded, ${overNats.length} over NATS\n` +
            `not realisable:\n${[...realised.unrealisable].map(([why, n]) => `  ${n} × ${why}`).join('\n')}`,
        );
    });
  });

  describe.each<[Mode, Recipe[]]>([
    ['embedded', selected],
    ['nats', overNats],
  ])('when run against the system (%s)', (mode, recipes) => {
    let t: TestSystem;
    let world: World;
    let observe: Observer;

    beforeAll(async () => {
      t = await startRecipeSystem(mode, cast);
      world = new World(t);
      observe = await Observer.open(t, `model-tap-${mode}`);
    });
    afterAll(async () => {
      await observe?.close();
      await t?.stop();
    });

    it.each(recipes.map((r) => [name(r), r] as const))(
      'follows %s',
      async (_name, r) => {
        const { problems } = await runRecipe(t, world, observe, r, cast);
        expect(problems, `\n${recipeText(r)}\n`).toEqual([]);
      },
      60_000,
    );
  });
});

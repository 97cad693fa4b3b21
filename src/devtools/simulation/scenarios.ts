/**
 * Workloads from the generated scenarios (`npm run paths`): the checkout machine's generated
 * paths, grouped into the recipes that can be made to happen for real (src/testing/), give the
 * kinds of shopper a run must include: who the customer is and what the basket is. A scenario
 * shopper checks out exactly that; the world changes a recipe asks for (a participant down, a
 * command failing) are left to the fault injector, which does them at random steps instead.
 */
import type { Basket, Customer } from '../testing/checkout-world.ts';

export interface Scenario {
  customer: Customer;
  basket: Basket;
  /** The first recipe of this kind, in a tester's words. */
  words: string;
}

let cached: Scenario[] | undefined;

/** The distinct (customer, basket) kinds of every realisable recipe. Takes seconds: computed once per process. */
export async function generatedScenarios(): Promise<Scenario[]> {
  if (cached) return cached;
  const [{ groupByRecipe, realiseAll }, { checkoutModel }, { generatePaths }] = await Promise.all([
    import('../testing/checkout-recipes.ts'),
    import('../testing/models/checkout.ts'),
    import('../testing/paths.ts'),
  ]);
  const { machine, input } = checkoutModel;
  const g = generatePaths(checkoutModel);
  const { recipes } = realiseAll(machine, input, groupByRecipe(machine, input, [...g.shortest, ...g.simple, ...g.plan]));
  const kinds = new Map<string, Scenario>();
  for (const r of recipes) {
    const key = `${r.customer}/${r.basket}`;
    if (!kinds.has(key)) kinds.set(key, { customer: r.customer, basket: r.basket, words: r.words });
  }
  cached = [...kinds.values()];
  return cached;
}

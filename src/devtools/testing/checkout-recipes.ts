/**
 * From generated checkout paths to the few real runs worth doing.
 *
 * Every generated path (shortest, simple, plan) is completed the way a healthy world goes on, and
 * paths that complete to the same event sequence share one recipe: many paths, one real-world
 * scenario. Each recipe's paths must all predict the same outcome. The realisable recipes are
 * then picked greedily until the picked ones show every transition, every way a compensation
 * can end and every outcome that any realisable recipe shows, the quick ones first.
 */
import type { AnyMachineSnapshot, AnyStateMachine, EventObject } from 'xstate';
import type { CheckoutContext, CheckoutEvent } from '../../machines/checkout.ts';
import { expectedFailure } from './checkout-spec.ts';
import { completeCheckout, realiseCheckout, type Recipe } from './checkout-world.ts';
import { statePath } from './model.ts';
import { compensationIn } from './models/checkout.ts';
import { eventsOf, type Path } from './paths.ts';
import { replay } from './transitions.ts';

/** How a checkout ends, as the outside world can tell: CONFIRMED, or CANCELLED and why. */
export function outcomeOf(s: AnyMachineSnapshot): string {
  const c = s.context as CheckoutContext;
  const end = statePath(s.value);
  return end === 'confirmed'
    ? 'CONFIRMED'
    : end === 'cancelled'
      ? `CANCELLED ${c.failure ?? '?'}`
      : `stuck in ${end}`;
}

/**
 * The outcome the catalog's rules predict for a (possibly partial) path, without asking the
 * machine how it ends: the first failing step decides the failure, and a path with none so far
 * goes on to be confirmed in a healthy world.
 */
export function predictedOutcome(
  machine: AnyStateMachine,
  input: unknown,
  events: readonly EventObject[],
): string {
  const { snapshots } = replay(machine, events, { input });
  let before = 'idle';
  for (const [i, e] of events.entries()) {
    const failure = expectedFailure(before, e as CheckoutEvent);
    if (failure) return `CANCELLED ${failure}`;
    before = statePath(snapshots[i]!.value);
  }
  return 'CONFIRMED';
}

export interface RecipeGroup {
  events: CheckoutEvent[];
  /** How the recipe ends on the machine. */
  outcome: string;
  /** The generated paths that complete to this recipe. */
  paths: EventObject[][];
  /** What the rules predict for each of those paths (all equal to `outcome` when the mapping is sound). */
  predictions: string[];
}

export function groupByRecipe(
  machine: AnyStateMachine,
  input: unknown,
  paths: readonly Path[],
): RecipeGroup[] {
  const groups = new Map<string, RecipeGroup>();
  const seen = new Set<string>();
  for (const p of paths) {
    const events = eventsOf(p);
    const key = JSON.stringify(events);
    if (seen.has(key)) continue;
    seen.add(key);
    const full = completeCheckout(machine, input, events);
    const k = JSON.stringify(full);
    const g = groups.get(k) ?? {
      events: full,
      outcome: outcomeOf(replay(machine, full, { input }).snapshots.at(-1)!),
      paths: [],
      predictions: [],
    };
    g.paths.push(events);
    g.predictions.push(predictedOutcome(machine, input, events));
    groups.set(k, g);
  }
  return [...groups.values()];
}

export interface Realised {
  recipes: Recipe[];
  /** Why the others cannot run for real, with how many recipes each reason rules out. */
  unrealisable: Map<string, number>;
}

export function realiseAll(
  machine: AnyStateMachine,
  input: unknown,
  groups: readonly RecipeGroup[],
): Realised {
  const out: Realised = { recipes: [], unrealisable: new Map() };
  for (const g of groups) {
    const r = realiseCheckout(machine, input, g.events);
    if (r.ok) out.recipes.push(r.recipe);
    else {
      const reason = r.reason.replace(/^at event \d+ \([^)]*\): /, '');
      out.unrealisable.set(reason, (out.unrealisable.get(reason) ?? 0) + 1);
    }
  }
  return out;
}

const doneEvent = {
  voidPayment: 'payment.voided',
  releaseInventory: 'inventory.released',
  cancelOrder: 'order.cancelled',
} as const;

/** What a run of a recipe shows: the transitions it takes, how each undo ends, the outcome. */
export function featuresOf(machine: AnyStateMachine, input: unknown, r: Recipe): Set<string> {
  const out = new Set<string>();
  const { taken } = replay(machine, r.events, { input });
  for (const t of taken.flat()) out.add(`transition ${t.label}`);
  r.events.forEach((e, i) => {
    const before = r.states[i]!;
    const step = compensationIn(before);
    if (step && e.type === doneEvent[step])
      out.add(
        `${step} done ${statePath(before.value).endsWith('needsAttention') ? 'after needing attention' : 'at once'}`,
      );
    if (step && e.type === 'operator.retry') out.add(`${step} retried by an operator`);
  });
  out.add(`ends ${outcomeOf(r.states.at(-1)!)}`);
  return out;
}

/** Roughly how long a real run takes, in deadlines waited for and world changes made. */
export const costOf = (r: Recipe): number =>
  1 + 2 * r.events.filter((e) => e.type === 'timer.expired').length + r.actions.length;

/** Greedy cover of every feature the realisable recipes show, best gain per cost first; deterministic. */
export function selectRecipes(
  machine: AnyStateMachine,
  input: unknown,
  recipes: readonly Recipe[],
): Recipe[] {
  const features = recipes.map((r) => featuresOf(machine, input, r));
  const missing = new Set(features.flatMap((f) => [...f]));
  const chosen: Recipe[] = [];
  while (missing.size) {
    let best = -1;
    let bestScore = 0;
    recipes.forEach((r, i) => {
      const gain = [...features[i]!].filter((f) => missing.has(f)).length;
      const score = gain / costOf(r);
      if (score > bestScore) [best, bestScore] = [i, score];
    });
    if (best < 0) break;
    chosen.push(recipes[best]!);
    for (const f of features[best]!) missing.delete(f);
  }
  return chosen;
}

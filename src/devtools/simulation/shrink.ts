/**
 * Shrinking a failing run to the shortest one that still fails: fewer shoppers, fewer kinds of
 * fault, faults that stop earlier. Each candidate is a full deterministic re-run of the same seed
 * with smaller options, kept if it still violates an invariant and its trace is shorter. What comes
 * out is a run to read (its trace) and a command that replays it exactly.
 */
import { runSeed, defaultShoppers, type RunOptions, type RunResult } from './run.ts';

export interface Shrunk {
  options: RunOptions;
  result: RunResult;
  /** Re-runs it took. */
  tries: number;
}

export async function shrink(options: RunOptions, failed: RunResult, budget = 24): Promise<Shrunk> {
  let best: Shrunk = { options, result: failed, tries: 0 };
  let tries = 0;
  const attempt = async (candidate: RunOptions): Promise<boolean> => {
    if (tries >= budget) return false;
    tries++;
    const r = await runSeed(candidate);
    if (r.ok || r.trace.length >= best.result.trace.length) return false;
    best = { options: candidate, result: r, tries };
    return true;
  };

  const shoppers = options.shoppers ?? defaultShoppers;
  for (let n = 1; n < shoppers; n++) if (await attempt({ ...best.options, shoppers: n })) break;
  for (const f of [...best.options.faults]) await attempt({ ...best.options, faults: best.options.faults.filter((k) => k !== f) });
  // Faults that stop earlier: bisect the last step at which they still matter.
  let lo = 0;
  let hi = best.options.faultSteps ?? best.result.steps;
  while (hi - lo > 8 && tries < budget) {
    const mid = Math.floor((lo + hi) / 2);
    if (await attempt({ ...best.options, faultSteps: mid })) hi = mid;
    else lo = mid;
  }
  return { ...best, tries };
}

/** The command that replays a run exactly. */
export function replayCommand(o: RunOptions): string {
  const args = [`--seed ${o.seed}`, `--faults ${o.faults.length ? o.faults.join(',') : 'none'}`];
  if (o.shoppers !== undefined) args.push(`--shoppers ${o.shoppers}`);
  if (o.faultSteps !== undefined) args.push(`--fault-steps ${o.faultSteps}`);
  if (o.broken?.length) args.push(`--broken ${o.broken.join(',')}`);
  if (!o.scenarios) args.push('--no-scenarios');
  return `npm run simulate -- ${args.join(' ')}`;
}

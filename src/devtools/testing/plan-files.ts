/**
 * Every machine's test plan as the files under docs/test-plan/ (`npm run paths -- --write` writes
 * them, tests/model/machines.paths.test.ts compares them): the checkout saga's pages also say how
 * each scenario runs against the system.
 */
import { checkoutPlanPages } from './checkout-plan.ts';
import type { MachineModel } from './model.ts';
import { renderPlanFiles, testPlan, type TestPlan } from './plan.ts';

export function planFilesOf(model: MachineModel, plan: TestPlan = testPlan(model)): Map<string, string> {
  return renderPlanFiles(plan, model.name === 'checkout' ? checkoutPlanPages(plan) : {});
}

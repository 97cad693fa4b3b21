/**
 * The test plan a tester reads: every generated path as a numbered scenario in plain words,
 * e.g. "cart checked out → inventory reserved → payment declined → payment voided →
 * reservation released → order cancelled (PAYMENT_FAILED)".
 *
 * The output is deterministic (no times, no counts that depend on the run), so the committed
 * Markdown under docs/test-plan/ can be compared with a fresh rendering to catch a stale plan.
 */
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import type { MachineModel } from './model.ts';
import {
  coverageReport,
  eventsOf,
  explore,
  generatePaths,
  type CoverageReport,
  type GeneratedPaths,
  type Path,
} from './paths.ts';

export interface Scenario {
  n: number;
  /** Which generator produced it: the compact shortest paths, the exhaustive simple paths, or a transition-cover path. */
  origin: 'shortest' | 'simple' | 'cover';
  steps: string[];
  end: string;
  text: string;
  /** The state the scenario ends in, by the model's state key. */
  finalState: string;
  events: EventObject[];
}

export interface TestPlan {
  machine: string;
  title: string;
  counts: { shortestPaths: number; simplePaths: number; scenarios: number };
  coverage: CoverageReport;
  scenarios: Scenario[];
}

/** The steps of a path in words, and how it ends. */
export function describePath(
  model: MachineModel,
  path: Path,
): { steps: string[]; end: string; text: string } {
  const events = eventsOf(path);
  const befores: AnyMachineSnapshot[] = path.steps.slice(0, events.length).map((s) => s.state);
  const steps = events.map((e, i) => model.describeEvent(e, befores[i] ?? path.state));
  const end = model.describeEnd(path.state);
  return { steps, end, text: `${steps.length ? steps.join(' → ') : '(nothing happens)'} ${end}` };
}

/** Orders paths as a walk of the tree they form: by the sampler's order of each event, in turn. */
function byTreeOrder(model: MachineModel) {
  const index = new Map(model.events.map((e, i) => [JSON.stringify(e), i]));
  const seq = (p: Path) => eventsOf(p).map((e) => index.get(JSON.stringify(e)) ?? -1);
  return (a: Path, b: Path): number => {
    const x = seq(a);
    const y = seq(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
    return x.length - y.length;
  };
}

export function testPlan(model: MachineModel, generated: GeneratedPaths = generatePaths(model)): TestPlan {
  const order = byTreeOrder(model);
  const compact = [...generated.modelShortest].sort(order);
  const compactKeys = new Set(compact.map((p) => JSON.stringify(eventsOf(p))));
  const rest = generated.plan.filter((p) => !compactKeys.has(JSON.stringify(eventsOf(p))));
  const simple = rest.filter((p) => p.origin !== 'cover').sort(order);
  const cover = rest.filter((p) => p.origin === 'cover').sort(order);
  const scenarios = [...compact, ...simple, ...cover].map((p, i): Scenario => ({
    n: i + 1,
    origin: compactKeys.has(JSON.stringify(eventsOf(p)))
      ? 'shortest'
      : p.origin === 'cover'
        ? 'cover'
        : 'simple',
    ...describePath(model, p),
    finalState: model.stateKey(p.state),
    events: eventsOf(p),
  }));
  return {
    machine: model.name,
    title: model.title,
    counts: {
      shortestPaths: generated.shortest.length,
      simplePaths: generated.simple.length,
      scenarios: scenarios.length,
    },
    coverage: coverageReport(model, generated.plan, explore(model)),
    scenarios,
  };
}

export function renderMarkdown(plan: TestPlan): string {
  const c = plan.coverage;
  const section = (origin: Scenario['origin']) =>
    plan.scenarios.filter((s) => s.origin === origin).map((s) => `${s.n}. ${s.text}`);
  const lines = [
    `# Test plan: ${plan.machine}`,
    '',
    `${plan.title}.`,
    '',
    `Generated from the machine itself by \`npm run paths -- --machine ${plan.machine}\` (xstate/graph); do not edit by hand.`,
    'A test (tests/model/machines.paths.test.ts) fails when this file no longer matches the machine;',
    'regenerate every plan with `npm run paths -- --write`.',
    '',
    `- \`getShortestPaths\`: ${plan.counts.shortestPaths} paths (one per reachable state); \`getSimplePaths\`: ${plan.counts.simplePaths} paths.`,
    `- Scenarios below: ${plan.counts.scenarios} (the test model's shortest and simple paths, each path that is the start of a longer one left out, plus paths for transitions none of them takes).`,
    `- Coverage: ${c.states.covered}/${c.states.reachable} reachable states, ${c.nodes.covered}/${c.nodes.defined} state nodes, ${c.transitions.covered}/${c.transitions.reachable} reachable transitions (${c.transitions.defined} defined).`,
    '',
    '## Shortest paths',
    '',
    ...section('shortest'),
    '',
  ];
  const simple = section('simple');
  if (simple.length) lines.push('## Every other simple path', '', ...simple, '');
  const cover = section('cover');
  if (cover.length) lines.push('## Transitions no simple path takes', '', ...cover, '');
  return lines.join('\n');
}

export function renderJson(plan: TestPlan): string {
  return `${JSON.stringify(plan, null, 2)}\n`;
}

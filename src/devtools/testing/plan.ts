/**
 * The test plan a tester reads: every generated path as a scenario in plain words, under a stable
 * id derived from its event path (scenario-id.ts), e.g. "checkout-7k3fq9: cart checked out →
 * inventory reserved → payment declined → payment voided → reservation released → order
 * cancelled (PAYMENT_FAILED)".
 *
 * A machine whose model groups scenarios by outcome (the checkout saga) gets an index page with
 * the count of each group and one page per group; the others one page. The output is
 * deterministic (no times, no counts that depend on the run), so the committed Markdown under
 * docs/test-plan/ can be compared with a fresh rendering to catch a stale plan.
 */
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import type { MachineModel, Outcome } from './model.ts';
import {
  coverageReport,
  eventsOf,
  explore,
  generatePaths,
  planPaths,
  type CoverageReport,
  type GeneratedPaths,
  type Path,
} from './paths.ts';
import { scenarioId } from './scenario-id.ts';

export interface Scenario {
  /** Stable: derived from the event path, so it stays when other scenarios come and go. */
  id: string;
  /** Which generator produced it: the compact shortest paths, the exhaustive simple paths, or a transition-cover path. */
  origin: 'shortest' | 'simple' | 'cover';
  steps: string[];
  end: string;
  text: string;
  /** The state the scenario ends in, by the model's state key. */
  finalState: string;
  events: EventObject[];
  /** The outcome group, when the model has groups. */
  outcome?: Outcome;
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
  const scenarios = planScenarios(model, generated);
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

/**
 * The plan's scenarios, in the plan's order, without its counts and coverage: what finding a
 * scenario by its id needs (`npm run paths -- --run <id>`).
 */
export function planScenarios(
  model: MachineModel,
  generated: Pick<GeneratedPaths, 'modelShortest' | 'plan'> = planPaths(model),
): Scenario[] {
  const order = byTreeOrder(model);
  const compact = [...generated.modelShortest].sort(order);
  const compactKeys = new Set(compact.map((p) => JSON.stringify(eventsOf(p))));
  const rest = generated.plan.filter((p) => !compactKeys.has(JSON.stringify(eventsOf(p))));
  const simple = rest.filter((p) => p.origin !== 'cover').sort(order);
  const cover = rest.filter((p) => p.origin === 'cover').sort(order);
  return [...compact, ...simple, ...cover].map((p): Scenario => ({
    id: scenarioId(model.name, eventsOf(p)),
    origin: compactKeys.has(JSON.stringify(eventsOf(p)))
      ? 'shortest'
      : p.origin === 'cover'
        ? 'cover'
        : 'simple',
    ...describePath(model, p),
    finalState: model.stateKey(p.state),
    events: eventsOf(p),
    ...(model.outcome ? { outcome: model.outcome(p.steps.map((step) => step.state)) } : {}),
  }));
}

/** Something to say under a scenario, e.g. how to run it against the system. */
export type ScenarioNote = (s: Scenario) => string | undefined;

const item = (s: Scenario, note?: ScenarioNote) => {
  const more = note?.(s);
  return `- \`${s.id}\` ${s.text}${more ? `: ${more}` : ''}`;
};

function sections(scenarios: readonly Scenario[], note?: ScenarioNote): string[] {
  const lines: string[] = [];
  const titles: Array<[Scenario['origin'], string]> = [
    ['shortest', 'Shortest paths'],
    ['simple', 'Every other simple path'],
    ['cover', 'Transitions no simple path takes'],
  ];
  for (const [origin, title] of titles) {
    const these = scenarios.filter((s) => s.origin === origin);
    if (these.length) lines.push(`## ${title}`, '', ...these.map((s) => item(s, note)), '');
  }
  return lines;
}

function summary(plan: TestPlan): string[] {
  const c = plan.coverage;
  return [
    `- \`getShortestPaths\`: ${plan.counts.shortestPaths} paths (one per reachable state); \`getSimplePaths\`: ${plan.counts.simplePaths} paths.`,
    `- Scenarios: ${plan.counts.scenarios} (the test model's shortest and simple paths, each path that is the start of a longer one left out, plus paths for transitions none of them takes).`,
    `- Coverage: ${c.states.covered}/${c.states.reachable} reachable states, ${c.nodes.covered}/${c.nodes.defined} state nodes, ${c.transitions.covered}/${c.transitions.reachable} reachable transitions (${c.transitions.defined} defined).`,
    "- Each scenario's id (`" +
      plan.machine +
      '-` and six letters) is derived from its event path: it does not change when other scenarios are added or removed.',
  ];
}

const generatedBy = [
  `Generated from the machine itself by \`npm run paths -- --write\` (xstate/graph); do not edit by hand.`,
  'A test (tests/model/machines.paths.test.ts) fails when these pages no longer match the machine.',
];

/** A plan's heading: title, provenance, counts and coverage. */
const heading = (plan: TestPlan): string[] => [
  `# Test plan: ${plan.machine}`,
  '',
  `${plan.title}.`,
  '',
  ...generatedBy,
  '',
  ...summary(plan),
  '',
];

export function renderMarkdown(plan: TestPlan, note?: ScenarioNote): string {
  return [...heading(plan), ...sections(plan.scenarios, note)].join('\n');
}

/** The plan's groups by outcome, in the model's order, each with its scenarios. */
export function outcomeGroups(plan: TestPlan): Array<{ outcome: Outcome; scenarios: Scenario[] }> {
  const groups = new Map<string, { outcome: Outcome; scenarios: Scenario[] }>();
  for (const s of plan.scenarios) {
    if (!s.outcome) continue;
    const g = groups.get(s.outcome.key) ?? { outcome: s.outcome, scenarios: [] };
    g.scenarios.push(s);
    groups.set(s.outcome.key, g);
  }
  return [...groups.values()].sort((a, b) => a.outcome.order - b.outcome.order);
}

export interface PlanPages {
  /** Extra lines for the index, under the counts (e.g. how to run a scenario). */
  intro?: string[];
  note?: ScenarioNote;
  /** A column for the index: per group, e.g. how many scenarios run against the system. */
  column?: { title: string; value(scenarios: readonly Scenario[]): string };
}

/**
 * The files of a machine's plan, by path under docs/test-plan/: `<machine>.md`, or, for a model
 * with outcome groups, `<machine>/README.md` (the index with counts) and `<machine>/<group>.md`.
 */
export function renderPlanFiles(plan: TestPlan, pages: PlanPages = {}): Map<string, string> {
  const groups = outcomeGroups(plan);
  if (!groups.length) return new Map([[`${plan.machine}.md`, renderMarkdown(plan, pages.note)]]);
  const files = new Map<string, string>();
  const col = pages.column;
  const index = [
    ...heading(plan),
    '## Scenarios by outcome',
    '',
    `| outcome | scenarios |${col ? ` ${col.title} |` : ''}`,
    `| --- | ---: |${col ? ' ---: |' : ''}`,
    ...groups.map(
      (g) =>
        `| [${g.outcome.title}](${g.outcome.key}.md) | ${g.scenarios.length} |${col ? ` ${col.value(g.scenarios)} |` : ''}`,
    ),
    `| all | ${plan.scenarios.length} |${col ? ` ${col.value(plan.scenarios)} |` : ''}`,
    '',
    ...(pages.intro ?? []),
  ];
  files.set(`${plan.machine}/README.md`, `${index.join('\n')}\n`);
  for (const g of groups) {
    const page = [
      `# ${plan.machine}: ${g.outcome.title} (${g.scenarios.length} scenario${g.scenarios.length === 1 ? '' : 's'})`,
      '',
      `Part of [the ${plan.machine} test plan](README.md). ${generatedBy[0]}`,
      '',
      ...sections(g.scenarios, pages.note),
    ];
    files.set(`${plan.machine}/${g.outcome.key}.md`, page.join('\n'));
  }
  return files;
}

export function renderJson(plan: TestPlan): string {
  return `${JSON.stringify(plan, null, 2)}\n`;
}

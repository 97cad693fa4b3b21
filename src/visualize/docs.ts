/**
 * The generated files under docs/machines, one set per machine: `<name>.mmd` (Mermaid),
 * `<name>.svg` and `<name>.json` (the definition Stately Studio imports). `npm run viz` writes
 * them; tests/unit/viz.test.ts fails when the committed ones differ from what the machines give.
 */
import { toDefinition } from './definition.ts';
import { machineGraph } from './graph.ts';
import type { MachineEntry } from './machines.ts';
import { toMermaid } from './mermaid.ts';
import { toSvg } from './svg.ts';

export const MACHINE_DOCS_DIR = 'docs/machines';

export interface GeneratedFile {
  /** Relative to the repository root. */
  path: string;
  content: string;
}

export function machineDocs(entry: MachineEntry): GeneratedFile[] {
  const graph = machineGraph(entry.machine);
  const notice = `${entry.name} machine, version ${entry.version}: generated from ${entry.source} by \`npm run viz\`; do not edit.`;
  return [
    { path: `${MACHINE_DOCS_DIR}/${entry.name}.mmd`, content: toMermaid(graph, notice) },
    { path: `${MACHINE_DOCS_DIR}/${entry.name}.svg`, content: `<!-- ${notice} -->\n${toSvg(graph, entry.name)}` },
    { path: `${MACHINE_DOCS_DIR}/${entry.name}.json`, content: `${JSON.stringify(toDefinition(graph, entry.version), null, 2)}\n` },
  ];
}

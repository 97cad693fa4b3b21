/**
 * The generated files under docs/machines, one set per machine: `<name>.mmd` (Mermaid),
 * `<name>.svg` and `<name>.json` (the definition Stately Studio imports). `npm run viz` writes
 * them; tests/unit/viz.test.ts fails when the committed ones differ from what the machines give.
 *
 * A Markdown file can embed a machine's Mermaid between `<!-- machine:checkout -->` and
 * `<!-- /machine:checkout -->`; `npm run viz` keeps that block current too (EMBEDDING_FILES).
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

/**
 * Markdown files whose marked blocks `npm run viz` keeps in step with the machines. The README
 * shows the SVG instead (GitHub's Mermaid renderer tangles the checkout's failure arrows).
 */
export const EMBEDDING_FILES = ['docs/visualizer.md'];

/** `text` with every `<!-- machine:NAME -->` block replaced by that machine's Mermaid, fenced. */
export function embedMermaid(text: string, mermaidOf: (name: string) => string | undefined): string {
  return text.replace(/<!-- machine:([a-z]+) -->\n[\s\S]*?<!-- \/machine:\1 -->/g, (block, name: string) => {
    const mmd = mermaidOf(name);
    return mmd === undefined ? block : `<!-- machine:${name} -->\n\`\`\`mermaid\n${mmd}\`\`\`\n<!-- /machine:${name} -->`;
  });
}

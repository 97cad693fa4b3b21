/**
 * `npm run viz`: writes docs/machines/<machine>.{mmd,svg,json} for every machine in src/machines,
 * and refreshes the Mermaid blocks marked `<!-- machine:NAME -->` in
 * docs/visualizer.md. `npm run viz -- --check`: writes nothing; lists what is stale and exits 1.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EMBEDDING_FILES, embedMermaid, machineDocs } from '../src/devtools/visualize/docs.ts';
import { machines } from '../src/devtools/visualize/machines.ts';
import { readIfExists as read, report, syncFiles } from './generated.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');

const generated = machines.flatMap(machineDocs);
const mermaidOf = (name: string) => generated.find((f) => f.path.endsWith(`/${name}.mmd`))?.content;
const embedding = EMBEDDING_FILES.flatMap((path) => {
  const text = read(resolve(root, path));
  return text === undefined ? [] : [{ path, content: embedMermaid(text, mermaidOf) }];
});
report(syncFiles(root, [...generated, ...embedding], check), check, 'npm run viz', 'the machine diagrams are');

/**
 * `npm run viz`: writes docs/machines/<machine>.{mmd,svg,json} for every machine in src/machines,
 * and refreshes the Mermaid blocks marked `<!-- machine:NAME -->` in README.md and
 * docs/visualizer.md. `npm run viz -- --check`: writes nothing; lists what is stale and exits 1.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EMBEDDING_FILES, embedMermaid, machineDocs } from '../src/devtools/visualize/docs.ts';
import { machines } from '../src/devtools/visualize/machines.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

const stale: string[] = [];
const generated = machines.flatMap(machineDocs);
const mermaidOf = (name: string) => generated.find((f) => f.path.endsWith(`/${name}.mmd`))?.content;
const embedding = EMBEDDING_FILES.flatMap((path) => {
  const text = read(resolve(root, path));
  return text === undefined ? [] : [{ path, content: embedMermaid(text, mermaidOf) }];
});
for (const file of [...generated, ...embedding]) {
  const path = resolve(root, file.path);
  if (read(path) === file.content) continue;
  stale.push(file.path);
  if (!check) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.content);
  }
}

if (check) {
  if (stale.length) {
    console.error(`out of date (run npm run viz):\n  ${stale.join('\n  ')}`);
    process.exit(1);
  }
  console.log('the machine diagrams are up to date');
} else {
  console.log(stale.length ? `wrote:\n  ${stale.join('\n  ')}` : 'the machine diagrams were already up to date');
}

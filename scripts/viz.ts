/**
 * `npm run viz`: writes docs/machines/<machine>.{mmd,svg,json} for every machine in src/machines.
 * `npm run viz -- --check`: writes nothing; lists the files that are out of date and exits 1.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineDocs } from '../src/visualize/docs.ts';
import { machines } from '../src/visualize/machines.ts';

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
for (const entry of machines) {
  for (const file of machineDocs(entry)) {
    const path = resolve(root, file.path);
    if (read(path) === file.content) continue;
    stale.push(file.path);
    if (!check) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, file.content);
    }
  }
}

if (check) {
  if (stale.length) {
    console.error(`out of date (run npm run viz):\n  ${stale.join('\n  ')}`);
    process.exit(1);
  }
  console.log('docs/machines is up to date');
} else {
  console.log(stale.length ? `wrote:\n  ${stale.join('\n  ')}` : 'docs/machines was already up to date');
}

/**
 * `npm run contracts`: writes the contract artifacts under contracts/ (JSON Schemas, AsyncAPI,
 * EventCatalog) from src/contracts, and deletes generated files that no longer have a source.
 * `npm run contracts -- --check`: writes nothing; lists what is stale and exits 1.
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONTRACTS_DIR, contractFiles } from '../src/contracts/artifacts/files.ts';
import { report, syncFiles } from './generated.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');

const walk = (dir: string): string[] => {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((e) => (statSync(join(dir, e)).isDirectory() ? walk(join(dir, e)) : [join(dir, e)]));
};

const files = contractFiles();
const stale = syncFiles(root, files, check);
const wanted = new Set(files.map((f) => f.path));
for (const path of walk(resolve(root, CONTRACTS_DIR))) {
  const rel = relative(root, path);
  if (wanted.has(rel)) continue;
  stale.push(`${rel} (no longer generated)`);
  if (!check) rmSync(path);
}
report(stale, check, 'npm run contracts', `contracts/ (${files.length} files) is`);

/**
 * Writing generated files the way `npm run viz` and `npm run contracts` do: only what changed, or,
 * with `--check`, nothing, listing what is stale and exiting 1.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export interface Generated {
  path: string;
  content: string;
}

/** The file's text, or undefined when it does not exist. */
export function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Writes each file whose content differs (unless `check`); returns the stale paths, relative to `root`. */
export function syncFiles(root: string, files: readonly Generated[], check: boolean): string[] {
  const stale: string[] = [];
  for (const file of files) {
    const path = resolve(root, file.path);
    if (readIfExists(path) === file.content) continue;
    stale.push(file.path);
    if (!check) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, file.content);
    }
  }
  return stale;
}

/** Reports the outcome; with `check`, exits 1 when anything is stale. */
export function report(stale: readonly string[], check: boolean, command: string, what: string): void {
  if (check) {
    if (stale.length) {
      console.error(`out of date (run ${command}):\n  ${stale.join('\n  ')}`);
      process.exit(1);
    }
    console.log(`${what} up to date`);
  } else {
    console.log(stale.length ? `wrote:\n  ${stale.join('\n  ')}` : `${what} already up to date`);
  }
}

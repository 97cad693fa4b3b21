/**
 * Prints a machine's generated paths as a numbered test plan in plain words.
 *
 *   npm run paths -- --machine checkout                 Markdown on stdout
 *   npm run paths -- --machine checkout --format json   the same as JSON (events included)
 *   npm run paths -- --write                            regenerates docs/test-plan/<machine>.md for every machine
 *
 * The paths come from the real machines in src/machines (see src/devtools/testing/paths.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { machineModels, machineNames } from '../src/devtools/testing/models/index.ts';
import { renderJson, renderMarkdown, testPlan } from '../src/devtools/testing/plan.ts';

const usage = `usage: npm run paths -- --machine <${machineNames.join('|')}> [--format md|json]
       npm run paths -- --write [--dir docs/test-plan]`;

function main(): number {
  const { values } = parseArgs({
    options: {
      machine: { type: 'string', short: 'm' },
      format: { type: 'string', short: 'f', default: 'md' },
      write: { type: 'boolean', default: false },
      dir: { type: 'string', default: 'docs/test-plan' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (values.write) {
    mkdirSync(values.dir, { recursive: true });
    for (const name of machineNames) {
      const file = join(values.dir, `${name}.md`);
      writeFileSync(file, renderMarkdown(testPlan(machineModels[name]!)));
      console.log(`wrote ${file}`);
    }
    return 0;
  }
  const model = values.machine ? machineModels[values.machine] : undefined;
  if (!model) {
    console.error(values.machine ? `unknown machine "${values.machine}"\n${usage}` : usage);
    return 2;
  }
  if (values.format !== 'md' && values.format !== 'json') {
    console.error(`unknown format "${values.format}"\n${usage}`);
    return 2;
  }
  const plan = testPlan(model);
  process.stdout.write(values.format === 'json' ? renderJson(plan) : renderMarkdown(plan));
  return 0;
}

// `npm run paths ... | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});
process.exitCode = main();

/**
 * The test plan: print it, write it, or run one of its scenarios against the real system.
 *
 *   npm run paths -- --machine checkout                 Markdown on stdout
 *   npm run paths -- --machine checkout --format json   the same as JSON (ids and events included)
 *   npm run paths -- --write                            regenerates docs/test-plan/ for every machine
 *   npm run paths -- --run <id> [--nats] [--broken <variant>]
 *                                                       runs one checkout scenario against the system
 *
 * The paths come from the real machines in src/machines (see src/devtools/testing/paths.ts); a
 * scenario's id is derived from its event path (src/devtools/testing/scenario-id.ts).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { machineModels, machineNames } from '../src/devtools/testing/models/index.ts';
import { planFilesOf } from '../src/devtools/testing/plan-files.ts';
import { renderJson, renderMarkdown, testPlan } from '../src/devtools/testing/plan.ts';
import { BrokenVariant } from '../src/runtime/broken.ts';
import { runScenario } from '../tests/model/support/run-scenario.ts';

const usage = `usage: npm run paths -- --machine <${machineNames.join('|')}> [--format md|json]
       npm run paths -- --write [--dir docs/test-plan]
       npm run paths -- --run <scenario id> [--nats] [--broken <${Object.values(BrokenVariant).join('|')}>]`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      machine: { type: 'string', short: 'm' },
      format: { type: 'string', short: 'f', default: 'md' },
      write: { type: 'boolean', default: false },
      dir: { type: 'string', default: 'docs/test-plan' },
      run: { type: 'string' },
      nats: { type: 'boolean', default: false },
      broken: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (values.run) {
    const broken = values.broken;
    if (broken !== undefined && !(Object.values(BrokenVariant) as string[]).includes(broken)) {
      console.error(`unknown broken variant "${broken}"\n${usage}`);
      return 2;
    }
    return runScenario(values.run, {
      mode: values.nats ? 'nats' : 'embedded',
      broken: broken as BrokenVariant | undefined,
      print: (line) => console.log(line),
    });
  }
  if (values.write) {
    for (const name of machineNames) {
      const files = planFilesOf(machineModels[name]!);
      // A machine's pages replace its previous layout (one page, or a folder of them).
      rmSync(join(values.dir, name), { recursive: true, force: true });
      rmSync(join(values.dir, `${name}.md`), { force: true });
      for (const [path, text] of files) {
        const file = join(values.dir, path);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, text);
        console.log(`wrote ${file}`);
      }
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
process.exitCode = await main();

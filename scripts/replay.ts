/**
 * `npm run replay -- <checkoutId|orderId>... [--data-dir ./data] [--kind checkout] [--against <version>] [--json]`
 *
 * Prints each actor's transition trace from its journal (event, from-state, to-state, actions)
 * and replays the stored events through the machine in this checkout of the code. `--against V`
 * says the history was recorded by machine version V, and reports every step where the current
 * machine would decide differently, and the outcome it would reach: how to check a machine change
 * against real history before deploying it.
 *
 * An operator's tool: it runs next to the service's store and opens `<data-dir>/<service>.db`
 * read-only (the service may keep running). Exit code 0 when the current machine reproduces the
 * history, 3 when it would differ, 2 for bad usage, 1 when an actor is not found.
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { actorTrace } from '../src/runtime/journal-queries.ts';
import { kindReplay } from '../src/runtime/record-replay.ts';
import { localCheckoutId } from '../src/actors/checkout/holder.ts';
import { machineNamed, machines } from '../src/devtools/visualize/machines.ts';
import { formatReplayReport, replayReport, type ReplayReport } from '../src/devtools/visualize/replay-report.ts';

/** Which service's store holds each kind of actor. */
const storeOf: Record<string, string> = { checkout: 'checkout', cart: 'cart', reservation: 'inventory', authorization: 'payment', order: 'order' };

function usage(message?: string): never {
  if (message) console.error(message);
  console.error('usage: npm run replay -- <actorId>... [--data-dir ./data] [--kind checkout] [--against <machine version>] [--json]');
  console.error(`kinds: ${machines.map((m) => m.name).join(', ')}`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    allowPositionals: true,
    options: {
      'data-dir': { type: 'string', default: process.env.DATA_DIR ?? './data' },
      kind: { type: 'string', default: 'checkout' },
      against: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
} catch (err) {
  usage(err instanceof Error ? err.message : String(err));
}
if (args.values.help) usage();
if (args.positionals.length === 0) usage('name at least one actor id');
const kind = args.values.kind;
const entry = machineNamed(kind);
if (!entry) usage(`unknown kind ${kind}`);
const file = join(resolve(args.values['data-dir']), `${storeOf[kind] ?? kind}.db`);
if (!existsSync(file)) usage(`no store at ${file} (set --data-dir)`);

const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 1_000 });
try {
  db.prepare('SELECT 1 FROM actors LIMIT 1').get();
} catch (err) {
  // A running service holds its store exclusively (src/runtime/store.ts, "Ownership").
  if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
  usage(`${file} is held by a running service: stop it, run it with SQLITE_LOCKING=shared, or ask its explorer (GET /explorer)`);
}
const reports: ReplayReport[] = [];
const missing: string[] = [];
try {
  for (const id of args.positionals) {
    // A checkout may be named by its order id too.
    const actorId = kind === 'checkout' ? (localCheckoutId(db, id) ?? id) : id;
    const t = actorTrace(db, kind, actorId, undefined, kindReplay({ kind, version: entry.version, machine: entry.machine, input: (i) => entry.input(i) }));
    if (!t) {
      missing.push(id);
      continue;
    }
    reports.push(
      replayReport(
        entry,
        { id: actorId, machineVersion: t.summary.machineVersion, status: t.summary.status, stateValue: t.summary.stateValue, journal: t.journal, journalTruncated: t.journalTruncated },
        args.values.against,
      ),
    );
  }
} finally {
  db.close();
}

if (args.values.json) console.log(JSON.stringify({ reports, missing }, null, 2));
else {
  console.log(reports.map(formatReplayReport).join('\n'));
  for (const id of missing) console.error(`${kind} ${id}: not in ${file}`);
}
process.exit(missing.length ? 1 : reports.every((r) => r.agrees) ? 0 : 3);

/**
 * `npm run ops -- list | show <id> | retry <id> [--json]`
 *
 * An operator's handles on sagas that need attention, over the running system's own transport
 * (src/devtools/ops/backends.ts): NATS when NATS_URL is set, else the gateway's HTTP API at
 * OPS_URL (default http://HOST:PORT, with OPERATOR_TOKEN). `<id>` is a checkout id or its order id.
 *
 *   list         sagas parked in needsAttention
 *   show <id>    one saga: state, failure, what it is waiting for
 *   retry <id>   send its stuck step again (after the participant is fixed)
 *
 * Exit codes: 0 done, 1 refused or not found, 2 bad usage or configuration.
 */
import { parseArgs } from 'node:util';
import { ConfigError, parseEnv } from '../src/env.ts';
import { httpBackend, natsBackend, OpsError, type OpsBackend } from '../src/devtools/ops/backends.ts';
import type { CheckoutTrace } from '../src/contracts/index.ts';

function usage(message?: string): never {
  if (message) console.error(message);
  console.error('usage: npm run ops -- list | show <checkoutId|orderId> | retry <checkoutId|orderId> [--json]');
  process.exit(2);
}

let args;
try {
  args = parseArgs({ allowPositionals: true, options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } } });
} catch (err) {
  usage(err instanceof Error ? err.message : String(err));
}
const [command, id] = args.positionals;
if (args.values.help || !command) usage();
if ((command === 'show' || command === 'retry') && !id) usage(`${command} needs a checkout or order id`);

let env;
try {
  env = parseEnv(process.env);
} catch (err) {
  if (err instanceof ConfigError) usage(`config error: ${err.message}`);
  throw err;
}

const print = (value: unknown, text: string) => console.log(args.values.json ? JSON.stringify(value, null, 2) : text);

function describe(t: CheckoutTrace): string {
  const waiting = t.outbox.filter((o) => o.status === 'pending').map((o) => `  waiting: ${o.type} (${o.attempts} attempts${o.lastError ? `, last error ${o.lastError}` : ''})`);
  return [
    `checkout ${t.checkoutId}  order ${t.participants.orderId}`,
    `  state:   ${t.state}`,
    `  failure: ${JSON.stringify(t.context.failure ?? 'none')}`,
    `  undo:    done [${t.compensation.done.join(', ')}], pending [${t.compensation.pending.join(', ')}]`,
    `  updated: ${t.updatedAt}`,
    ...waiting,
  ].join('\n');
}

async function run(ops: OpsBackend): Promise<number> {
  switch (command) {
    case 'list': {
      const parked = await ops.attention();
      print(parked, parked.length ? parked.map((s) => `${s.checkoutId}  order ${s.orderId ?? '?'}  ${s.state}  ${s.failure ?? ''}  ${s.updatedAt}`).join('\n') : `no saga needs attention (${ops.target})`);
      return 0;
    }
    case 'show': {
      const t = await ops.trace(id!);
      if (!t) return fail(`no orchestrator holds checkout or order ${id}`);
      print(t, describe(t));
      return 0;
    }
    case 'retry': {
      const r = await ops.retry(id!);
      print(r, `retrying ${r.checkoutId}: now ${r.state}`);
      return 0;
    }
    default:
      return usage(`unknown command ${command}`);
  }
}

function fail(message: string): number {
  console.error(message);
  return 1;
}

// As the gateway's NATS user (nats.conf lets it send explorer queries and operator commands).
const natsPass = process.env.NATS_PASSWORD_GATEWAY ?? 'gateway-dev-secret';
const ops = env.NATS_URL ? await natsBackend(env.NATS_URL, 'gateway', natsPass) : httpBackend(env.OPS_URL ?? `http://${env.HOST ?? '127.0.0.1'}:${env.PORT ?? 3000}`, env.OPERATOR_TOKEN);
let code: number;
try {
  code = await run(ops);
} catch (err) {
  if (!(err instanceof OpsError)) throw err;
  code = fail(`${command} refused: ${err.message}`);
} finally {
  await ops.close();
}
process.exit(code);

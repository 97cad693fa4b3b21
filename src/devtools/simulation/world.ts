/**
 * The simulated world's services: every backend service as one or more instances, each with its
 * own SQLite store (a real file in the run's temp dir), its own connection to the simulated
 * network and a clock on the simulated loop. An instance can crash at any step of the loop and is
 * restarted later, as a supervisor would, on the same files.
 *
 * A crash is what a SIGKILL does to the process: the store's open batch (written, not committed)
 * is rolled back and the connection closed, so the committed file is exactly what survives; the
 * instance's timers and turns never run; its connection sends nothing more (no reply, no ack); and
 * whatever its async code was still doing finds a closed store and a closed connection. Real files
 * rather than `:memory:` databases, because only a file keeps "committed" honest across the crash:
 * SQLite recovers it from its WAL, as after a real crash.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AnyMachineSnapshot } from 'xstate';
import type { PaymentProcessor } from '../../actors/payment/processor.ts';
import type { SystemConfig } from '../../config.ts';
import type { ActorHost } from '../../runtime/actor-host.ts';
import type { HostInspector, InspectedSnapshot } from '../../runtime/inspection.ts';
import { ServiceRuntime, type Logger } from '../../runtime/service.ts';
import { Store } from '../../runtime/store.ts';
import { Journal } from '../../runtime/journal.ts';
import { backendServices, serviceMigrations, serviceSources, type BackendService } from '../../registry.ts';
import { startService } from '../../system.ts';
import type { SimLoop } from './loop.ts';
import type { SimConnection, SimNetwork } from './network.ts';
import type { Prng } from './prng.ts';
import type { Trace } from './trace.ts';

export interface Instance {
  readonly service: BackendService;
  /** e.g. `checkout-2`. */
  readonly name: string;
  /** How many times it has been started. */
  generation: number;
  up: boolean;
  starting: boolean;
  rt: ServiceRuntime | undefined;
  conn: SimConnection | undefined;
  readonly path: string;
}

/** Migrated, empty stores, made once per process and copied per run: migrating costs more than a short run. */
let templates: string | undefined;
function templateDir(): string {
  if (templates && existsSync(templates)) return templates;
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'sim-templates-'));
  for (const service of backendServices) {
    const store = new Store({ path: join(dir, `${service}.db`), migrations: serviceMigrations[service], synchronous: 'NORMAL' });
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    store.db.pragma('journal_mode = DELETE');
    store.kill();
  }
  templates = dir;
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const quietLog: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export interface WorldOptions {
  dir: string;
  loop: SimLoop;
  net: SimNetwork;
  rng: Prng;
  trace: Trace;
  config: SystemConfig;
  processor: PaymentProcessor;
  /** Instances per service; the orchestrator is the service built to run several. */
  instances: Readonly<Record<BackendService, number>>;
}

export class SimWorld {
  readonly instances: Instance[] = [];
  /** Per durable timer arming (`timer/<kind>/<id>/<name>/<seq>`), how many of its deliveries committed as new. */
  readonly timerFirings = new Map<string, number>();

  constructor(private readonly o: WorldOptions) {
    mkdirSync(o.dir, { recursive: true });
    const tpl = templateDir();
    for (const service of backendServices) {
      for (let i = 1; i <= o.instances[service]; i++) {
        const name = o.instances[service] > 1 ? `${service}-${i}` : service;
        const path = join(o.dir, `${name}.db`);
        copyFileSync(join(tpl, `${service}.db`), path);
        this.instances.push({ service, name, generation: 0, up: false, starting: false, rt: undefined, conn: undefined, path });
      }
    }
  }

  private owner(inst: Instance): string {
    return `${inst.name}@${inst.generation}`;
  }

  /** Starts (or restarts) an instance on its files. A start that fails leaves it down. */
  async start(inst: Instance): Promise<boolean> {
    if (inst.up || inst.starting) return inst.up;
    inst.starting = true;
    let ok = false;
    try {
      ok = await this.boot(inst);
      return ok;
    } finally {
      inst.starting = false;
      // As a supervisor would: a process that failed to start is started again a little later.
      if (!ok && this.retryStarts) this.o.loop.schedule('supervisor', this.o.rng.int(500, 3_000), () => void this.start(inst));
    }
  }

  /** Off while the world boots (a failed first start fails the run); on once it runs. */
  retryStarts = false;

  private async boot(inst: Instance): Promise<boolean> {
    inst.generation++;
    const owner = this.owner(inst);
    const { loop, net, config } = this.o;
    const clock = loop.clockFor(owner);
    const conn = net.connect(owner);
    let rt: ServiceRuntime | undefined;
    try {
      const store = new Store({ path: inst.path, migrations: serviceMigrations[inst.service], synchronous: 'NORMAL', defer: (fn) => clock.defer!(fn) });
      rt = new ServiceRuntime({
        service: inst.service, source: serviceSources[inst.service], store, transport: conn, clock, log: quietLog,
        relay: { random: () => this.o.rng.next() },
      });
      inst.rt = rt;
      inst.conn = conn;
      await startService(inst.service, rt, config, this.o.processor);
      for (const host of rt.hosts.values()) {
        host.inspect(this.inspector(inst));
        this.countTimerFirings(host);
      }
      await rt.start();
      if (loop.isDead(owner)) return false;
      inst.up = true;
      this.o.trace.add(`started ${owner}`);
      return true;
    } catch (err) {
      this.o.trace.add(`start of ${owner} failed: ${err instanceof Error ? err.message : String(err)}`);
      this.kill(inst, owner);
      return false;
    }
  }

  /** The process dies where it stands. */
  crash(inst: Instance): void {
    const owner = this.owner(inst);
    this.o.trace.add(`CRASH ${owner}`);
    this.kill(inst, owner);
  }

  private kill(inst: Instance, owner: string): void {
    inst.up = false;
    this.o.loop.kill(owner);
    inst.conn?.kill();
    inst.rt?.kill();
  }

  /**
   * Every instance's store, for reading after the run: killed, then opened once more as a restart
   * opens it (the journal's tail applied and checkpointed, runtime/journal.ts) and closed again.
   */
  closeAll(): void {
    for (const inst of this.instances) if (inst.up) this.kill(inst, this.owner(inst));
    for (const inst of this.instances) {
      if (!existsSync(inst.path)) continue;
      const store = new Store({ path: inst.path, migrations: serviceMigrations[inst.service], synchronous: 'NORMAL' });
      Journal.of(store, { clock: this.o.loop.clockFor(`reopen/${inst.name}`) });
      store.kill();
    }
  }

  /**
   * Observes the host's deliveries: a timer's inbox key starts with the arming it belongs to, and a
   * delivery that committed and was not a duplicate is one firing of that arming.
   */
  private countTimerFirings(host: ActorHost): void {
    const deliver = host.deliver.bind(host);
    host.deliver = async (id, event, opts) => {
      const r = await deliver(id, event, opts);
      const key = opts?.inboxKey;
      if (key?.startsWith('timer/') && !r.duplicate) {
        const arming = key.split('/').slice(0, 5).join('/');
        this.timerFirings.set(arming, (this.timerFirings.get(arming) ?? 0) + 1);
      }
      return r;
    };
  }

  private inspector(inst: Instance): HostInspector {
    const trace = this.o.trace;
    return {
      actor: () => undefined,
      event: () => undefined,
      snapshot: (actor: string, snapshot: InspectedSnapshot, info?: { event?: { type: string } }) =>
        trace.add(`transition ${inst.name} ${actor} ${info?.event?.type ?? '?'} -> ${JSON.stringify((snapshot as unknown as AnyMachineSnapshot).value)}`),
    };
  }
}

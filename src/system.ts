/**
 * The composition root's engine: opens each service's store, connects its transport, starts it.
 *
 * Embedded (no NATS URL): every service in this process, sharing one in-process transport whose
 * event log and KV live in `<dataDir>/bus.db`. Distributed: each service connects to nats-server as
 * its own user (nats.conf), so a process can run any subset of services and several processes can
 * run the same service, sharing its queue group.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { startCartService } from './actors/cart/service.ts';
import { startCheckoutService } from './actors/checkout/service.ts';
import { startInventoryService } from './actors/inventory/service.ts';
import { startOrderService } from './actors/order/service.ts';
import { startPaymentService } from './actors/payment/service.ts';
import type { PaymentProcessor } from './actors/payment/processor.ts';
import { createSimulator } from './actors/payment/simulator.ts';
import { startPromotionService } from './actors/promotion/service.ts';
import { configFromEnv, type SystemConfig } from './config.ts';
import { Bucket, JournalStream, journalSubject, type Service } from './contracts/subjects.ts';
import { consumedEvents } from './contracts/channels.ts';
import { backendServices, serviceMigrations, servicePageSizes, serviceSources, type BackendService } from './registry.ts';
import type { HostInspector } from './runtime/inspection.ts';
import { systemClock, type Clock } from './runtime/clock.ts';
import { ServiceRuntime, silentLogger, type AnswerGate, type Logger } from './runtime/service.ts';
import { JournalDiverged, replicateJournal, type JournalReplicator } from './runtime/replication.ts';
import { readFromOf, rebuildStore } from './runtime/rebuild.ts';
import { LeasedSlot, type OpenPhases } from './runtime/leased-slot.ts';
import { LEASE_TIMING, leaseKey, SlotLease } from './runtime/slot-lease.ts';
import { SlotSet, slotName } from './runtime/slot-set.ts';
import { turns } from './runtime/turns.ts';

/** A slot lease's TTL (slot-lease.ts): how long a dead owner's lease takes to expire. */
const SLOT_LEASE_TTL_MS = LEASE_TIMING.ttlMs;
import { rebuildKit } from './rebuild-kits.ts';
import { storedInstanceId } from './actors/checkout/service.ts';
import { sampleAtScrape, storeMetrics } from './runtime/metrics.ts';
import { Store } from './runtime/store.ts';
import { InProcessTransport } from './runtime/transport/in-process/in-process.ts';
import { connectNats, connectWithRetry, natsServers } from './runtime/transport/nats.ts';
import { natsCredentialsFromEnv, natsTlsFromEnv, type NatsCredentials } from './runtime/transport/nats-credentials.ts';
import type { TlsOptions } from '@nats-io/transport-node';
import type { Transport } from './runtime/transport/transport.ts';

/** Starts one service on its runtime. `processor` replaces the payment simulator built from the config (the deterministic simulator passes its own). */
export async function startService(service: BackendService, rt: ServiceRuntime, config: SystemConfig, processor?: PaymentProcessor): Promise<void> {
  switch (service) {
    case 'order':
      return startOrderService(rt, config.order);
    case 'inventory':
      return startInventoryService(rt, { seed: config.seed });
    case 'payment':
      return startPaymentService(rt, { processor: processor ?? createSimulator(config.payment) });
    case 'promotion':
      return startPromotionService(rt, { seed: config.seed });
    case 'cart':
      return startCartService(rt, { ...config.cart, seed: config.seed });
    case 'checkout':
      await startCheckoutService(rt, config.checkout);
      return;
    default: {
      const _exhaustive: never = service;
      throw new Error(`unknown service ${String(_exhaustive)}`);
    }
  }
}

export interface SystemOptions {
  config?: SystemConfig;
  /** Which services this process runs; all by default. */
  services?: readonly BackendService[];
  log?: Logger;
  clock?: Clock;
  /** NATS credentials per service user; defaults to the environment (nats-credentials.ts), else the dev password. */
  credentials?: (service: Service) => NatsCredentials;
  /** TLS to nats-server; defaults to NATS_TLS_* from the environment. */
  tls?: TlsOptions | undefined;
  /**
   * Where every actor host reports its committed transitions (e.g. a @statelyai/inspect
   * inspector). Unset: INSPECT=1 in the environment starts the Stately bridge
   * (src/devtools/explorer/stately-inspector.ts); otherwise nothing is reported.
   */
  inspect?: HostInspector | undefined;
  /** Run this process's services on this transport instead of opening one (a service thread). */
  transport?: Transport;
}

export interface System {
  config: SystemConfig;
  runtimes: Map<BackendService, ServiceRuntime>;
  /** Distributed with CHECKOUT_SLOTS: the orchestrator slots this process serves now, by number. */
  orchestratorSlots(): ReadonlyMap<number, ServiceRuntime>;
  /** Distributed: the slots of a service this process serves now, by number (a partitioned participant's partitions, the orchestrator's slots). */
  slotRuntimes(service: BackendService): ReadonlyMap<number, ServiceRuntime>;
  /** The transport a service (or the gateway) talks through. */
  transportFor(service: Service): Promise<Transport>;
  /** Graceful: stop taking work, finish in-flight, flush outboxes, drain the transports. */
  stop(): Promise<void>;
  /** As a crash: nothing is flushed (tests). */
  kill(): Promise<void>;
}

/**
 * The store slot a service's journal is shipped under: `0` for an unpartitioned participant,
 * `slot-<k>` for partition k of a partitioned one, the instance for an orchestrator, each of which
 * keeps its sagas in its own store.
 */
function journalSlot(service: BackendService, rt: ServiceRuntime, config: SystemConfig, slotNo: number | undefined): string {
  if (service === 'checkout') return config.checkout.instanceId ?? storedInstanceId(rt);
  return slotNo === undefined ? '0' : slotName(slotNo);
}

/** The page size of a service's new store file, if not SQLite's default. */
const pageSizeOf = (service: BackendService): { pageSize?: number } => (servicePageSizes[service] ? { pageSize: servicePageSizes[service] } : {});

/** How many partitions a backend service runs (src/contracts/subjects.ts); the orchestrator's slots are CHECKOUT_SLOTS. */
const partitionsOf = (service: BackendService, config: SystemConfig): number =>
  service === 'checkout' ? 1 : (config.partitions[service] ?? 1);

/** The config an orchestrator slot runs with: its instance is the slot (slot-set.ts). */
const slotConfig = (config: SystemConfig, service: BackendService, slot: number | undefined): SystemConfig =>
  slot === undefined || service !== 'checkout' ? config : { ...config, checkout: { ...config.checkout, instanceId: slotName(slot) } };

/**
 * A service's store and runtime. Distributed, its journal is replicated (replication.ts): shipped to
 * the cluster before anyone hears of a change. A store that is empty, behind its log or apart from
 * it (a lost disk, a stale owner's unreplicated tail) is first rebuilt from the log (rebuild.ts).
 */
async function openRuntime(service: BackendService, config: SystemConfig, transport: Transport, clock: Clock, log: Logger, fence?: string, slotNo?: number, phases: OpenPhases = {}, answerGate?: AnswerGate): Promise<{ rt: ServiceRuntime; replicator: JournalReplicator | undefined; checkpointed?: number }> {
  const lap = stopwatch();
  const path = join(config.dataDir, slotNo === undefined ? `${service}.db` : `${service}-${slotName(slotNo)}.db`);
  const open = () => {
    const store = new Store({ path, migrations: serviceMigrations[service], synchronous: config.synchronous, locking: config.locking, metrics: storeMetrics(service), ...pageSizeOf(service) });
    const partition = service !== 'checkout' && slotNo !== undefined ? { index: slotNo, count: partitionsOf(service, config) } : undefined;
    return new ServiceRuntime({ service, source: serviceSources[service], store, transport, clock, log, partitions: config.partitions, ...(partition ? { partition } : {}), ...(answerGate ? { answerGate } : {}) });
  };
  const rt = open();
  phases.storeMs = lap();
  if (!transport.replicatedLog) return { rt, replicator: undefined };
  /** The runtime whose store is open now: a failed opening closes it. */
  let current = rt;
  try {
    const replicatedLog = await transport.replicatedLog(JournalStream.name, JournalStream.subjects);
    const slot = journalSlot(service, rt, config, slotNo);
    // An empty store (a lost disk, a fresh process) is rebuilt unless its log is empty too: where the
    // rebuild's read starts is asked beside the check, a round trip fewer on a takeover.
    const readFrom = rt.journal.head === 0 ? readFromOf(replicatedLog, journalSubject(service, slot)) : undefined;
    readFrom?.catch(() => undefined); // awaited by the rebuild, if there is one
    try {
      const replicator = await replicateJournal(rt, replicatedLog, slot, fence);
      phases.fenceMs = lap();
      return { rt, replicator };
    } catch (err) {
      if (!(err instanceof JournalDiverged)) throw err;
      rt.kill();
      phases.checkMs = lap();
      log.warn({ reason: err.message }, 'rebuilding the store from its replicated journal');
      const rebuilt = await rebuildStore(path, rebuildKit(service, config, slotNo === undefined ? undefined : { index: slotNo, count: partitionsOf(service, config) }), replicatedLog, journalSubject(service, slot), { locking: config.locking, ...pageSizeOf(service) }, undefined, { last: err.last, readFrom });
      phases.rebuildMs = lap();
      Object.assign(phases, rebuilt.phases, { messages: rebuilt.messages, covered: rebuilt.covered, records: rebuilt.records });
      log.info({ ...rebuilt, last: rebuilt.last?.seq }, 'store rebuilt from its replicated journal');
      current = open();
      phases.reopenMs = lap();
      const replicator = await replicateJournal(current, replicatedLog, slot, fence, { last: rebuilt.last });
      phases.fenceMs = lap();
      return { rt: current, replicator, checkpointed: rebuilt.checkpoint };
    }
  } catch (err) {
    // Left open, the store's exclusive lock refused every later opening of the slot in this process
    // ("held by another process"): after a fence lost to the killed term's last append, a single
    // instance's participant never served again (docs/benchmarks.md, #15, 2026-12-07).
    current.kill();
    throw err;
  }
}

/** Milliseconds since the last call (or since it was made). */
function stopwatch(): () => number {
  let at = performance.now();
  return () => {
    const now = performance.now();
    const ms = Math.round(now - at);
    at = now;
    return ms;
  };
}

/**
 * This disk's name as a slot owner, made once per DATA_DIR: a restart on the same disk retakes its
 * own leases at once (its earlier life is dead: the store is its own), while a fresh disk (another
 * machine) waits for the previous owner's lease to expire.
 */
function slotOwnerId(dataDir: string): string {
  const file = join(dataDir, 'slot-owner');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    // The first start on this disk.
  }
  mkdirSync(dataDir, { recursive: true });
  const id = `${hostname()}-${randomUUID()}`;
  writeFileSync(file, id);
  return id;
}

/** Every line a service logs names it (a pino logger's child; other loggers are used as they are). */
function childLog(log: Logger, service: string): Logger {
  const parent = log as Logger & { child?: (b: object) => Logger };
  return typeof parent.child === 'function' ? parent.child({ service }) : log;
}

/** The relay's backlog and the age of its oldest row, read when Prometheus scrapes. */
function sampleRelay(rt: ServiceRuntime): void {
  const live = <T>(f: () => T) => () => {
    if (rt.store.closed) throw new Error('store closed');
    return f();
  };
  sampleAtScrape('backlog', rt.service, live(() => rt.relay.backlog()));
  sampleAtScrape('lag', rt.service, live(() => rt.relay.lagMs() / 1000));
}

/**
 * Embedded (no NATS URL), the bus routes only within this process (its service threads reach it over
 * a port), and the process starts one orchestrator on it: that one is the sole instance and claims
 * no saga in saga-owners (CheckoutConfig.soleInstance). On NATS the claims stay: other processes,
 * or the orchestrator's slots, may consume the same stream. The simulation's several orchestrator
 * instances start through `startService`, not here, and claim as on NATS.
 */
function soleOrchestrator(config: SystemConfig): SystemConfig {
  return config.natsUrl ? config : { ...config, checkout: { ...config.checkout, soleInstance: true } };
}

/** A service's NATS credential from the environment or files, else (not in production) nats.conf's development password. */
export const envCredentials = (service: Service): NatsCredentials => natsCredentialsFromEnv(service, process.env);

export async function startSystem(opts: SystemOptions = {}): Promise<System> {
  const config = soleOrchestrator(opts.config ?? configFromEnv());
  const services = opts.services ?? backendServices;
  const log = opts.log ?? silentLogger;
  if (!config.natsUrl && config.threads > 0 && !opts.transport) return startThreaded(config, services, log, opts);
  const clock = opts.clock ?? systemClock;
  const credentials = opts.credentials ?? envCredentials;
  const tls = 'tls' in opts ? opts.tls : natsTlsFromEnv(process.env);
  let inspect = opts.inspect;
  let stopInspector: () => void = () => undefined;
  if (!inspect) {
    // Loaded only when asked for: the bridge pulls in a WebSocket client and server.
    const { inspectRequested, statelyBridgeFromEnv } = await import('./devtools/explorer/stately-inspector.ts');
    const bridge = inspectRequested(process.env) ? await statelyBridgeFromEnv(process.env) : undefined;
    if (bridge) {
      inspect = bridge.inspector;
      stopInspector = () => bridge.stop();
      log.info({ url: bridge.url }, 'INSPECT: reporting to the Stately inspector (its UI loads from stately.ai and needs internet)');
    }
  }

  const transports = new Map<Service, Promise<Transport>>();
  let bus: InProcessTransport | undefined;
  const transportFor = (service: Service): Promise<Transport> => {
    let t = transports.get(service);
    if (!t) {
      if (opts.transport) {
        t = Promise.resolve(opts.transport);
      } else if (config.natsUrl) {
        const credential = credentials(service);
        const natsUrl = config.natsUrl;
        log.info({ service, credential: credential.kind, from: credential.source, tls: tls !== undefined || natsUrl.startsWith('tls://') }, 'connecting to NATS');
        t = connectWithRetry(
          () =>
            connectNats({
              servers: natsServers(natsUrl),
              replicas: config.natsReplicas,
              credentials: credential,
              ...(tls ? { tls } : {}),
              // nats.conf lets each service read replies only under its own prefix, whatever its credential.
              inboxPrefix: `_INBOX.${service}`,
              name: `${service}-${process.pid}`,
              onError: (err, context) => log.error({ err, service }, context),
            }),
          (attempt, delayMs, err) =>
            log.warn({ service, natsUrl, attempt, retryInMs: delayMs, err: err instanceof Error ? err.message : String(err) }, `NATS at ${natsUrl} is not reachable; retrying`),
        );
      } else {
        bus ??= new InProcessTransport({ path: join(config.dataDir, 'bus.db'), locking: config.locking, storeOnlyConsumed: consumedEvents, holdConsumed: true, onError: (err, context) => log.error({ err }, context) });
        t = Promise.resolve(bus);
      }
      transports.set(service, t);
    }
    return t;
  };

  const runtimes = new Map<BackendService, ServiceRuntime>();
  /** Distributed, a participant's slot is served under a lease: one process serves it, others stand by. */
  const slots = new Map<BackendService, LeasedSlot>();
  /** Distributed with CHECKOUT_SLOTS: the orchestrator's slots, shared by its processes. */
  const slotSets = new Map<BackendService, SlotSet>();
  /** The slots (orchestrator slots, partitions) this process serves now, by service and number. */
  const heldSlots = new Map<BackendService, Map<number, ServiceRuntime>>();
  const openTurn = turns(SLOTS_OPENED_AT_ONCE);
  /** Opens and starts a service's runtime; at most SLOTS_OPENED_AT_ONCE at a time, in the order asked. */
  const serve = (service: BackendService, fence?: string, slotNo?: number, phases: OpenPhases = {}, answerGate?: AnswerGate): Promise<ServiceRuntime> => {
    const lap = stopwatch();
    return openTurn(async () => {
      phases.turnMs = lap();
      const cfg = slotConfig(config, service, slotNo);
      const { rt, replicator, checkpointed } = await openRuntime(service, cfg, await transportFor(service), clock, childLog(log, service), fence, slotNo, phases, answerGate);
      lap();
      sampleRelay(rt);
      try {
        await startService(service, rt, cfg);
        phases.servicesMs = lap();
        // Checkpoints start in the background: the slot is served meanwhile (replication.ts). A
        // slot just rebuilt from a checkpoint counts its records from that one.
        if (replicator) {
          await replicator.startCheckpoints(
            undefined,
            (err) => rt.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'journal checkpoint failed; retrying at the next'),
            (cost) => rt.log.info({ ...(slotNo === undefined ? {} : { slot: slotNo }), ...cost }, 'journal checkpoint published'),
            checkpointed,
          );
        }
        if (inspect) for (const host of rt.hosts.values()) host.inspect(inspect);
        await rt.start();
        phases.startMs = lap();
      } catch (err) {
        rt.kill();
        throw err;
      }
      log.info({ service, ...(slotNo === undefined ? {} : { slot: slotNo }) }, 'service started');
      return rt;
    });
  };
  try {
    const owner = config.natsUrl && !opts.transport ? slotOwnerId(config.dataDir) : undefined;
    const leased = async (service: BackendService): Promise<boolean> => owner !== undefined && service !== 'checkout' && !!(await transportFor(service)).replicatedLog;
    // Leased slots contend together (a dead owner's lease takes a TTL to expire: wait that long, and
    // a little, to learn whether this process serves or stands by), then the others start in order.
    const contending: Promise<unknown>[] = [];
    for (const service of services) {
      if (owner === undefined || !(await leased(service)) || partitionsOf(service, config) > 1) continue;
      const kv = await (await transportFor(service)).kv(Bucket.journalLeases);
      const slog = childLog(log, service);
      const key = leaseKey(service, '0');
      const lease = () => new SlotLease({ kv, key, owner, ttlMs: SLOT_LEASE_TTL_MS, onError: (err, what) => slog.warn({ err: err instanceof Error ? err.message : String(err) }, `${what}: retrying`) });
      const slot = new LeasedSlot({ name: key, lease, serve: (phases, gate) => serve(service, owner, undefined, phases, gate), onServing: (rt) => (rt ? runtimes.set(service, rt) : runtimes.delete(service)), log: slog });
      slots.set(service, slot);
      contending.push(slot.start(SLOT_LEASE_TTL_MS + 1_000).then((rt) => rt ?? slog.info({ slot: key }, 'standing by: another process holds the slot')));
    }
    // Slot sets, shared by a service's processes, each taking its fair share: the orchestrator's
    // slots (CHECKOUT_SLOTS) and a partitioned participant's partitions (PARTITIONS).
    const slotCount = (service: BackendService): number => (service === 'checkout' ? (config.checkout.instanceId === undefined ? (config.checkout.slots ?? 0) : 0) : partitionsOf(service, config));
    for (const service of services) {
      const count = slotCount(service);
      if (owner === undefined || count < (service === 'checkout' ? 1 : 2) || !(await transportFor(service)).replicatedLog) continue;
      const held = new Map<number, ServiceRuntime>();
      heldSlots.set(service, held);
      const set = new SlotSet({
        kv: await (await transportFor(service)).kv(Bucket.journalLeases),
        service,
        count,
        owner,
        serve: (k, phases, gate) => serve(service, owner, k, phases, gate),
        onServing: (k, rt) => {
          if (rt) held.set(k, rt);
          else held.delete(k);
          // runtimes shows one of them (the lowest held); slotRuntimes every one.
          const first = [...held.entries()].sort(([a], [b]) => a - b)[0]?.[1];
          if (first) runtimes.set(service, first);
          else runtimes.delete(service);
        },
        log: childLog(log, service),
      });
      slotSets.set(service, set);
      contending.push(set.start(SLOT_LEASE_TTL_MS + 1_000));
    }
    await Promise.all(contending);
    for (const service of services) if (!slots.has(service) && !slotSets.has(service)) runtimes.set(service, await serve(service));
  } catch (err) {
    stopInspector();
    for (const slot of slots.values()) slot.kill();
    for (const set of slotSets.values()) set.kill();
    for (const rt of runtimes.values()) rt.kill();
    await Promise.allSettled([...transports.values()].map(async (t) => (await t).drain()));
    throw err;
  }

  const drainAll = async () => {
    const unique = new Set(await Promise.all(transports.values()));
    await Promise.allSettled([...unique].map((t) => t.drain()));
  };

  return {
    config,
    runtimes,
    orchestratorSlots: () => heldSlots.get('checkout') ?? new Map(),
    slotRuntimes: (service) => heldSlots.get(service) ?? new Map(),
    transportFor,
    async stop() {
      // Callers first: stop sagas and carts before the participants they call.
      for (const service of [...services].reverse()) {
        const slot = slots.get(service) ?? slotSets.get(service);
        if (slot) await slot.stop();
        else await runtimes.get(service)?.stop();
      }
      await drainAll();
      stopInspector();
    },
    async kill() {
      for (const slot of slots.values()) slot.kill();
      for (const set of slotSets.values()) set.kill();
      for (const rt of runtimes.values()) rt.kill();
      await drainAll();
      stopInspector();
    },
  };
}

/**
 * How many slots a process opens at once. A standby taking over a lost machine's slots (its five
 * participants, or their partitions) opened them one after another, so one slow rebuild (JetStream
 * reads waiting out an election) held every slot behind it: in the cluster test the last of five
 * served 39-55 s after the kill, past the saga's 30 s step deadlines. Bounded, because a rebuild
 * also costs CPU (SQLite writes, gunzip of a checkpoint) on a machine that is serving meanwhile.
 * 8, not 4: with 4 the fifth of a lost machine's five participants waited 4.1 s for its turn (cart,
 * served last, 9.4 s after the kill) while the four ahead rebuilt; their reads are parallel gets
 * and their records are applied in slices that let the event loop run (rebuild.ts), so the openings
 * share the CPU rather than queue behind each other.
 */
const SLOTS_OPENED_AT_ONCE = 8;

/** Embedded on several cores: services in worker threads, the in-process transport on this one (src/threads/). */
async function startThreaded(config: SystemConfig, services: readonly BackendService[], log: Logger, opts: SystemOptions): Promise<System> {
  if (opts.clock || opts.inspect) throw new Error('EMBEDDED_THREADS runs services on the system clock without an inspector; unset it for tests that need either');
  const { startServiceThreads } = await import('./threads/threads.ts');
  const threads = await startServiceThreads(config, services, log, opts.log ? config.logLevel : 'silent');
  return {
    config,
    runtimes: new Map(),
    orchestratorSlots: () => new Map(),
    slotRuntimes: () => new Map(),
    transportFor: () => Promise.resolve(threads.bus),
    stop: () => threads.stop(),
    kill: () => threads.kill(),
  };
}

/**
 * Embedded mode on more than one core: the main thread keeps the in-process transport (event log,
 * KV, routing) and the gateway; the services run in worker threads, each with its own store, and
 * reach the transport over a MessagePort (runtime/transport/in-process/port.ts). Same files, same semantics as
 * with every service on the main thread; only the CPU they run on changes.
 */
import { Worker, MessageChannel } from 'node:worker_threads';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SystemConfig } from '../config.ts';
import type { BackendService } from '../registry.ts';
import type { Logger } from '../runtime/service.ts';
import { servePort } from '../runtime/transport/in-process/port.ts';
import { consumedEvents } from '../contracts/channels.ts';
import { InProcessTransport } from '../runtime/transport/in-process/in-process.ts';
import type { FromThread, ServiceThreadData, ToThread } from './protocol.ts';

/** Relative CPU per checkout by service, measured (docs/benchmarks.md): used to balance threads. */
const weight: Record<BackendService, number> = { checkout: 1.6, inventory: 0.75, cart: 0.6, order: 0.55, payment: 0.55, promotion: 0.3 };

/** Splits services over `threads` groups, heaviest first onto the lightest group. */
export function assignThreads(services: readonly BackendService[], threads: number): BackendService[][] {
  const groups = Array.from({ length: Math.min(threads, services.length) }, () => ({ load: 0, services: [] as BackendService[] }));
  for (const s of [...services].sort((a, b) => weight[b] - weight[a])) {
    const lightest = groups.reduce((a, b) => (b.load < a.load ? b : a));
    lightest.services.push(s);
    lightest.load += weight[s];
  }
  // Keep each group in the system's start order, so that a group stops its callers first.
  return groups.map((g) => services.filter((s) => g.services.includes(s)));
}

export interface ServiceThreads {
  bus: InProcessTransport;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export async function startServiceThreads(config: SystemConfig, services: readonly BackendService[], log: Logger, logLevel: string): Promise<ServiceThreads> {
  mkdirSync(config.dataDir, { recursive: true });
  const bus = new InProcessTransport({ path: join(config.dataDir, 'bus.db'), storeOnlyConsumed: consumedEvents, holdConsumed: true, onError: (err, context) => log.error({ err }, context) });
  const entry = new URL('./service-thread.ts', import.meta.url).href;
  const threads: Array<{ worker: Worker; services: BackendService[]; served: Promise<void> }> = [];
  let stopping: Promise<void> | undefined;
  try {
    for (const group of assignThreads(services, config.threads)) {
      const { port1, port2 } = new MessageChannel();
      const { closed } = servePort(port1, bus, (err, context) => log.error({ err }, context));
      const data: ServiceThreadData = { entry, services: group, config, logLevel, port: port2 };
      const worker = new Worker(new URL('./boot.mjs', import.meta.url), { workerData: data, transferList: [port2], name: group.join('+') });
      threads.push({ worker, services: group, served: closed });
      await new Promise<void>((resolve, reject) => {
        const onMessage = (m: FromThread) => {
          if (m.t === 'ready') resolve();
          else if (m.t === 'failed') reject(new Error(`service thread ${group.join('+')} failed to start: ${m.message}`));
        };
        worker.once('message', onMessage);
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`service thread ${group.join('+')} exited with code ${code}`)));
      });
      worker.on('exit', (code) => {
        // A thread that ends outside stop() took its services with it: say so loudly. Their
        // stores are intact, so a restart of the process resumes them.
        if (!stopping) log.error({ services: group, code }, 'service thread exited unexpectedly; restart the process');
      });
      log.info({ services: group }, 'service thread started');
    }
  } catch (err) {
    stopping = Promise.resolve();
    await Promise.allSettled(threads.map((t) => t.worker.terminate()));
    await bus.drain();
    throw err;
  }

  const ask = async (t: (typeof threads)[number], m: ToThread) => {
    const stopped = new Promise<void>((resolve) => {
      t.worker.on('message', (r: FromThread) => r.t === 'stopped' && resolve());
      t.worker.once('exit', () => resolve());
    });
    t.worker.postMessage(m);
    await stopped;
    await t.served;
    await t.worker.terminate();
  };
  return {
    bus,
    stop: () => (stopping ??= stopInOrder()),
    kill: () => (stopping ??= killAll()),
  };

  /** Callers first, as in one thread: the thread whose last service starts latest stops first. */
  async function stopInOrder(): Promise<void> {
    const last = (t: (typeof threads)[number]) => Math.max(...t.services.map((s) => services.indexOf(s)));
    for (const t of [...threads].sort((a, b) => last(b) - last(a))) await ask(t, { t: 'stop' });
    await bus.drain();
  }

  async function killAll(): Promise<void> {
    await Promise.allSettled(threads.map((t) => t.worker.terminate()));
    await bus.drain();
  }
}

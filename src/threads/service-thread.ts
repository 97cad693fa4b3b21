/**
 * One worker thread of the embedded system: starts its share of the services, each with its own
 * store, on a PortTransport to the main thread's in-process transport, then waits to be stopped.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { startSystem, type System } from '../system.ts';
import { PortTransport } from '../runtime/transport/in-process/port.ts';
import type { FromThread, ServiceThreadData, ToThread } from './protocol.ts';

const data = workerData as ServiceThreadData;
const log = pino({ level: data.logLevel }).child({ thread: data.services.join('+') });
const transport = new PortTransport(data.port, (err, context) => log.error({ err }, context));
const parent = parentPort!;

let system: System | undefined;
try {
  system = await startSystem({ config: data.config, services: data.services, transport, log });
  parent.postMessage({ t: 'ready' } satisfies FromThread);
} catch (err) {
  parent.postMessage({ t: 'failed', message: err instanceof Error ? err.stack ?? err.message : String(err) } satisfies FromThread);
}

parent.on('message', (m: ToThread) => {
  const s = system;
  const done = () => {
    parent.postMessage({ t: 'stopped' } satisfies FromThread);
    parent.close();
  };
  if (!s) return done();
  (m.t === 'stop' ? s.stop() : s.kill()).then(done, (err: unknown) => {
    log.error({ err }, 'stopping the service thread failed');
    done();
  });
});

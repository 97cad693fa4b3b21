/**
 * A participant that fails on demand: the real in-process transport, with one subject's responder
 * refusing (a non-transient INTERNAL error, as a participant whose store is broken answers) while
 * `broken` is true. Everything else is the real system.
 */
import { join } from 'node:path';
import { RemoteError } from '../../src/runtime/transport/errors.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import type { Transport } from '../../src/runtime/transport/transport.ts';

export interface FaultySubject {
  transport: Transport;
  /** While true, requests on the subject are refused. */
  broken: boolean;
  refused: number;
}

export function busWithFaultySubject(dataDir: string, subject: string): FaultySubject {
  const bus = new InProcessTransport({ path: join(dataDir, 'bus.db'), onError: () => undefined });
  const fault: FaultySubject = { transport: bus, broken: true, refused: 0 };
  fault.transport = Object.assign(Object.create(bus) as Transport, {
    respond: (s: string, responder: Parameters<Transport['respond']>[1], opts: Parameters<Transport['respond']>[2]) =>
      bus.respond(
        s,
        s !== subject
          ? responder
          : (msg) => {
              if (!fault.broken) return responder(msg);
              fault.refused++;
              throw new RemoteError('INTERNAL', 'the order store is failing');
            },
        opts,
      ),
  });
  return fault;
}

/**
 * A slot's opening that fails after its store was opened (the replicated journal not answering, a
 * fence lost to the previous term's last append) closes that store: the next opening in the same
 * process must find the file free. Left open, the store's exclusive lock refused every later
 * opening ("held by another process"), and a single instance's participant never served again
 * (docs/benchmarks.md, #15, 2026-12-07). Over the in-process transport, its journal replicated to
 * the in-memory log (tests/support/memory-log.ts) whose first read goes unanswered.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configFromEnv } from '../../src/config.ts';
import { pingSubject } from '../../src/contracts/subjects.ts';
import { ServiceClient } from '../../src/runtime/client.ts';
import { systemClock } from '../../src/runtime/clock.ts';
import { startSystem, type System } from '../../src/system.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import type { LogEntry, ReplicatedLog } from '../../src/runtime/transport/transport.ts';
import { MemoryLog } from '../support/memory-log.ts';

/** The replicated journal as a cluster in an election answers it: the first read of a journal's last message fails. */
class ElectingLog extends MemoryLog {
  unanswered = 1;
  override last(subject: string): Promise<LogEntry | undefined> {
    // (Where a rebuild would read from, asked beside it from the checkpoints' subject, is answered.)
    if (this.unanswered > 0 && !subject.endsWith('.checkpoint')) {
      this.unanswered--;
      return Promise.reject(new Error(`last ${subject}: no answer (the stream is electing a leader)`));
    }
    return super.last(subject);
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('a slot whose opening fails', () => {
  it('closes the store it opened, so the next opening serves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'poa-open-failure-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const log = new ElectingLog();
    // A failed start drains its transport: each start gets its own, on the same event log.
    const transport = () => {
      const bus = new InProcessTransport({ path: join(dir, 'bus.db') });
      cleanups.push(() => bus.drain());
      return Object.assign(bus, { replicatedLog: (): Promise<ReplicatedLog> => Promise.resolve(log) });
    };
    // Exclusive locking, the default: a store left open holds its file against any other opening.
    const config = configFromEnv({ DATA_DIR: dir, SQLITE_SYNCHRONOUS: 'NORMAL' });
    expect(config.locking ?? 'exclusive').toBe('exclusive');

    await expect(startSystem({ config, services: ['promotion'], transport: transport() })).rejects.toThrow(/no answer/);
    const bus = transport();
    let system: System | undefined;
    try {
      system = await startSystem({ config, services: ['promotion'], transport: bus });
      expect(system.runtimes.get('promotion')?.store.closed).toBe(false);
      // It serves: its readiness ping is answered.
      const client = new ServiceClient(bus, 'urn:test:open-failure', systemClock);
      expect((await client.call(pingSubject('promotion'), 'ping', {}, z.object({ ok: z.boolean() }), { timeoutMs: 2_000 })).payload).toEqual({ ok: true });
    } finally {
      await system?.stop();
    }
  });
});

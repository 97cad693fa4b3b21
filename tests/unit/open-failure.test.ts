/**
 * A slot's opening that fails after its store was opened (the replicated journal not answering, a
 * fence lost to the previous term's last append) closes that store: the next opening in the same
 * process must find the file free. Left open, the store's exclusive lock refused every later
 * opening ("held by another process"), and a single instance's participant never served again
 * (docs/benchmarks.md, #15, 2026-12-07). And a store rebuilt at the start (an empty disk) from a
 * read of the log that misses a message of records fails the start with JournalGap rather than
 * serve without them, and the next start, reading the whole log, serves every record. Over the
 * in-process transport, its journal replicated to the in-memory log (tests/support/memory-log.ts).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configFromEnv } from '../../src/config.ts';
import { Cart, MessageType } from '../../src/contracts/index.ts';
import { Command, journalSubject, pingSubject, Query } from '../../src/contracts/subjects.ts';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import { ServiceClient } from '../../src/runtime/client.ts';
import { systemClock } from '../../src/runtime/clock.ts';
import { newId } from '../../src/runtime/ids.ts';
import { JournalGap } from '../../src/runtime/rebuild.ts';
import { decodeRecords, JournalHeader } from '../../src/runtime/replication.ts';
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

/** A start's own transport on the event log in `dir` (a failed start drains its transport), its journal replicated to `log`. */
function transportOn(dir: string, log: ReplicatedLog): InProcessTransport {
  const bus = new InProcessTransport({ path: join(dir, 'bus.db') });
  cleanups.push(() => bus.drain());
  return Object.assign(bus, { replicatedLog: (): Promise<ReplicatedLog> => Promise.resolve(log) });
}

describe('a slot whose opening fails', () => {
  it('closes the store it opened, so the next opening serves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'poa-open-failure-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const log = new ElectingLog();
    const transport = () => transportOn(dir, log);
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

describe('a start whose rebuild reads the journal with a message missing', () => {
  it('fails with JournalGap, and the next start from the whole log serves every record', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'poa-open-gap-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const log = new MemoryLog();
    const subject = journalSubject('cart', '0');
    const config = configFromEnv({ DATA_DIR: dir, SQLITE_SYNCHRONOUS: 'NORMAL' });
    const start = async (from: ReplicatedLog) => {
      const bus = transportOn(dir, from);
      const system = await startSystem({ config, services: ['cart'], transport: bus });
      return { system, client: new ServiceClient(bus, 'urn:test:rebuild-gap', systemClock) };
    };
    const cartOf = (client: ServiceClient, cartId: string) =>
      client.call(Query.getCart, MessageType.getCartRequest, { cartId }, Cart, { timeoutMs: 5_000 }).then((r) => r.payload);

    const first = await start(log);
    const carts = Array.from({ length: 6 }, () => newId());
    for (const cartId of carts) {
      await first.client.call(Command.addItemToCart, MessageType.addItemToCart, { cartId, productId: productIdFor('ACME-ANVIL-01'), quantity: 2 }, Cart, { timeoutMs: 5_000, idempotencyKey: newId() });
    }
    await first.system.stop();
    // The disk is lost: only the log holds the carts.
    for (const f of readdirSync(dir)) if (f.startsWith('cart')) rmSync(join(dir, f), { force: true });

    // The messages of records that the latest checkpoint (if any) does not cover: what a rebuild applies.
    const onSubject = log.entries.filter((e) => e.subject === subject);
    const covered = Number(onSubject.findLast((e) => e.headers[JournalHeader.checkpoint] !== undefined)?.headers[JournalHeader.to] ?? 0);
    const records = onSubject.filter((e) => e.headers[JournalHeader.checkpoint] === undefined && e.headers[JournalHeader.fence] === undefined && decodeRecords(e.data).some(([pos]) => pos > covered));
    expect(records.length).toBeGreaterThan(3);
    const gone = records[Math.floor(records.length / 2)]!.seq;
    const gapped: ReplicatedLog = {
      append: (...a) => log.append(...a),
      put: (...a) => log.put(...a),
      last: (s) => log.last(s),
      trim: (s, k) => log.trim(s, k),
      read: (s, after, through, onEntry) => log.read(s, after, through, (e) => (s === subject && e.seq === gone ? undefined : onEntry(e))),
    };
    await expect(start(gapped)).rejects.toSatisfy((err) => err instanceof JournalGap && err.found !== undefined && err.found > err.expected);

    let system: System | undefined;
    try {
      const again = await start(log);
      system = again.system;
      expect(system.runtimes.get('cart')?.store.closed).toBe(false);
      for (const cartId of carts) expect((await cartOf(again.client, cartId)).items).toEqual([expect.objectContaining({ productId: productIdFor('ACME-ANVIL-01'), quantity: 2 })]);
    } finally {
      await system?.stop();
    }
  });
});

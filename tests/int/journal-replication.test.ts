/**
 * The journal shipped to JetStream (src/runtime/replication.ts), on a real nats-server: the log's
 * contract (fenced appends, a lost acknowledgement retried, reads from a sequence, trims) as a
 * service's own NATS user, and the whole system over NATS with every service's journal in the
 * JOURNAL stream, record for record, before anyone was told.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSeed } from '../../src/actors/seed/seed.ts';
import { JournalStream, journalSubject } from '../../src/contracts/subjects.ts';
import { decodeRecords, JournalHeader } from '../../src/runtime/replication.ts';
import { connectNats, type NatsTransport } from '../../src/runtime/transport/nats.ts';
import { LogFenced, type LogEntry, type ReplicatedLog } from '../../src/runtime/transport/transport.ts';
import { credentialsFor, startNatsServer, type NatsServerHandle } from '../support/nats-server.ts';
import { startTestSystem, type TestSystem } from '../support/system-fixture.ts';

describe('the journal replicated through JetStream', () => {
  let nats: NatsServerHandle;
  let transport: NatsTransport;
  let log: ReplicatedLog;

  beforeAll(async () => {
    nats = await startNatsServer();
    transport = await connectNats({ servers: nats.url, ...credentialsFor('inventory'), inboxPrefix: '_INBOX.inventory', onError: () => undefined });
    log = await transport.replicatedLog(JournalStream.name, JournalStream.subjects);
  });

  afterAll(async () => {
    await transport.drain();
    await nats.stop();
  });

  it('appends only after the last sequence the writer names; a lost acknowledgement retried is the same append', async () => {
    const subject = journalSubject('inventory', 'contract');
    const s1 = await log.append(subject, '[]', { [JournalHeader.to]: '1' }, 'c:1', 0);
    const s2 = await log.append(subject, '[]', { [JournalHeader.to]: '2' }, 'c:2', s1);
    expect(s2).toBeGreaterThan(s1);
    // The same append again (its ack was lost): acknowledged with its sequence, not stored twice.
    expect(await log.append(subject, '[]', {}, 'c:2', s1)).toBe(s2);
    // A writer that still believes s1 is the last (a stale owner) is fenced.
    await expect(log.append(subject, '[]', {}, 'stale:2', s1)).rejects.toBeInstanceOf(LogFenced);
    expect((await log.last(subject))?.seq).toBe(s2);
    const s3 = await log.append(subject, '[]', { [JournalHeader.to]: '3' }, 'c:3', s2);
    const read: LogEntry[] = [];
    await log.read(subject, s1, s3, (e) => read.push(e));
    expect(read.map((e) => [e.seq, e.headers[JournalHeader.to]])).toEqual([[s2, '2'], [s3, '3']]);
    await log.trim(subject, s3);
    const left: LogEntry[] = [];
    await log.read(subject, 0, s3, (e) => left.push(e));
    expect(left.map((e) => e.seq)).toEqual([s3]);
    // Another service's journal is not this user's to write.
    await expect(log.append(journalSubject('order', '0'), '[]', {}, 'x', 0)).rejects.toThrow();
  });

  describe('the system over NATS', () => {
    let sys: TestSystem;
    beforeAll(async () => {
      sys = await startTestSystem('nats', undefined, nats);
    });
    afterAll(async () => {
      await sys.stop();
    });

    it('every record each service committed is in its slot of the JOURNAL stream, in order, once', async () => {
      const [p1, p2] = defaultSeed.products;
      for (let i = 0; i < 5; i++) {
        const cart = await sys.shopper.buy(randomUUID(), [[p1!.productId, 1], [p2!.productId, 1]]);
        await sys.shopper.settle(cart.checkoutId);
      }
      const admin = await connectNats({ servers: nats.url, user: 'admin', pass: 'admin-dev-secret', onError: () => undefined });
      try {
        const adminLog = await admin.replicatedLog(JournalStream.name, JournalStream.subjects);
        for (const [service, rt] of sys.system.runtimes) {
          const slot = service === 'checkout' ? (rt.store.db.prepare(`SELECT value FROM meta WHERE key = 'instance_id'`).pluck().get() as string) : '0';
          const subject = journalSubject(service, slot);
          const last = await adminLog.last(subject);
          const shipped: Array<readonly [number, string]> = [];
          await adminLog.read(subject, 0, last?.seq ?? 0, (e) => shipped.push(...decodeRecords(e.data)));
          const local = rt.journal.recordsAfter(0);
          expect(local.length, service).toBeGreaterThan(0);
          expect(shipped, service).toEqual(local);
        }
      } finally {
        await admin.drain();
      }
      expect(sys.invariants()).toEqual([]);
    });
  });
});

/**
 * The journal shipped to JetStream (src/runtime/replication.ts), on a real nats-server: the log's
 * contract (fenced appends, a lost acknowledgement retried, reads from a sequence, trims) as a
 * service's own NATS user, and the whole system over NATS with every service's journal in the
 * JOURNAL stream, record for record, before anyone was told.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { randomUUID } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSeed } from '../../src/actors/seed/seed.ts';
import { JournalStream, journalSubject } from '../../src/contracts/subjects.ts';
import { decodeRecords, JournalHeader } from '../../src/runtime/replication.ts';
import { connectNats, type NatsTransport } from '../../src/runtime/transport/nats.ts';
import { filteredPurgeIsSafe, NatsLog } from '../../src/runtime/transport/nats-log.ts';
import type { LogEntry, ReplicatedLog } from '../../src/runtime/transport/transport.ts';
import { appendsAfterTheLastSequence } from '../support/log-cases.ts';
import { credentialsFor, startNatsServer, type NatsServerHandle } from '../support/nats-server.ts';
import { initialStock, startTestSystem, type TestSystem } from '../support/system-fixture.ts';
import { audit, Shopper } from '../support/shop.ts';
import { startSystem, type System } from '../../src/system.ts';
import { rebuildStore } from '../../src/runtime/rebuild.ts';
import { rebuildKit } from '../../src/rebuild-kits.ts';
import Database from 'better-sqlite3';
import type { BackendService } from '../../src/registry.ts';

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
    await appendsAfterTheLastSequence(log, journalSubject('inventory', 'contract'));
    // Another service's journal is not this user's to write.
    await expect(log.append(journalSubject('order', '0'), '[]', {}, 'x', 0)).rejects.toThrow();
  });

  it("a read gives exactly the subject's messages in the range, in order, however they are spread among other subjects' (its gets run in parallel chains over ranges of sequences)", async () => {
    const subject = journalSubject('inventory', 'spread');
    const other = journalSubject('inventory', 'spread-other');
    const mine: number[] = [];
    let seq = 0;
    let otherSeq = 0;
    // Runs of the other subject of irregular length (0-9) between this subject's messages, then a long gap.
    for (let i = 1; i <= 120; i++) {
      for (let j = 0; j < (i * 7) % 10; j++) otherSeq = await log.append(other, '[]', {}, `o:${i}:${j}`, otherSeq);
      if (i === 100) for (let j = 0; j < 60; j++) otherSeq = await log.append(other, '[]', {}, `gap:${j}`, otherSeq);
      seq = await log.append(subject, `[${i}]`, { [JournalHeader.to]: String(i) }, `s:${i}`, seq);
      mine.push(seq);
    }
    const read = async (after: number, through: number) => {
      const got: LogEntry[] = [];
      await log.read(subject, after, through, (e) => got.push(e));
      return got.map((e) => e.seq);
    };
    expect(await read(0, seq)).toEqual(mine);
    expect((await read(0, seq)).length).toBe(120);
    // Bounds inside the range, at messages and between them.
    for (const [a, b] of [[mine[10]!, mine[90]!], [mine[10]! - 1, mine[90]! + 1], [mine[50]!, mine[51]!], [mine[50]!, mine[50]!], [mine[119]!, seq + 100], [0, mine[0]!]]) {
      expect(await read(a!, b!), `${a}..${b}`).toEqual(mine.filter((s) => s > a! && s <= b!));
    }
    const bodies: string[] = [];
    await log.read(subject, 0, seq, (e) => bodies.push(e.data));
    expect(bodies).toEqual(mine.map((_, i) => `[${i + 1}]`));
  });

  it("reads by direct gets (the journal's stream allows them) give what the leader's gets give: the same messages, headers and bodies", async () => {
    const jsm = await jetstreamManager(transport.nc, { checkAPI: false });
    expect((await jsm.streams.info(JournalStream.name)).config.allow_direct).toBe(true);
    const subject = journalSubject('inventory', 'direct');
    let seq = 0;
    for (let i = 1; i <= 20; i++) seq = await log.append(subject, `[${i}]`, { [JournalHeader.from]: String(i), [JournalHeader.to]: String(i) }, `d:${i}`, seq);
    const leaderOnly = new NatsLog(JournalStream.name, transport.nc, () => Promise.reject(new Error('reads only')));
    const readWith = async (l: ReplicatedLog) => {
      const got: LogEntry[] = [];
      await l.read(subject, 0, seq, (e) => got.push(e));
      return got;
    };
    const direct = await readWith(log);
    expect(direct.map((e) => e.data)).toEqual(Array.from({ length: 20 }, (_, i) => `[${i + 1}]`));
    expect(direct).toEqual(await readWith(leaderOnly));
    expect(Object.keys(direct[0]!.headers).filter((h) => h.startsWith('Nats-Stream') || h === 'Nats-Sequence')).toEqual([]);
  });

  it('a trim (one filtered purge on this standalone server) takes only its subject, and only below the sequence kept', async () => {
    expect(filteredPurgeIsSafe(transport.nc.info)).toBe(true);
    const mine = journalSubject('inventory', 'trim-a');
    const other = journalSubject('inventory', 'trim-b');
    let m = 0;
    let o = 0;
    const mineSeqs: number[] = [];
    for (let i = 0; i < 6; i++) {
      mineSeqs.push((m = await log.append(mine, '[]', {}, `a:${i}`, m)));
      o = await log.append(other, '[]', {}, `b:${i}`, o);
    }
    const seqs = async (subject: string) => {
      const out: number[] = [];
      await log.read(subject, 0, o + m, (e) => out.push(e.seq));
      return out;
    };
    // Keeping from sequence 1 (a slot whose checkpoint's first chunk was the stream's first message)
    // removes nothing: nats-server 2.9.10 reads a purge's `seq` 1 as no bound at all.
    await log.trim(mine, 1);
    expect(await seqs(mine)).toEqual(mineSeqs);
    await log.trim(mine, mineSeqs[4]!);
    expect(await seqs(mine)).toEqual(mineSeqs.slice(4));
    expect(await seqs(other)).toHaveLength(6);
  });

  it('a filtered purge is used only where no replica can replay it as a whole-stream compaction (nats-server#4196)', () => {
    expect(filteredPurgeIsSafe({ version: '2.9.10' })).toBe(true); // standalone: no replicas
    expect(filteredPurgeIsSafe({ version: '2.9.10', cluster: 'poa' })).toBe(false);
    expect(filteredPurgeIsSafe({ version: '2.9.17', cluster: 'poa' })).toBe(false);
    expect(filteredPurgeIsSafe({ version: '2.9.18', cluster: 'poa' })).toBe(true);
    expect(filteredPurgeIsSafe({ version: '2.10.0', cluster: 'poa' })).toBe(true);
    expect(filteredPurgeIsSafe(undefined)).toBe(false);
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

  describe('a lost machine: every participant rebuilt from the stream', () => {
    it('an empty DATA_DIR rebuilds each store (checkpoint image, then the records after it, their table writes re-run): stock conserved, tables as they were, and it serves on', async () => {
      const sys = await startTestSystem('nats', undefined, nats);
      const { config, dataDir } = sys;
      const products = defaultSeed.products.slice(0, 3).map((p) => p.productId);
      const buy = async (system: System, n: number, tag: string) => {
        const shopper = new Shopper(await system.transportFor('gateway'));
        for (let i = 0; i < n; i++) {
          // Some lines ask for more than the shelf holds: those checkouts are cancelled and released.
          const cart = await shopper.buy(randomUUID(), [[products[i % 3]!, i % 4 === 3 ? 99 : 1 + (i % 2)]]);
          const status = await shopper.settle(cart.checkoutId);
          expect(status.status, tag).toMatch(/CONFIRMED|CANCELLED/);
        }
      };
      await buy(sys.system, 6, 'first run');
      // A restart: its start checkpoint holds the first run; the second run is records after it.
      await sys.system.stop();
      let system = await startSystem({ config });
      await buy(system, 6, 'second run');
      const tables = (sys2: System) => {
        const db = (s: BackendService) => sys2.runtimes.get(s)!.store.db;
        return {
          stock: db('inventory').prepare('SELECT * FROM stock ORDER BY product_id').all(),
          reservations: db('inventory').prepare('SELECT * FROM reservations ORDER BY reservation_id').all(),
          items: db('inventory').prepare('SELECT * FROM reservation_items ORDER BY reservation_id, product_id').all(),
          payments: db('payment').prepare('SELECT * FROM payments ORDER BY order_id').all(),
          orders: db('order').prepare('SELECT * FROM order_index ORDER BY order_id').all(),
          carts: db('cart').prepare(`SELECT count(*) FROM actors WHERE kind = 'cart'`).pluck().get(),
        };
      };
      for (const rt of system.runtimes.values()) await rt.journal.checkpointIfDirty();
      const before = tables(system);
      expect(before.reservations.length).toBeGreaterThanOrEqual(12);
      const initial = audit({ inventory: dataDir, payment: dataDir, order: dataDir, checkout: [dataDir] }, initialStock);
      expect(initial).toEqual([]);
      // The machine is lost: killed, and its disk with it.
      await system.kill();
      for (const f of readdirSync(dataDir)) rmSync(join(dataDir, f), { recursive: true, force: true });
      // What the rebuild at the next start does, applied one record per slice (a transaction each,
      // the event loop let go between them), gives the same tables.
      const sliced = join(dataDir, 'sliced', 'inventory.db');
      const rebuilt = await rebuildStore(sliced, rebuildKit('inventory', config), log, journalSubject('inventory', '0'), {}, 0);
      expect(rebuilt.records).toBeGreaterThan(1);
      const slicedDb = new Database(sliced, { readonly: true });
      try {
        expect({
          stock: slicedDb.prepare('SELECT * FROM stock ORDER BY product_id').all(),
          reservations: slicedDb.prepare('SELECT * FROM reservations ORDER BY reservation_id').all(),
          items: slicedDb.prepare('SELECT * FROM reservation_items ORDER BY reservation_id, product_id').all(),
        }).toEqual({ stock: before.stock, reservations: before.reservations, items: before.items });
      } finally {
        slicedDb.close();
      }
      rmSync(join(dataDir, 'sliced'), { recursive: true, force: true });
      system = await startSystem({ config });
      try {
        for (const rt of system.runtimes.values()) await rt.journal.checkpointIfDirty();
        expect(tables(system)).toEqual(before);
        expect(audit({ inventory: dataDir, payment: dataDir, order: dataDir, checkout: [dataDir] }, initialStock)).toEqual([]);
        await buy(system, 4, 'after the rebuild');
        expect(audit({ inventory: dataDir, payment: dataDir, order: dataDir, checkout: [dataDir] }, initialStock)).toEqual([]);
      } finally {
        await system.stop();
      }
    });
  });
});

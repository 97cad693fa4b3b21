/**
 * The journal as the commit (src/runtime/journal.ts), crash by crash. Each "crash" kills the store
 * at a named point (nothing uncommitted survives); the restart opens a fresh runtime on the same
 * files, which loads the checkpoint and applies the journal after it. After each: nothing that was
 * acknowledged is lost, no effect is doubled, and a timer fires once. Then the inbox window, on
 * both sides of its two minutes, to the millisecond, and with two keys of the same hash.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { metaToHeaders } from '../../src/contracts/headers.ts';
import { ManualClock } from '../../src/runtime/clock.ts';
import { inboxKeyHash, type JournalOptions } from '../../src/runtime/journal.ts';
import { SimulatedCrash, type CrashPoint } from '../../src/runtime/store.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import type { Delivery, Message } from '../../src/runtime/transport/transport.ts';
import { checkpointSubject, JournalDiverged, JournalHeader, replicateJournal, type CheckpointCost } from '../../src/runtime/replication.ts';
import { TransportClosedError } from '../../src/runtime/transport/errors.ts';
import { LogFenced } from '../../src/runtime/transport/transport.ts';
import { openJobService, type JobService } from '../support/host-fixture.ts';
import { MemoryLog } from '../support/memory-log.ts';
import { settle, until } from '../support/waiting.ts';

describe('the journal is the commit', () => {
  let dir: string;
  let bus: InProcessTransport;
  let clock: ManualClock;
  let crashAt: CrashPoint | undefined;
  let svc: JobService;
  let workCalls: Message[];
  let published: Delivery[];

  const faults = (p: CrashPoint) => {
    if (p === crashAt) {
      crashAt = undefined;
      throw new SimulatedCrash(p);
    }
  };
  /** With `log`, the journal is replicated to it as in distributed mode (replication.ts), before the service starts. */
  let log: MemoryLog | undefined;
  const start = async (journal: JournalOptions = {}) => {
    svc = await openJobService(dir, bus, clock, faults, journal);
    if (log) await replicateJournal(svc.rt, log, '0');
    await svc.rt.start();
    return svc;
  };
  const restart = async (journal: JournalOptions = {}) => {
    svc.rt.kill();
    return start(journal);
  };
  const jobs = () => svc.rt.hosts.get('job')!;
  const state = (id: string) => String(jobs().peek(id)?.value);
  const records = (id: string) => svc.store.db.prepare('SELECT count(*) FROM journal WHERE id = ?').pluck().get(id) as number;
  const transitions = (id: string) => svc.store.db.prepare(`SELECT count(*) FROM journal WHERE id = ? AND json_extract(record, '$.event') IS NOT NULL`).pluck().get(id) as number;
  const withWorker = () =>
    bus.respond('worker.cmd.do-work', (m) => {
      workCalls.push(m);
      return { data: JSON.stringify({ result: 'ok' }), headers: metaToHeaders({ id: `r${workCalls.length}`, type: 'work-done', source: 'urn:test:worker', time: new Date().toISOString(), correlationId: 'c' }) };
    }, { queue: 'worker' });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'journal-'));
    bus = new InProcessTransport({ path: join(dir, 'bus.db') });
    clock = new ManualClock();
    crashAt = undefined;
    log = undefined;
    workCalls = [];
    published = [];
    await bus.ensureStream('TEST', ['test.evt.>']);
    await bus.consume({ stream: 'TEST', durable: 'tap', filterSubjects: ['test.evt.>'], ackWaitMs: 5_000 }, async (d) => void published.push(d));
  });

  afterEach(async () => {
    if (!svc.store.closed) await svc.rt.stop(200);
    await bus.drain();
    rmSync(dir, { recursive: true, force: true });
  });

  it('crash before the append commits: nothing happened; the redelivery is handled once', async () => {
    await withWorker();
    await start();
    crashAt = 'beforeCommit';
    await expect(jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: 'm1' })).rejects.toThrow(SimulatedCrash);
    await restart();
    expect(jobs().peek('j1')).toBeUndefined();
    expect(records('j1')).toBe(0);
    await jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: 'm1' });
    await until(() => state('j1') === 'done' && published.length === 1);
    await settle();
    expect([published.length, workCalls.length]).toEqual([1, 1]);
  });

  it('crash after the append, before the relay sends: the restart sends its effects once and keeps its timer armed', async () => {
    await start(); // no worker yet: the request waits, so the deadline is still armed at the crash
    crashAt = 'afterCommit';
    const acked = await jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: 'm1' });
    expect(acked.changed).toBe(true);
    await until(() => svc.store.closed);
    expect(published).toHaveLength(0);
    await restart();
    expect(state('j1')).toBe('running');
    expect(svc.rt.journal.armedTimer('job', 'j1', 'deadline')).toMatchObject({ seq: 1, dueAt: clock.now() + 1_000 });
    await until(() => published.length === 1);
    await withWorker();
    clock.advance(200); // past the request's retry backoff (the relay's clock is this manual one)
    svc.rt.relay.kick();
    await until(() => state('j1') === 'done');
    await settle();
    expect([published.length, workCalls.length]).toEqual([1, 1]);
    // The reply finished the request and the deadline is now stale: it fires as a no-op, once.
    clock.advance(1_500);
    expect(await svc.rt.scheduler.runDue()).toBe(1);
    expect(await svc.rt.scheduler.runDue()).toBe(0);
    expect(state('j1')).toBe('done');
  });

  it('crash after a send, before the watermark moves: the re-send is the same message, dropped downstream', async () => {
    await withWorker();
    await start();
    crashAt = 'afterPublish';
    await jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: 'm1' });
    await until(() => svc.store.closed);
    await restart();
    await until(() => state('j1') === 'done' && published.length >= 1);
    await settle();
    expect(published).toHaveLength(1); // the stream's duplicate window dropped the re-send
    expect(new Set(workCalls.map((m) => m.headers['ce-id'])).size).toBe(1); // a re-sent request keeps its id and key
    expect(new Set(workCalls.map((m) => m.headers['ce-idempotencykey']))).toEqual(new Set(['j1:work']));
  });

  it('crash during a checkpoint: the batch it joined is lost whole; what was acknowledged before survives, and its timer fires once', async () => {
    await start({ checkpointEvery: 1 });
    await jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: 'm1' }); // acknowledged
    crashAt = 'duringCheckpoint';
    // With the second record the first is a record old: its row is due, the checkpoint joins this batch and crashes it.
    await expect(jobs().deliver('j2', { type: 'job.start', name: 'b' }, { inboxKey: 'm2' })).rejects.toThrow(SimulatedCrash);
    await restart({ checkpointEvery: 1 });
    expect(state('j1')).toBe('running');
    expect(jobs().peek('j2')).toBeUndefined(); // never acknowledged
    expect(svc.store.db.prepare(`SELECT count(*) FROM actors WHERE id = 'j1'`).pluck().get()).toBe(1); // the open's own checkpoint
    clock.advance(1_500);
    expect(await svc.rt.scheduler.runDue()).toBe(1);
    expect(state('j1')).toBe('timedOut');
    await restart({ checkpointEvery: 1 });
    expect(await svc.rt.scheduler.runDue()).toBe(0);
    expect(state('j1')).toBe('timedOut');
    expect(svc.rt.journal.pendingRequest('job', 'j1', 'work')).toBeUndefined(); // the deadline abandoned it
  });

  it('crash between a checkpoint and the truncation it allows: nothing is re-sent, and the truncated journal still opens', async () => {
    await withWorker();
    const opts = { retentionMs: 0, checkpointMs: 3_600_000 };
    await start(opts);
    await jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: 'm1' });
    await until(() => state('j1') === 'done' && published.length === 1);
    await svc.rt.relay.idle();
    clock.advance(1_500);
    expect(await svc.rt.scheduler.runDue()).toBe(1); // the stale deadline: its record disarms it
    clock.advance(180_000); // past the inbox window: the records may go once a checkpoint covers them
    await svc.rt.journal.checkpointNow(); // covers them, and decides the truncation
    crashAt = 'beforeTruncate';
    await expect(svc.rt.journal.checkpointNow()).rejects.toThrow(SimulatedCrash);
    await restart(opts);
    expect(records('j1')).toBe(3); // not truncated: the crash took the truncation with it
    expect(state('j1')).toBe('done');
    await svc.rt.journal.checkpointNow();
    await svc.rt.journal.checkpointNow();
    expect(records('j1')).toBe(0);
    jobs().evict();
    expect(state('j1')).toBe('done'); // from its checkpointed row
    await restart(opts);
    expect(state('j1')).toBe('done');
    await settle();
    expect([published.length, workCalls.length]).toEqual([1, 1]);
  });

  describe('replicated to a log (distributed mode): SQLite first, then the log, then anyone is told', () => {
    const subject = 'journal.order.0';
    const shipped = () => log!.entries.filter((e) => e.subject === subject);

    it.each([
      ['beforeReplicate', 'after the local commit, before the log has the batch: nobody was told; the restart ships the tail', 0],
      ['afterReplicate', 'after the log took the batch, before its release: nobody was told; nothing is shipped twice', 1],
    ] as const)('crash %s (%s), then its effects go once', async (point, _what, inLog) => {
      log = new MemoryLog();
      await withWorker();
      await start();
      crashAt = point;
      await expect(jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: 'm1' })).rejects.toThrow(SimulatedCrash);
      await settle();
      expect([shipped().length, published.length, workCalls.length]).toEqual([inLog, 0, 0]);
      await restart();
      expect(shipped().length).toBeGreaterThanOrEqual(1); // shipped at open if the log lacked it
      await until(() => state('j1') === 'done' && published.length === 1);
      await settle();
      expect([published.length, workCalls.length]).toEqual([1, 1]);
      // Every record the store holds is in the log, in order, once.
      const positions = shipped().flatMap((e) => (JSON.parse(e.data) as Array<[number]>).map(([pos]) => pos));
      expect(positions).toEqual(svc.rt.journal.recordsAfter(0).map(([pos]) => pos));
    });

    it('a fenced owner (another writer appended to its slot) tells nobody of its next commit and stops', async () => {
      log = new MemoryLog();
      await start();
      await jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: 'm1' });
      const last = await log.last(subject);
      await log.append(subject, '[]', {}, 'new-owner', last!.seq); // the slot's new owner writes
      await expect(jobs().deliver('j2', { type: 'job.start', name: 'b' }, { inboxKey: 'm2' })).rejects.toThrow(LogFenced);
      await settle();
      expect(svc.store.closed).toBe(true);
      expect(workCalls).toHaveLength(0);
      expect(shipped()).toHaveLength(2); // j1's batch and the new owner's; j2 never got in
    });

    it('a store behind its log, or disagreeing with it, refuses to serve the slot from its own files', async () => {
      log = new MemoryLog();
      await start();
      await jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: 'm1' });
      await svc.rt.stop(200);
      rmSync(join(dir, 'jobs.db'), { force: true });
      rmSync(join(dir, 'jobs.db-wal'), { force: true });
      // An empty store (a lost disk) on a log that holds record 1: it must be rebuilt from the log.
      await expect(start()).rejects.toThrow(JournalDiverged);
      // A store whose own record 1 (written while it was not replicated) differs from the log's.
      svc.rt.kill();
      const shared = log;
      log = undefined;
      await start();
      await jobs().deliver('other', { type: 'job.start', name: 'x' });
      svc.rt.kill();
      log = shared;
      await expect(start()).rejects.toThrow(/differs/);
    });

    it('a slot is served while its first checkpoint still waits for the log (a trim held up after a lost node)', async () => {
      let releaseTrim: () => void = () => undefined;
      const held = new Promise<void>((r) => (releaseTrim = r));
      const trimmed: string[] = [];
      log = new (class extends MemoryLog {
        override async trim(s: string, keepFromSeq: number): Promise<void> {
          await held;
          trimmed.push(s);
          return super.trim(s, keepFromSeq);
        }
      })();
      svc = await openJobService(dir, bus, clock, faults);
      const replicator = await replicateJournal(svc.rt, log, '0');
      // Before: startCheckpoints awaited the first checkpoint, trim included, and the slot waited with it.
      const outcome = await Promise.race([replicator.startCheckpoints().then(() => 'started'), new Promise((r) => setTimeout(() => r('still waiting'), 1_000))]);
      expect(outcome).toBe('started');
      await svc.rt.start();
      await jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: 'm1' });
      // The checkpoint's marker is in the log (it goes before the trim); the trim runs once the log lets it.
      await until(() => shipped().some((e) => e.headers[JournalHeader.checkpoint] !== undefined));
      expect(trimmed).toEqual([]);
      releaseTrim();
      await until(() => trimmed.length === 2);
      expect(trimmed).toEqual([subject, checkpointSubject(subject)]);
    });
    /** The service replicated to a log whose n-th put takes `putMs(n)`, checkpointing by records 1 and costFactor 5: when each checkpoint was done. */
    const checkpointingWithPuts = async (putMs: (n: number) => number): Promise<number[]> => {
      let puts = 0;
      log = new (class extends MemoryLog {
        override async put(...args: Parameters<MemoryLog['put']>): Promise<number> {
          const ms = putMs(++puts);
          if (ms > 0) await new Promise((r) => setTimeout(r, ms));
          return super.put(...args);
        }
      })();
      svc = await openJobService(dir, bus, clock, faults);
      const replicator = await replicateJournal(svc.rt, log, '0');
      const doneAt: number[] = [];
      await replicator.startCheckpoints({ records: 1, minGapMs: 20, costFactor: 5, everyMs: 60_000 }, undefined, () => void doneAt.push(performance.now()));
      await svc.rt.start();
      return doneAt;
    };

    it('a checkpoint that took long spaces the next out (costFactor times its duration), however many records come', async () => {
      const doneAt = await checkpointingWithPuts(() => 100); // each an upload of a large image
      for (let i = 0; i < 100; i++) {
        await jobs().deliver(`j${i}`, { type: 'job.start', name: 'a' }, { inboxKey: `m${i}` });
        await new Promise((r) => setTimeout(r, 25));
      }
      // ~2.5 s of records, one each 25 ms: every 220 ms by the count and the gap alone (each
      // takes 200 ms), every 1 s here once three were measured (the first three by the gap).
      expect(doneAt.length).toBeGreaterThanOrEqual(4);
      expect(doneAt.length).toBeLessThanOrEqual(7);
      for (let k = 3; k < doneAt.length; k++) expect(doneAt[k]! - doneAt[k - 1]!).toBeGreaterThanOrEqual(450);
    });

    it('one checkpoint whose upload waited out an election does not space the next out by its wait', async () => {
      // The fourth checkpoint's image (two puts each: a chunk, then its readFrom) waits 1 s for a leader.
      const doneAt = await checkpointingWithPuts((n) => (n === 7 ? 1_000 : 0));
      for (let i = 0; doneAt.length < 6 && i < 200; i++) {
        await jobs().deliver(`j${i}`, { type: 'job.start', name: 'a' }, { inboxKey: `m${i}` });
        await new Promise((r) => setTimeout(r, 25));
      }
      // Before: the next waited 5 times the slow one, 5 s.
      expect(doneAt.length).toBeGreaterThanOrEqual(6);
      expect(doneAt[4]! - doneAt[3]!).toBeLessThan(1_000);
    });

    it('a store just rebuilt from a checkpoint takes its first only as the policy says, not at once', async () => {
      log = new MemoryLog();
      svc = await openJobService(dir, bus, clock, faults);
      await svc.rt.start();
      for (let i = 0; i < 3; i++) await jobs().deliver(`j${i}`, { type: 'job.start', name: 'a' }, { inboxKey: `m${i}` });
      const replicator = await replicateJournal(svc.rt, log, '0');
      const covered: number[] = [];
      const rebuiltFrom = svc.rt.journal.head - 1; // a checkpoint one record behind the head
      await replicator.startCheckpoints({ records: 3, minGapMs: 20, costFactor: 0, everyMs: 60_000 }, undefined, (c) => void covered.push(c.covered), rebuiltFrom);
      await new Promise((r) => setTimeout(r, 200));
      expect(covered).toEqual([]);
      for (let i = 3; i < 5; i++) await jobs().deliver(`j${i}`, { type: 'job.start', name: 'a' }, { inboxKey: `m${i}` });
      await until(() => covered.length === 1);
      expect(covered).toEqual([rebuiltFrom + 3]);
    });

    it('checkpoints once enough records came since the last (not before), whatever the time, so a rebuild starts near the head', async () => {
      log = new MemoryLog();
      svc = await openJobService(dir, bus, clock, faults);
      const replicator = await replicateJournal(svc.rt, log, '0');
      const covered: number[] = [];
      await replicator.startCheckpoints({ records: 6, minGapMs: 20, costFactor: 0, everyMs: 60_000 }, undefined, (c) => void covered.push(c.covered));
      await svc.rt.start();
      // The latest marker is the one left in the log (each trims what came before it).
      const marker = () => shipped().findLast((e) => e.headers[JournalHeader.checkpoint] !== undefined);
      await until(() => covered.length === 1); // the first, at once
      for (let i = 0; i < 20; i++) {
        await jobs().deliver(`j${i}`, { type: 'job.start', name: 'a' }, { inboxKey: `m${i}` });
        // A checkpoint follows within the count (and the records of a delivery or two) of the head.
        // Waited for, not slept on: on a starved machine the one running (its gzip queued in libuv's
        // pool) may still be out when the next deliveries come, and the next waits for it.
        await until(() => svc.rt.journal.head - covered.at(-1)! < 6 + 3, 5_000);
      }
      expect(covered.length).toBeGreaterThanOrEqual(3);
      for (let k = 1; k < covered.length; k++) expect(covered[k]! - covered[k - 1]!).toBeGreaterThanOrEqual(6);
      await until(() => Number(marker()?.headers[JournalHeader.to]) === covered.at(-1));
      // Fewer records than the count, within everyMs: no checkpoint, however long. (One delivery is
      // one record here: deliver until a checkpoint covers the head, then five.)
      for (let i = 0; covered.at(-1) !== svc.rt.journal.head; i++) {
        await jobs().deliver(`k${i}`, { type: 'job.start', name: 'a' }, { inboxKey: `k${i}` });
        await new Promise((r) => setTimeout(r, 60));
      }
      const before = covered.length;
      for (let i = 0; i < 5; i++) await jobs().deliver(`l${i}`, { type: 'job.start', name: 'a' }, { inboxKey: `l${i}` });
      await new Promise((r) => setTimeout(r, 300));
      expect(svc.rt.journal.head - covered.at(-1)!).toBe(5);
      expect(covered.length).toBe(before);
    });
    it("a checkpoint's trims do not hold the next back; trims left waiting behind a later checkpoint are left to its own", async () => {
      let releaseTrims: () => void = () => undefined;
      const held = new Promise<void>((r) => (releaseTrims = r));
      const trims: string[] = [];
      log = new (class extends MemoryLog {
        override async trim(s: string, keepFromSeq: number): Promise<void> {
          await held; // a trim held up (one delete per message, through an election)
          trims.push(s);
          return super.trim(s, keepFromSeq);
        }
      })();
      svc = await openJobService(dir, bus, clock, faults);
      const replicator = await replicateJournal(svc.rt, log, '0');
      const done: CheckpointCost[] = [];
      await replicator.startCheckpoints({ records: 1, minGapMs: 20, costFactor: 0, everyMs: 60_000 }, undefined, (c) => void done.push(c));
      await svc.rt.start();
      const markers = () => shipped().filter((e) => e.headers[JournalHeader.checkpoint] !== undefined);
      // Before: the first checkpoint's trims held it running, and no other was taken until they were done.
      for (let i = 0; i < 4; i++) {
        await jobs().deliver(`j${i}`, { type: 'job.start', name: 'a' }, { inboxKey: `m${i}` });
        await until(() => Number(markers().at(-1)?.headers[JournalHeader.to]) === svc.rt.journal.head, 2_000);
      }
      const published = markers().length;
      expect(published).toBeGreaterThanOrEqual(4);
      expect(trims).toEqual([]);
      releaseTrims();
      await until(() => done.length === published);
      // The first's trims (they had begun) and the latest's ran; those between were left to the latest.
      expect(done.map((c) => c.trimmed)).toEqual(Array.from({ length: published }, (_, k) => k === 0 || k === published - 1));
      expect(trims).toEqual([subject, checkpointSubject(subject), subject, checkpointSubject(subject)]);
    });

    it("a killed term's replicator stops with it: it ships, checkpoints and trims nothing more", async () => {
      log = new MemoryLog();
      svc = await openJobService(dir, bus, clock, faults);
      const replicator = await replicateJournal(svc.rt, log, '0');
      const covered: number[] = [];
      await replicator.startCheckpoints({ records: 1, minGapMs: 20, costFactor: 0, everyMs: 60_000 }, undefined, (c) => void covered.push(c.covered));
      await svc.rt.start();
      await jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: 'm1' });
      await until(() => covered.at(-1) === svc.rt.journal.head);
      svc.rt.kill();
      const before = log.entries.length;
      // Before: a killed term's replicator went on shipping what it was given, and its checkpoints' timer ticked on.
      await expect(replicator.ship([[svc.rt.journal.head + 1, '{}']])).rejects.toBeInstanceOf(TransportClosedError);
      await new Promise((r) => setTimeout(r, 100));
      expect(log.entries.length).toBe(before);
    });
  });

  describe('the inbox window', () => {
    it('within two minutes, a repeat gets the stored reply, across a restart too', async () => {
      await withWorker();
      await start();
      const first = await jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: 'm1', reply: () => ({ data: '{"n":1}' }) });
      await until(() => state('j1') === 'done');
      clock.advance(100_000);
      expect(await jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: 'm1' })).toMatchObject({ duplicate: true, reply: first.reply });
      await restart();
      expect(await jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: 'm1' })).toMatchObject({ duplicate: true, reply: first.reply });
    });

    it('after two minutes, a repeat is decided by the machine from its state, and changes nothing', async () => {
      await withWorker();
      await start();
      await jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: 'm1', reply: () => ({ data: '{"n":1}' }) });
      await until(() => state('j1') === 'done' && published.length === 1);
      clock.advance(121_000);
      await svc.rt.journal.checkpointNow(); // forgets keys older than the window
      expect(svc.rt.journal.hasInboxKey('m1')).toBe(false);
      const late = await jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: 'm1' });
      expect(late.duplicate).toBe(false);
      expect(late.changed).toBe(false); // `done` does not accept job.start: nothing recorded, nothing sent
      expect(late.reply?.headers?.['x-error-code']).toBe('CONFLICT');
      await restart(); // and a restart rebuilds the window without it
      expect(svc.rt.journal.hasInboxKey('m1')).toBe(false);
      await settle();
      expect([published.length, workCalls.length, transitions('j1')]).toEqual([1, 1, 2]);
    });

    it('at its edge: a key is kept two minutes to the millisecond, across a restart, and forgotten one millisecond later', async () => {
      await withWorker();
      await start();
      const first = await jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: 'm1', reply: () => ({ data: '{"n":1}' }) });
      await until(() => state('j1') === 'done');
      clock.advance(60_000);
      const second = await jobs().deliver('j2', { type: 'job.start', name: 'b' }, { inboxKey: 'm2', reply: () => ({ data: '{"n":2}' }) });
      await until(() => state('j2') === 'done');
      clock.advance(60_000); // m1 handled exactly two minutes ago
      await svc.rt.journal.checkpointNow();
      expect(await jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: 'm1' })).toMatchObject({ duplicate: true, reply: first.reply });
      await restart();
      expect(await jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: 'm1' })).toMatchObject({ duplicate: true, reply: first.reply });
      clock.advance(1);
      await svc.rt.journal.checkpointNow();
      expect([svc.rt.journal.hasInboxKey('m1'), svc.rt.journal.hasInboxKey('m2')]).toEqual([false, true]);
      clock.advance(59_999); // m2 handled exactly two minutes ago
      await svc.rt.journal.checkpointNow();
      expect(await jobs().deliver('j2', { type: 'job.start', name: 'b' }, { inboxKey: 'm2' })).toMatchObject({ duplicate: true, reply: second.reply });
      clock.advance(1);
      await svc.rt.journal.checkpointNow();
      expect(svc.rt.journal.hasInboxKey('m2')).toBe(false);
    });

    it('under steady traffic: a key is kept at least two minutes and at most a second more, while newer keys keep coming', async () => {
      await withWorker();
      await start();
      const handled: number[] = [];
      for (let i = 0; i <= 140; i++) {
        if (i > 0) clock.advance(900); // a key every 0.9 s: the window's clock never sits a second idle
        await jobs().deliver(`j${i}`, { type: 'job.start', name: 'a' }, { inboxKey: `m${i}` });
        await until(() => state(`j${i}`) === 'done');
        handled.push(clock.now());
      }
      await svc.rt.journal.checkpointNow();
      const now = clock.now();
      for (const [i, at] of handled.entries()) {
        if (now - at <= 120_000) expect([i, svc.rt.journal.hasInboxKey(`m${i}`)]).toEqual([i, true]);
        if (now - at > 121_000) expect([i, svc.rt.journal.hasInboxKey(`m${i}`)]).toEqual([i, false]);
      }
      expect(handled.filter((at) => now - at > 121_000).length).toBe(6); // m0-m5: not vacuous
    });

    /** Two keys whose 30-bit hashes are equal (about 40,000 tries: the birthday bound). */
    const sameHash = (): [string, string] => {
      const seen = new Map<number, string>();
      for (let i = 0; ; i++) {
        const key = `order.cmd.create-order/c-${i}:create-order`;
        const other = seen.get(inboxKeyHash(key));
        if (other !== undefined) return [other, key];
        seen.set(inboxKeyHash(key), key);
      }
    };

    it('two keys of the same hash: each gets its own reply, across a restart too, and neither is taken for the other', async () => {
      const [a, b] = sameHash();
      expect(inboxKeyHash(a)).toBe(inboxKeyHash(b));
      await withWorker();
      await start();
      const first = await jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: a, reply: () => ({ data: '{"n":1}' }) });
      await until(() => state('j1') === 'done');
      expect(svc.rt.journal.hasInboxKey(b)).toBe(false); // its hash is held, by a's record: a disk read says no
      const second = await jobs().deliver('j2', { type: 'job.start', name: 'b' }, { inboxKey: b, reply: () => ({ data: '{"n":2}' }) });
      expect(second.duplicate).toBe(false);
      await until(() => state('j2') === 'done');
      clock.advance(100_000);
      await svc.rt.journal.checkpointNow();
      const repeats = async () => [
        await jobs().deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: a }),
        await jobs().deliver('j2', { type: 'job.start', name: 'b' }, { inboxKey: b }),
      ];
      expect(await repeats()).toMatchObject([{ duplicate: true, reply: first.reply }, { duplicate: true, reply: second.reply }]);
      await restart(); // the window rebuilt from the journal: the same two answers
      expect(await repeats()).toMatchObject([{ duplicate: true, reply: first.reply }, { duplicate: true, reply: second.reply }]);
      clock.advance(21_000);
      await svc.rt.journal.checkpointNow(); // both past the window, the one moved aside by the other too
      expect([svc.rt.journal.hasInboxKey(a), svc.rt.journal.hasInboxKey(b)]).toEqual([false, false]);
      await settle();
      expect([workCalls.length, transitions('j1'), transitions('j2')]).toEqual([2, 2, 2]);
    });
  });
});

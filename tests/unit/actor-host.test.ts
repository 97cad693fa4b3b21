/**
 * The durable actor host, crash by crash. Each "crash" kills the store abruptly at a named point
 * (nothing uncommitted survives); the "restart" opens a fresh runtime on the same files. The
 * in-process transport's event log and the store files play the broker and the disk.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { metaToHeaders } from '../../src/contracts/headers.ts';
import { ManualClock } from '../../src/runtime/clock.ts';
import type { LiveSnapshot } from '../../src/runtime/journal.ts';
import type { PersistedSnapshot } from '../../src/runtime/versioning.ts';
import { SimulatedCrash, type CrashPoint } from '../../src/runtime/store.ts';
import { ErrorCode, RemoteError } from '../../src/runtime/transport/errors.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import type { Delivery, Message } from '../../src/runtime/transport/transport.ts';
import { openJobService, type JobService } from '../support/host-fixture.ts';
import { settle, until } from '../support/waiting.ts';
import { z } from 'zod';

describe('durable actor host', () => {
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

  const start = async () => {
    svc = await openJobService(dir, bus, clock, faults);
    await svc.rt.start();
    return svc;
  };
  const jobs = () => svc.rt.hosts.get('job')!;
  const row = (sql: string, ...args: unknown[]) => svc.store.db.prepare(sql).get(...args) as Record<string, unknown> | undefined;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'host-'));
    bus = new InProcessTransport({ path: join(dir, 'bus.db') });
    clock = new ManualClock();
    crashAt = undefined;
    workCalls = [];
    published = [];
    await bus.respond('worker.cmd.do-work', (m) => {
      workCalls.push(m);
      return { data: JSON.stringify({ result: 'ok' }), headers: metaToHeaders({ id: `r${workCalls.length}`, type: 'work-done', source: 'urn:test:worker', time: new Date().toISOString(), correlationId: 'c' }) };
    }, { queue: 'worker' });
    await bus.ensureStream('TEST', ['test.evt.>']);
    await bus.consume({ stream: 'TEST', durable: 'tap', filterSubjects: ['test.evt.>'], ackWaitMs: 5_000 }, async (d) => void published.push(d));
  });

  afterEach(async () => {
    if (!svc.store.closed) await svc.rt.stop(200);
    await bus.drain();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('when a message is handled', () => {
    it('saves the snapshot, journals the event, and publishes and requests only after commit', async () => {
      await start();
      const r = await jobs().deliver('j1', { type: 'job.start', name: 'build' }, { inboxKey: 'm1' });
      expect(r.changed).toBe(true);
      await until(() => published.length === 1 && String(jobs().peek('j1')?.value) === 'done');
      expect(workCalls).toHaveLength(1);
      expect(workCalls[0]!.headers['ce-idempotencykey']).toBe('j1:work');
      expect(row(`SELECT count(*) n FROM journal WHERE id = ? AND json_extract(record, '$.event') IS NOT NULL`, 'j1')).toEqual({ n: 2 });
      expect(svc.rt.relay.backlog()).toBe(0);
    });

    it('replays the stored reply for a duplicate and changes nothing', async () => {
      await start();
      const first = await jobs().deliver('j1', { type: 'job.start', name: 'build' }, { inboxKey: 'm1', reply: () => ({ data: '{"accepted":1}' }) });
      const again = await jobs().deliver('j1', { type: 'job.start', name: 'other' }, { inboxKey: 'm1', reply: () => ({ data: '{"accepted":2}' }) });
      expect(again.duplicate).toBe(true);
      expect(again.reply?.data).toBe(first.reply?.data);
      expect(row(`SELECT count(*) n FROM journal WHERE id = ? AND json_extract(record, '$.event.type') = 'job.start'`, 'j1')).toEqual({ n: 1 });
    });

    it('refuses an event the machine does not accept in its state, recording nothing', async () => {
      await start();
      const r = await jobs().deliver('j1', { type: 'work.done', result: 'early' }, { inboxKey: 'm1' });
      expect(r.changed).toBe(false);
      expect(r.reply?.headers?.['x-error-code']).toBe('CONFLICT');
      expect(row('SELECT count(*) n FROM journal')).toEqual({ n: 0 });
      expect(svc.rt.journal.hasInboxKey('m1')).toBe(false);
      await svc.rt.journal.checkpointNow();
      expect(row('SELECT count(*) n FROM actors')).toEqual({ n: 0 });
    });

    it('loads a cold actor from SQLite exactly as it was hot', async () => {
      await start();
      await jobs().deliver('j1', { type: 'job.start', name: 'build' });
      const hot = jobs().peek('j1')!;
      jobs().evict();
      const cold = jobs().peek('j1')!;
      expect(cold.value).toEqual(hot.value);
      expect(cold.context).toEqual(hot.context);
    });

    it('makes an actor’s stored snapshot when it is checkpointed, once, from its latest transition', async () => {
      await start();
      const machine = jobs().def.machine;
      const persisted = machine.getPersistedSnapshot.bind(machine);
      // Counts the stored forms the journal asks the host for (the host hands each transition's
      // snapshot over with the function that makes its stored form).
      const made: unknown[] = [];
      const journal = svc.rt.journal;
      const append = journal.append.bind(journal);
      journal.append = (record, prev, snapshot) =>
        append(record, prev, snapshot && isLive(snapshot) ? { live: snapshot.live, persist: (s) => (made.push(s), snapshot.persist(s)) } : snapshot);
      try {
        await jobs().deliver('j1', { type: 'job.start', name: 'build' });
        await until(() => String(jobs().peek('j1')?.value) === 'done'); // a second transition: the work's reply
        expect(made).toHaveLength(0); // not at every transition
        jobs().evict();
        expect(jobs().peek('j1')?.value).toBe('done'); // the journal's live snapshot, unstored yet
        await svc.rt.journal.checkpointNow();
        expect(made).toHaveLength(1);
        const stored = row(`SELECT snapshot, seq FROM actors WHERE kind = 'job' AND id = 'j1'`)!;
        expect(JSON.parse(String(stored.snapshot))).toEqual(JSON.parse(JSON.stringify(persisted(jobs().peek('j1')!))));
        expect(stored.seq).toBe(2);
      } finally {
        journal.append = append;
      }
    });

    it('refuses a stored snapshot whose context does not parse', async () => {
      await start();
      await jobs().deliver('j1', { type: 'job.start', name: 'build' });
      await svc.rt.journal.checkpointNow(); // the row is what a cold load reads once checkpointed
      svc.store.db.prepare(`UPDATE actors SET snapshot = json_set(snapshot, '$.context.name', 42)`).run();
      jobs().evict();
      expect(() => jobs().peek('j1')).toThrow();
    });

    it('handles messages to one actor in order, one at a time', async () => {
      await start();
      const order: number[] = [];
      await Promise.all(
        [1, 2, 3].map((n) =>
          jobs().exclusive('j1', async () => {
            await new Promise((r) => setTimeout(r, 10 - n * 3));
            order.push(n);
          }),
        ),
      );
      expect(order).toEqual([1, 2, 3]);
    });
  });

  describe('when the process crashes', () => {
    it('before the commit: nothing happened, and a redelivery is processed normally', async () => {
      await start();
      crashAt = 'beforeCommit';
      await expect(jobs().deliver('j1', { type: 'job.start', name: 'build' }, { inboxKey: 'm1' })).rejects.toThrow(SimulatedCrash);
      expect(svc.store.closed).toBe(true);
      svc.rt.kill();

      await start();
      expect(jobs().peek('j1')).toBeUndefined();
      expect(workCalls).toHaveLength(0);
      await jobs().deliver('j1', { type: 'job.start', name: 'build' }, { inboxKey: 'm1' });
      // The event reaches the tap after the bus commits it, which may be after the state is done.
      await until(() => published.length >= 1 && String(jobs().peek('j1')?.value) === 'done');
      await settle();
      expect(published).toHaveLength(1);
      expect(workCalls).toHaveLength(1);
    });

    it('after the commit, before publishing: the restarted relay sends it, once', async () => {
      await start();
      crashAt = 'afterCommit';
      await jobs().deliver('j1', { type: 'job.start', name: 'build' }, { inboxKey: 'm1' });
      await until(() => svc.store.closed);
      svc.rt.kill();
      expect(published).toHaveLength(0);
      expect(workCalls).toHaveLength(0);

      await start();
      await until(() => published.length >= 1 && String(jobs().peek('j1')?.value) === 'done');
      await settle();
      expect(published).toHaveLength(1);
      expect(workCalls).toHaveLength(1);
    });

    it('after publishing, before the row is marked sent: the re-send is de-duplicated downstream', async () => {
      await start();
      crashAt = 'afterPublish';
      await jobs().deliver('j1', { type: 'job.start', name: 'build' }, { inboxKey: 'm1' });
      await until(() => svc.store.closed);
      svc.rt.kill();

      await start();
      await until(() => published.length >= 1 && String(jobs().peek('j1')?.value) === 'done');
      await settle();
      expect(published).toHaveLength(1);
      const keys = new Set(workCalls.map((m) => m.headers['ce-id']));
      expect(keys.size).toBe(1); // a re-sent request keeps its message id and idempotency key
    });

    it('a duplicate delivery after the restart replays the stored reply', async () => {
      await start();
      const first = await jobs().deliver('j1', { type: 'job.start', name: 'build' }, { inboxKey: 'm1', reply: () => ({ data: '{"n":1}' }) });
      svc.rt.kill();
      await start();
      const again = await jobs().deliver('j1', { type: 'job.start', name: 'build' }, { inboxKey: 'm1' });
      expect(again).toMatchObject({ duplicate: true, reply: first.reply });
    });
  });

  describe('durable timers', () => {
    it('survive a restart and fire once', async () => {
      await bus.drain();
      bus = new InProcessTransport({ path: join(dir, 'bus2.db') }); // no worker: the job waits for its deadline
      await bus.ensureStream('TEST', ['test.evt.>']);
      await start();
      await jobs().deliver('j1', { type: 'job.start', name: 'build' });
      svc.rt.kill();

      clock.advance(1_500);
      await start();
      expect(await svc.rt.scheduler.runDue()).toBe(1);
      expect(String(jobs().peek('j1')?.value)).toBe('timedOut');
      expect(await svc.rt.scheduler.runDue()).toBe(0);
      // The deadline's record abandoned the request: it is no longer pending, so it is not sent again.
      expect(svc.rt.journal.pendingRequest('job', 'j1', 'work')).toBeUndefined();
      expect(row(`SELECT count(*) n FROM journal WHERE id = 'j1' AND json_extract(record, '$.done[0]') = 'work'`)).toEqual({ n: 1 });
    });

    it('a stale timer is a no-op', async () => {
      await start();
      await jobs().deliver('j1', { type: 'job.start', name: 'build' });
      await until(() => String(jobs().peek('j1')?.value) === 'done');
      clock.advance(1_500);
      expect(await svc.rt.scheduler.runDue()).toBe(1);
      expect(String(jobs().peek('j1')?.value)).toBe('done');
      expect(svc.rt.journal.timers.size).toBe(0);
      // Two transitions; the stale firing only disarmed its timer (a record without an event).
      expect(row(`SELECT count(*) n FROM journal WHERE id = ? AND json_extract(record, '$.event') IS NOT NULL`, 'j1')).toEqual({ n: 2 });
      expect(row(`SELECT count(*) n FROM journal WHERE id = ? AND json_extract(record, '$.event') IS NULL AND json_extract(record, '$.timers[0].name') = 'deadline'`, 'j1')).toEqual({ n: 1 });
    });
  });

  describe('bad input', () => {
    const Start = z.object({ name: z.string().min(1) });
    const headers = (type: string) => metaToHeaders({ id: 'm-1', type, source: 'urn:test', time: new Date().toISOString(), correlationId: 'c-1' });

    beforeEach(async () => {
      await start();
      await svc.rt.command({
        subject: 'jobs.cmd.start',
        type: 'start-job',
        schema: Start,
        host: jobs() as never,
        actorId: () => 'j1',
        toEvent: (p) => ({ type: 'job.start', name: p.name }) as never,
        reply: (t) => (t.changed ? { data: '{}' } : undefined),
      });
    });

    const send = async (data: string, h: Record<string, string>) => {
      try {
        await bus.request('jobs.cmd.start', data, { timeoutMs: 1_000, headers: h });
        return 'ok';
      } catch (err) {
        return err instanceof RemoteError ? `${err.code}: ${err.message}` : String(err);
      }
    };

    it.each([
      ['a body that is not JSON', '{nope', headers('start-job'), /BAD_REQUEST: body is not valid JSON/],
      ['a body that does not parse', '{"name":""}', headers('start-job'), /BAD_REQUEST: name:/],
      ['a missing header', '{"name":"x"}', { ...headers('start-job'), 'ce-id': '' }, /BAD_REQUEST: missing required header ce-id/],
      ['an unknown type', '{"name":"x"}', headers('stop-job'), /BAD_REQUEST: unexpected message type stop-job/],
    ])('%s gets a clear error reply and changes nothing', async (_name, data, h, expected) => {
      expect(await send(data, h)).toMatch(expected);
      expect(row('SELECT count(*) n FROM journal')).toEqual({ n: 0 });
      expect(jobs().peek('j1')).toBeUndefined();
    });

    it('an event the machine rejects gets CONFLICT and changes nothing', async () => {
      expect(await send('{"name":"x"}', headers('start-job'))).toBe('ok');
      await until(() => String(jobs().peek('j1')?.value) === 'done');
      await svc.store.flushed();
      const before = row('SELECT count(*) n, max(pos) pos FROM journal');
      const again = await send('{"name":"y"}', { ...headers('start-job'), 'ce-id': 'm-2' });
      expect(again).toMatch(new RegExp(`${ErrorCode.conflict}: job.start is not accepted`));
      expect(row('SELECT count(*) n, max(pos) pos FROM journal')).toEqual(before);
    });
  });
});

const isLive = (s: PersistedSnapshot | LiveSnapshot): s is LiveSnapshot => typeof (s as LiveSnapshot).persist === 'function';

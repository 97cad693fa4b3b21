/**
 * A property of the journal as the commit (src/runtime/journal.ts): a random workload, run once
 * without crashes and once with crashes at random points (before a commit, after it, after a send,
 * during a checkpoint, before a truncation), ends in the same state. The client retries what was
 * not acknowledged, under the same key, as a real sender does; checkpoints come every few records
 * and the journal is truncated as soon as it may be, so restarts open from every mix of checkpoint
 * and tail.
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { metaToHeaders } from '../../src/contracts/headers.ts';
import { ManualClock } from '../../src/runtime/clock.ts';
import { SimulatedCrash, type CrashPoint } from '../../src/runtime/store.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import { jobDefinitionWith, openJobService, type JobService } from '../support/host-fixture.ts';
import { until } from '../support/waiting.ts';

type Op = { actor: number; type: 'job.start' | 'job.poke' };
const crashPoints: CrashPoint[] = ['beforeCommit', 'afterCommit', 'afterPublish', 'duringCheckpoint', 'beforeTruncate'];
const journalOptions = { checkpointEvery: 3, retentionMs: 0 };
/**
 * Work requests time out after 10 s of real time, not the fixture's 200 ms: the relay retries a
 * request that timed out at a time of the runtime's clock, which stands still here between ops, so
 * on a loaded machine a reply later than 200 ms left its request pending and the wait for quiet
 * failed ("condition not met in time", seen at load 11-17; one reply held 300 ms fails the first
 * run). What the property is about is crashes, not a slow worker.
 */
const definition = jobDefinitionWith(10_000);
/** Crashes that happened, by point, over all runs: the property must not hold vacuously. */
const crashed = new Map<CrashPoint, number>();

interface Outcome {
  actors: Record<string, { value: unknown; context: unknown; transitions: number }>;
  published: Record<string, number>;
  workKeys: string[];
  armedTimers: number;
  pendingRequests: number;
}

async function run(ops: readonly Op[], crashes: ReadonlyArray<CrashPoint | null>): Promise<Outcome> {
  const dir = mkdtempSync(join(tmpdir(), 'journal-prop-'));
  const bus = new InProcessTransport({ path: join(dir, 'bus.db') });
  const clock = new ManualClock();
  const published: Record<string, number> = {};
  const workKeys = new Set<string>();
  let crashAt: CrashPoint | undefined;
  const faults = (p: CrashPoint) => {
    if (p !== crashAt) return;
    crashAt = undefined;
    crashed.set(p, (crashed.get(p) ?? 0) + 1);
    throw new SimulatedCrash(p);
  };
  await bus.respond('worker.cmd.do-work', (m) => {
    workKeys.add(m.headers['ce-idempotencykey'] ?? '?');
    return { data: JSON.stringify({ result: 'ok' }), headers: metaToHeaders({ id: `r-${m.headers['ce-id']}`, type: 'work-done', source: 'urn:test:worker', time: new Date(clock.now()).toISOString(), correlationId: 'c' }) };
  }, { queue: 'worker' });
  await bus.ensureStream('TEST', ['test.evt.>']);
  await bus.consume({ stream: 'TEST', durable: 'tap', filterSubjects: ['test.evt.>'], ackWaitMs: 5_000 }, async (d) => {
    const id = (JSON.parse(d.data) as { id: string }).id;
    published[id] = (published[id] ?? 0) + 1;
  });
  let svc: JobService = await openJobService(dir, bus, clock, faults, journalOptions, definition);
  await svc.rt.start();
  const restartIfDown = async () => {
    if (!svc.store.closed) return;
    svc.rt.kill();
    svc = await openJobService(dir, bus, clock, faults, journalOptions, definition);
    await svc.rt.start();
  };
  // Quiet: every request answered and every publication sent, or the store crashed.
  const quiesce = async () => {
    for (;;) {
      await until(() => svc.store.closed || (svc.rt.relay.backlog() === 0 && !svc.store.inBatch), 5_000);
      if (!svc.store.closed) {
        await svc.rt.relay.idle();
        if (!svc.store.closed) return;
      }
      await restartIfDown();
    }
  };
  try {
    for (const [i, op] of ops.entries()) {
      crashAt = crashes[i] ?? undefined;
      for (;;) {
        try {
          await svc.rt.hosts.get('job')!.exclusive(`j${op.actor}`, () =>
            svc.rt.hosts.get('job')!.deliver(`j${op.actor}`, op.type === 'job.start' ? { type: 'job.start', name: `n${op.actor}` } : { type: 'job.poke' }, { inboxKey: `op${i}` }),
          );
          break;
        } catch (err) {
          if (!(err instanceof SimulatedCrash) && !svc.store.closed) throw err;
          await restartIfDown(); // not acknowledged: the sender tries again, same key
        }
      }
      await quiesce();
      clock.advance(70_000); // two ops later a key is past the inbox window; stale deadlines fire
      await svc.rt.scheduler.runDue().catch(() => 0);
      await quiesce();
    }
    crashAt = undefined;
    await restartIfDown();
    await svc.rt.journal.checkpointNow();
    const actors: Outcome['actors'] = {};
    for (const i of new Set(ops.map((o) => o.actor))) {
      const s = svc.rt.hosts.get('job')!.peek(`j${i}`);
      if (!s) continue;
      const transitions = svc.store.db.prepare(`SELECT seq FROM actors WHERE id = ?`).pluck().get(`j${i}`) as number;
      actors[`j${i}`] = { value: s.value, context: s.context, transitions };
    }
    let armedTimers = 0;
    for (const t of svc.rt.journal.timers.values()) armedTimers += t.size;
    return { actors, published, workKeys: [...workKeys].sort(), armedTimers, pendingRequests: svc.rt.relay.backlog() };
  } finally {
    if (!svc.store.closed) await svc.rt.stop(100);
    await bus.drain();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the journal under random crashes', () => {
  it('ends a random workload with random crash points in the same state as without crashes', async () => {
    const op = fc.record({ actor: fc.integer({ min: 0, max: 3 }), type: fc.constantFrom<Op['type']>('job.start', 'job.start', 'job.poke') });
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 8 }).chain((ops) =>
          fc.tuple(fc.constant(ops), fc.array(fc.option(fc.constantFrom(...crashPoints), { nil: null, freq: 2 }), { minLength: ops.length, maxLength: ops.length })),
        ),
        async ([ops, crashes]) => {
          const calm = await run(ops, ops.map(() => null));
          const stormy = await run(ops, crashes);
          expect(stormy).toEqual(calm);
          expect(calm.armedTimers + calm.pendingRequests).toBe(0);
          for (const n of Object.values(calm.published)) expect(n).toBe(1);
        },
      ),
      { numRuns: 12, seed: 14 },
    );
    // Every kind of crash happened in some run (the seed is fixed, so this is stable).
    expect([...crashed.keys()].sort()).toEqual([...crashPoints].sort());
  }, 120_000);
});

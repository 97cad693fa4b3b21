/**
 * Takeovers of a replicated slot, as random sequences: a property test of the journal's replication
 * (replication.ts) and rebuild (rebuild.ts) together, the way a slot's owners use them
 * (src/system.ts, openRuntime). Three processes, each with a disk of its own, take a job service's
 * slot in turn; between takeovers the owner does work (now and then a reply comes after its
 * request timed out, and the relay sends the request again), checkpoints (sometimes with the
 * image's upload held while more records commit, so that the marker lands behind them), hands the
 * slot over gracefully, crashes, or crashes with a record committed and its append held in flight,
 * which lands or is refused afterwards; a process may come back with its disk lost. After every
 * step (the owner at rest: a job an append in flight brought in has finished):
 *   - the slot's messages hold each position once, in order, without a hole (what a rebuild needs);
 *   - a rebuild from the log alone reaches the owner's head and holds every job as the owner does;
 *   - every job whose delivery was acknowledged is there, done.
 * The liveness failure of 2026-12-07 (a checkpoint marker taken for the log's head, a tail shipped
 * twice: docs/benchmarks.md, "The cluster test's liveness failure, found") fails the first check on
 * most seeds. Real SQLite stores; the log is the in-memory one (tests/support/memory-log.ts), whose
 * appends are exact compare-and-sets, as the stream's are with their message ids
 * (tests/int/nats-cas.test.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Prng } from '../../src/devtools/simulation/prng.ts';
import { ManualClock } from '../../src/runtime/clock.ts';
import { readFromOf, rebuildStore, type RebuildKit } from '../../src/runtime/rebuild.ts';
import { checkpointSubject, decodeRecords, JournalDiverged, JournalHeader, replicateJournal, type JournalReplicator } from '../../src/runtime/replication.ts';
import { runtimeMigrations } from '../../src/runtime/schema.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import type { ReplicatedLog } from '../../src/runtime/transport/transport.ts';
import { jobDefinition, openJobService, type JobService } from '../support/host-fixture.ts';
import { MemoryLog } from '../support/memory-log.ts';
import { sleep, until } from '../support/waiting.ts';

const kit: RebuildKit = { migrations: runtimeMigrations, definitions: [jobDefinition], seed: () => Promise.resolve() };
const subject = 'journal.order.0';
/**
 * Seeds FIRST..FIRST+SEEDS-1: more with TAKEOVER_SEEDS=N, others with TAKEOVER_FIRST=F (60 seeds,
 * five times over, passed on 2026-12-07). TAKEOVER_SEED=n replays seed n alone, as a failure says.
 */
const ONE = process.env.TAKEOVER_SEED === undefined ? undefined : Number(process.env.TAKEOVER_SEED);
const FIRST = ONE ?? Number(process.env.TAKEOVER_FIRST ?? 1);
const SEEDS = ONE === undefined ? Number(process.env.TAKEOVER_SEEDS ?? 24) : 1;
const STEPS = 14;

/** A gate that holds calls while shut. */
class Gate {
  private held: Promise<void> | undefined;
  private open: () => void = () => undefined;
  /** Calls held now. */
  waiting = 0;
  shut(): void {
    this.held ??= new Promise((r) => (this.open = r));
  }
  release(): void {
    this.held = undefined;
    this.open();
  }
  async pass(): Promise<void> {
    if (!this.held) return;
    this.waiting++;
    await this.held;
    this.waiting--;
  }
}

describe('takeovers of a replicated slot, random sequences', () => {
  let root = '';
  let bus: InProcessTransport;
  /** Replies still to come after the request's timeout (the fixture's 200 ms), as on a loaded machine. */
  let lateReplies = 0;
  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'takeover-property-'));
    bus = new InProcessTransport({ path: join(root, 'bus.db') });
    await bus.respond('worker.cmd.do-work', async () => {
      if (lateReplies > 0) {
        lateReplies--;
        await sleep(250);
      }
      return { data: JSON.stringify({ result: 'ok' }) };
    }, { queue: 'worker' });
  });
  afterEach(async () => {
    await bus.drain();
    rmSync(root, { recursive: true, force: true });
  });

  it(`${SEEDS} seeds of ${STEPS} steps: each position once, a rebuild from the log reaches the owner, nothing acknowledged lost`, async () => {
    for (let seed = FIRST; seed < FIRST + SEEDS; seed++) {
      try {
        await run(seed);
      } catch (err) {
        // The counterexample, and how to replay it.
        if (err instanceof Error) err.message = `${counterexample()}\n${err.message}`;
        throw err;
      }
    }
  }, 60_000 + SEEDS * 5_000);

  /** The run that failed: its seed, steps, what happened and the log as it stands (set by `run`). */
  let counterexample = (): string => '';

  async function run(seed: number): Promise<void> {
    const rng = new Prng(seed);
    const clock = new ManualClock();
    const log = new MemoryLog();
    let chunkHold: Gate | undefined;
    /** The log as an owner uses it: its appends held while `appends` is shut, an image's chunk while `chunkHold` is. */
    const viewOf = (appends: Gate): ReplicatedLog => ({
      append: async (...a) => {
        await appends.pass();
        return log.append(...a);
      },
      put: async (s, data, headers, msgId) => {
        const hold = s === checkpointSubject(subject) ? chunkHold : undefined;
        chunkHold = undefined;
        await hold?.pass();
        return log.put(s, data, headers, msgId);
      },
      last: (s) => log.last(s),
      trim: (s, k) => log.trim(s, k),
      read: (...a) => log.read(...a),
    });
    const disks = ['a', 'b', 'c'].map((name) => ({ name, dir: join(root, `${seed}`, name) }));
    let term = 0;
    let owner!: { disk: (typeof disks)[number]; fence: string; svc: JobService; replicator: JournalReplicator; appends: Gate };
    const acknowledged: string[] = [];
    let n = 0;
    const steps: string[] = [];
    /** What happened, for the counterexample: each takeover, each acknowledgement (by whom, at which head). */
    const history: string[] = [];
    const where = () => `seed ${seed}, after ${steps.join(' ')}`;
    counterexample = () =>
      [
        `takeover property: seed ${seed} failed; replay it alone with TAKEOVER_SEED=${seed} npx vitest run tests/unit/takeover-property.test.ts`,
        `steps: ${steps.join(' ')}`,
        'what happened:',
        ...history.map((h) => `  ${h}`),
        'the log as it stands (sequence: message):',
        ...log.entries.map((e) => `  ${e.seq}: ${describeEntry(e)}`),
      ].join('\n');

    /** What a new owner does (system.ts, openRuntime): open its store, check it against the log, rebuild it if behind or apart, fence, serve. */
    const take = async (disk: (typeof disks)[number]): Promise<void> => {
      const fence = `${disk.name}-${++term}`;
      // A takeover comes later than anything its predecessor wrote: without this, two owners that
      // resume the same job write the same record byte for byte (its `at` is the clock's), which
      // the opening's check, comparing the record at the log's head only, cannot tell apart.
      clock.advance(1);
      const appends = new Gate();
      const view = viewOf(appends);
      let svc = await openJobService(disk.dir, bus, clock);
      const found = svc.rt.journal.head;
      const readFrom = found === 0 ? readFromOf(view, subject) : undefined;
      let replicator: JournalReplicator;
      let how = 'opened';
      try {
        replicator = await replicateJournal(svc.rt, view, '0', fence);
      } catch (err) {
        if (!(err instanceof JournalDiverged)) throw err;
        svc.rt.kill();
        const rebuilt = await rebuildStore(join(disk.dir, 'jobs.db'), kit, view, subject, {}, undefined, { last: err.last, readFrom });
        how = `rebuilt (${err.message}: checkpoint ${rebuilt.checkpoint} + ${rebuilt.records} records)`;
        svc = await openJobService(disk.dir, bus, clock);
        replicator = await replicateJournal(svc.rt, view, '0', fence, { last: rebuilt.last });
      }
      await svc.rt.start();
      history.push(`${fence} took ${disk.name}: its store at ${found}, ${how}; head ${svc.rt.journal.head}, its fence at seq ${replicator.sequence}`);
      owner = { disk, fence, svc, replicator, appends };
    };
    /**
     * Waits until `cond` holds. The relay retries a request at a time of the runtime's clock, which
     * stands still here: a request that timed out (its reply later than the fixture's 200 ms of
     * real time, as on a loaded machine) was never sent again, and its job never finished. So while
     * waiting, the clock is moved on to the earliest retry due, if any.
     */
    const settled = (cond: () => boolean): Promise<void> =>
      until(() => {
        if (cond()) return true;
        const retries = [...owner.svc.rt.journal.requests.values()].flatMap((slots) => [...slots.values()].map((r) => r.nextAttemptAt));
        const wait = Math.min(...retries) - clock.now();
        if (wait > 0 && wait < Infinity) {
          clock.advance(wait);
          history.push(`the clock moved ${wait} ms on, to a request's retry`);
        }
        return false;
      });
    const deliver = async (count: number): Promise<void> => {
      const jobs = owner.svc.rt.hosts.get('job')!;
      const ids = Array.from({ length: count }, () => `s${seed}-j${n++}`);
      for (const id of ids) await jobs.deliver(id, { type: 'job.start', name: id }, { inboxKey: `k-${id}` });
      await settled(() => ids.every((id) => String(jobs.peek(id)?.value) === 'done'));
      await owner.svc.store.flushed();
      acknowledged.push(...ids);
      history.push(`${owner.fence} acknowledged ${ids.join(' ')} at head ${owner.svc.rt.journal.head}, its last seq ${owner.replicator.sequence}`);
    };
    const another = (): (typeof disks)[number] => rng.pick(disks.filter((d) => d !== owner.disk));
    const maybeLoseDisk = (disk: (typeof disks)[number]) => {
      if (rng.chance(0.3)) {
        rmSync(disk.dir, { recursive: true, force: true });
        steps.push(`(${disk.name} lost its disk)`);
        history.push(`${disk.name} lost its disk`);
      }
    };

    await take(disks[0]!);
    await deliver(rng.int(1, 3));
    for (let step = 0; step < STEPS; step++) {
      const op = rng.pick(['work', 'work', 'checkpoint', 'marker-behind', 'handover', 'crash', 'crash-in-flight'] as const);
      steps.push(op);
      switch (op) {
        case 'work':
          // Now and then a reply comes after the request timed out: the relay sends it again.
          if (rng.chance(0.15)) {
            lateReplies = 1;
            steps.push('(a late reply)');
          }
          await deliver(rng.int(1, 4));
          break;
        case 'checkpoint':
          await owner.replicator.checkpoint();
          break;
        case 'marker-behind': {
          // The image's upload held while records commit: they are shipped before its marker.
          chunkHold = new Gate();
          chunkHold.shut();
          const hold = chunkHold;
          const checkpoint = owner.replicator.checkpoint();
          await deliver(rng.int(1, 3));
          hold.release();
          await checkpoint;
          break;
        }
        case 'handover': {
          await owner.svc.rt.stop(200);
          const next = rng.chance(0.2) ? owner.disk : another();
          if (next !== owner.disk) maybeLoseDisk(next);
          await take(next);
          break;
        }
        case 'crash': {
          owner.svc.rt.kill();
          const next = rng.chance(0.3) ? owner.disk : another();
          maybeLoseDisk(next);
          await take(next);
          break;
        }
        case 'crash-in-flight': {
          // A record committed here and its append on its way when the process dies: the append
          // lands before the next owner reads the log, or after it fenced (and is refused).
          const appends = owner.appends;
          appends.shut();
          const jobs = owner.svc.rt.hosts.get('job')!;
          const id = `s${seed}-j${n++}`;
          jobs.deliver(id, { type: 'job.start', name: id }, { inboxKey: `k-${id}` }).catch(() => undefined);
          // Committed and its append on its way, held: not merely written into the open batch (the
          // journal's head moves there, before the COMMIT, and a kill then rolls the record back).
          await until(() => appends.waiting > 0);
          owner.svc.rt.kill();
          const landsFirst = rng.chance(0.5);
          steps.push(landsFirst ? '(lands)' : '(late)');
          history.push(`${owner.fence} committed ${id} at ${owner.svc.rt.journal.head}, its append held, and died; the append ${landsFirst ? 'lands before the next owner reads the log' : 'comes after the next owner fenced'}`);
          if (landsFirst) appends.release();
          const next = rng.chance(0.3) ? owner.disk : another();
          if (next !== owner.disk) maybeLoseDisk(next);
          await take(next);
          appends.release();
          await new Promise((r) => setImmediate(r));
          break;
        }
      }
      await check();
    }
    await owner.svc.rt.stop(200);

    async function check(): Promise<void> {
      // The owner at rest first: a job whose start an append in flight brought into the log (or
      // its owner's disk kept) finishes under the new owner, its request sent again, meanwhile.
      const all = Array.from({ length: n }, (_, i) => `s${seed}-j${i}`);
      await settled(() => all.every((id) => ['undefined', 'done'].includes(String(owner.svc.rt.hosts.get('job')!.peek(id)?.value))));
      await owner.svc.store.flushed();
      // Each position once, in order, no hole: the slot's record messages as a rebuild reads them.
      const positions = log.entries
        .filter((e) => e.subject === subject && e.headers[JournalHeader.checkpoint] === undefined && e.headers[JournalHeader.fence] === undefined)
        .flatMap((e) => decodeRecords(e.data).map(([pos]) => pos));
      const repeats = positions.filter((p, i) => i > 0 && p !== positions[i - 1]! + 1);
      expect(repeats, `${where()}: positions ${positions.join(',')}`).toEqual([]);
      // A rebuild from the log alone reaches the owner's head and holds every job as the owner does.
      const scratch = join(root, `${seed}`, `rebuild-${steps.length}`);
      const rebuilt = await rebuildStore(join(scratch, 'jobs.db'), kit, log, subject);
      expect(rebuilt.checkpoint + rebuilt.records, where()).toBe(owner.svc.rt.journal.head);
      expect(rebuilt.repeated, where()).toBe(0);
      const copy = await openJobService(scratch, bus, clock);
      try {
        const state = (svc: JobService) => Array.from({ length: n }, (_, i) => String(svc.rt.hosts.get('job')!.peek(`s${seed}-j${i}`)?.value));
        expect(state(copy), where()).toEqual(state(owner.svc));
      } finally {
        await copy.store.close();
      }
      // Every acknowledged job is there, done.
      const jobs = owner.svc.rt.hosts.get('job')!;
      expect(acknowledged.filter((id) => String(jobs.peek(id)?.value) !== 'done'), where()).toEqual([]);
    }
  }
});

/** A message of the log, for a counterexample: a slot's records (position:job>state), a fence, a marker, a checkpoint's chunk or readFrom. */
function describeEntry(e: MemoryLog['entries'][number]): string {
  const h = e.headers;
  if (e.subject === checkpointSubject(subject)) return h[JournalHeader.readFrom] !== undefined ? `readFrom ${h[JournalHeader.readFrom]}` : 'checkpoint chunk';
  if (h[JournalHeader.fence] !== undefined) return `fence ${h[JournalHeader.fence]} (to ${h[JournalHeader.to]})`;
  if (h[JournalHeader.checkpoint] !== undefined) return `checkpoint marker (covers ${h[JournalHeader.to]}, log at ${h[JournalHeader.logTo]})`;
  const records = decodeRecords(e.data).map(([pos, json]) => {
    const r = JSON.parse(json) as { id: string; to?: unknown };
    return `${pos}:${r.id}${r.to === undefined ? '' : `>${JSON.stringify(r.to)}`}`;
  });
  return `records ${records.join(' ')}`;
}

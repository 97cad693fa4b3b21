/**
 * A process's start, when opening a slot it took fails (src/runtime/leased-slot.ts): a failure that
 * a retry may cure (NATS without responders, a timeout: a stream without a leader while a node is
 * lost) is retried as a running process retries it, and the start goes on, as is a rebuild that
 * read the journal with a record missing (JournalGap: a later read, or another process, may have
 * it), and a fence that lost to the previous owner's last append (LogFenced: the next opening reads
 * it); any other fails the start, as before. The fresh-clone CI saw a participants process exit ('could not start') on
 * "no responders on journal.promotion.slot-1" while a cluster node was being lost. Real leases, on
 * the in-process transport's KV over a SQLite file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LeasedSlot } from '../../src/runtime/leased-slot.ts';
import { registry } from '../../src/runtime/metrics.ts';
import { JournalGap } from '../../src/runtime/rebuild.ts';
import type { ServiceRuntime } from '../../src/runtime/service.ts';
import { SlotLease } from '../../src/runtime/slot-lease.ts';
import { NoRespondersError } from '../../src/runtime/transport/errors.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import { LogFenced, LogIndexBroken, type Kv } from '../../src/runtime/transport/transport.ts';

const dirs: string[] = [];
const buses: InProcessTransport[] = [];
afterEach(async () => {
  for (const b of buses.splice(0)) await b.drain();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as never;
const timing = { ttlMs: 600, renewEveryMs: 100, marginMs: 200, pollEveryMs: 50, answerWithinMs: 300, patienceMs: 1_200 };

async function leases(): Promise<Kv> {
  const dir = mkdtempSync(join(tmpdir(), 'poa-leased-slot-'));
  dirs.push(dir);
  const bus = new InProcessTransport({ path: join(dir, 'bus.db') });
  buses.push(bus);
  return bus.kv('journal-leases');
}

/** A metric's value for exactly these labels in this process's registry (0 if it has none yet). */
async function metricValue(name: string, labels: Record<string, string>): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const found = values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x));
  return found?.value ?? 0;
}

/** A slot whose first `failures` openings throw what `fail` makes, then serve. */
function slot(kv: Kv, failures: number, fail: () => Error) {
  let opened = 0;
  const rt = { kill: () => undefined, stop: async () => undefined } as unknown as ServiceRuntime;
  const s = new LeasedSlot({
    name: 'payment.slot-1',
    lease: () => new SlotLease({ kv, key: 'payment.slot-1', owner: 'p', ...timing }),
    serve: async () => {
      if (opened++ < failures) throw fail();
      return rt;
    },
    log: silent,
    retryAfterMs: 20,
  });
  return { s, rt, openings: () => opened };
}

describe('a slot opened during a process start', () => {
  it('retries an opening that failed for want of responders, and the start goes on to serve', async () => {
    const { s, rt, openings } = slot(await leases(), 2, () => new NoRespondersError('journal.promotion.slot-1'));
    await expect(s.start(5_000)).resolves.toBe(rt);
    expect(openings()).toBe(3);
    s.kill();
  });

  it('retries an opening whose rebuild read the journal with a record missing (JournalGap), and the start goes on to serve', async () => {
    const { s, rt, openings } = slot(await leases(), 2, () => new JournalGap('journal.payment.slot-1', 7, 9));
    await expect(s.start(5_000)).resolves.toBe(rt);
    expect(openings()).toBe(3);
    s.kill();
  });

  it("retries an opening whose fence lost to the previous term's last append (LogFenced), and the start goes on to serve", async () => {
    const { s, rt, openings } = slot(await leases(), 1, () => new LogFenced('journal.payment.slot-1', 41));
    await expect(s.start(5_000)).resolves.toBe(rt);
    expect(openings()).toBe(2);
    s.kill();
  });

  it("retries an opening whose log's server does not agree with itself on the slot's last message (LogIndexBroken), and the start goes on to serve once it does; the metrics say so", async () => {
    const before = await metricValue('journal_slot_open_failures_total', { slot: 'payment.slot-1', reason: 'index' });
    const { s, rt, openings } = slot(await leases(), 3, () => new LogIndexBroken('journal.payment.slot-1', 'finds no last message, yet counts 13 on the subject'));
    await expect(s.start(5_000)).resolves.toBe(rt);
    expect(openings()).toBe(4);
    expect((await metricValue('journal_slot_open_failures_total', { slot: 'payment.slot-1', reason: 'index' })) - before).toBe(3);
    expect(await metricValue('journal_slot_serving', { slot: 'payment.slot-1' })).toBe(1);
    s.kill();
    expect(await metricValue('journal_slot_serving', { slot: 'payment.slot-1' })).toBe(0);
  });

  it('fails the start on any other failure to open, as before', async () => {
    const { s, openings } = slot(await leases(), 1, () => new Error('the store is corrupt'));
    await expect(s.start(5_000)).rejects.toThrow('the store is corrupt');
    expect(openings()).toBe(1);
    s.kill();
  });
});

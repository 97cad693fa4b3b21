/**
 * The saga-owners bucket's TTL, embedded (the in-process transport over a SQLite file, on a clock
 * the test moves): a saga's claim is gone a day after it was made, while an instance's registration
 * in the same bucket lives as long as its instance refreshes it (src/actors/checkout/instances.ts).
 * An expired registration leaves a gap that hides no instance after it; a refresh after another
 * instance took the expired slot registers again instead of overwriting it; and a bus.db whose
 * saga-owners bucket was made without a TTL gets it when the bucket is opened.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  keepRegistered,
  refreshRegistration,
  REFRESH_EVERY_MS,
  registeredInstances,
  registerInstance,
} from '../../src/actors/checkout/instances.ts';
import { Bucket, BucketTtlMs } from '../../src/contracts/subjects.ts';
import type { Clock } from '../../src/runtime/clock.ts';
import { BusStore, KV_AGE_STEP_MS } from '../../src/runtime/transport/in-process/bus-store.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';

const HOUR = 3_600_000;
const TTL = BucketTtlMs[Bucket.sagaOwners]!;

const dirs: string[] = [];
const transports: InProcessTransport[] = [];
afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.drain()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A clock whose time and timers the test moves: `advance` fires each timer due on the way, at its time. */
class TestClock implements Clock {
  t = Date.parse('2026-12-01T00:00:00Z');
  private readonly timers: { at: number; fn: () => void; live: boolean }[] = [];
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): () => void {
    const timer = { at: this.t + ms, fn, live: true };
    this.timers.push(timer);
    return () => void (timer.live = false);
  }
  pending(): number {
    return this.timers.filter((x) => x.live).length;
  }
  /** Fires the timers due within `ms`; after each, waits until what it started has set its next timer (a refresh always does, unless closed). */
  async advance(ms: number): Promise<void> {
    const until = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.live && x.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.t = Math.max(this.t, due.at);
      due.live = false;
      const before = this.pending();
      due.fn();
      await vi.waitFor(() => expect(this.pending()).toBeGreaterThan(before), { interval: 1 });
    }
    this.t = until;
  }
}

function world() {
  const dir = mkdtempSync(join(tmpdir(), 'poa-registrations-'));
  dirs.push(dir);
  const path = join(dir, 'bus.db');
  const clock = new TestClock();
  const open = () => {
    const bus = new InProcessTransport({ path, now: () => clock.now() });
    transports.push(bus);
    return bus;
  };
  return { path, clock, open };
}

/** Past the TTL of anything written `ms` ago or earlier: the TTL, and the step a stored write time may lag (bus-store.ts). */
const PAST_TTL = TTL + KV_AGE_STEP_MS + 1;

describe('the saga-owners bucket, embedded', () => {
  it('forgets a claim a day after it was made (the bucket TTL), and not before', async () => {
    const { clock, open } = world();
    const bus = open();
    const owners = await bus.kv(Bucket.sagaOwners);
    expect(await owners.create('checkout-1', 'a')).toBeUndefined();
    clock.t += TTL - HOUR;
    await bus.prune();
    expect(await owners.get('checkout-1')).toMatchObject({ value: 'a' });
    clock.t += HOUR + KV_AGE_STEP_MS + 1;
    await bus.prune();
    expect(await owners.get('checkout-1')).toBeUndefined();
    // A redelivery now (none can come this late: its event is older than the stream keeps it) could claim it again.
    expect(await owners.create('checkout-1', 'b')).toBeUndefined();
  });

  it("keeps an instance's registration past the TTL while the instance refreshes it, and lets it lapse once it stops", async () => {
    const { clock, open } = world();
    const bus = open();
    const owners = await bus.kv(Bucket.sagaOwners);
    const a = await keepRegistered(owners, 'a', clock, (err) => {
      throw err;
    });
    await owners.create('checkout-1', 'a');
    for (let h = 0; h < 30; h++) {
      await clock.advance(HOUR);
      await bus.prune();
    }
    expect(await owners.get('checkout-1')).toBeUndefined();
    expect(await registeredInstances(owners)).toEqual(['a']);
    expect(a.slot()).toBe(0);

    await a.close();
    expect(clock.pending()).toBe(0);
    clock.t += PAST_TTL;
    await bus.prune();
    expect(await registeredInstances(owners)).toEqual([]);
  });

  it('refreshes at start a registration found from an earlier start, which may be nearly a TTL old', async () => {
    const { clock, open } = world();
    const bus = open();
    const owners = await bus.kv(Bucket.sagaOwners);
    expect(await registerInstance(owners, 'a')).toBe(0);
    clock.t += TTL - HOUR;
    const a = await keepRegistered(owners, 'a', clock, (err) => {
      throw err;
    });
    // Rewritten right after, not awaited by the start (a takeover waits for no more round trips).
    expect(clock.pending()).toBe(1);
    await clock.advance(0);
    clock.t += 2 * HOUR; // before its first hourly refresh
    await bus.prune();
    expect(await registeredInstances(owners)).toEqual(['a']);
    await a.close();
  });

  it("lists the instances after a gap an expired registration left, and a restart keeps its slot past the gap while a new instance fills it", async () => {
    const { clock, open } = world();
    const bus = open();
    const owners = await bus.kv(Bucket.sagaOwners);
    const held = [];
    for (const id of ['a', 'b', 'c']) held.push(await registerInstance(owners, id));
    expect(held).toEqual([0, 1, 2]);
    const [a, , c] = await Promise.all(['a', 'b', 'c'].map(async (id, slot) => ({ slot, revision: (await owners.get(`instance.${slot}`))!.revision, id })));
    clock.t += TTL / 2;
    await refreshRegistration(owners, 'a', a!);
    await refreshRegistration(owners, 'c', c!);
    clock.t += TTL / 2 + KV_AGE_STEP_MS + 1;
    await bus.prune();
    expect(await owners.get('instance.1')).toBeUndefined(); // b, gone for good
    expect(await registeredInstances(owners)).toEqual(['a', 'c']);

    expect(await registerInstance(owners, 'c')).toBe(2); // a restart of c: its own slot, not the gap
    expect(await registerInstance(owners, 'd')).toBe(1);
    expect(await registeredInstances(owners)).toEqual(['a', 'd', 'c']);
  });

  it('a gap shorter than the keys read at once hides nobody; a run of them ends the list', async () => {
    const { open } = world();
    const bus = open();
    const owners = await bus.kv(Bucket.sagaOwners);
    // Slots 0, 8 (after a gap of 7, in the next keys read at once), 17 (after a gap of 8, a full run: not listed).
    await owners.create('instance.0', 'a');
    await owners.create('instance.8', 'b');
    await owners.create('instance.17', 'c');
    expect(await registeredInstances(owners)).toEqual(['a', 'b']);
    expect(await registerInstance(owners, 'b')).toBe(8); // not a second slot in the gap
    expect(await registeredInstances(owners)).toEqual(['a', 'b']);
  });

  it("a refresh after another instance took the expired slot registers again, in a free slot, and leaves the other's key as it is", async () => {
    const { clock, open } = world();
    const bus = open();
    const owners = await bus.kv(Bucket.sagaOwners);
    const a = await keepRegistered(owners, 'a', clock, (err) => {
      throw err;
    });
    // a's process is stopped (or cut off) for longer than the TTL, its timer with it.
    clock.t += PAST_TTL;
    await bus.prune();
    expect(await registerInstance(owners, 'b')).toBe(0);
    const taken = await owners.get('instance.0');

    await clock.advance(REFRESH_EVERY_MS);
    expect(await owners.get('instance.0')).toEqual(taken);
    expect(a.slot()).toBe(1);
    expect(await registeredInstances(owners)).toEqual(['b', 'a']);
    await a.close();
  });

  it('a bus.db whose saga-owners bucket was made without a TTL gets it when the bucket is opened: its keys expire a TTL later', async () => {
    const { path, clock, open } = world();
    const old = new BusStore(path, { now: () => clock.now() });
    old.ensureBucket(Bucket.sagaOwners); // as before this change: no TTL
    await old.kvPut(Bucket.sagaOwners, 'checkout-old', 'a');
    await old.kvPut(Bucket.sagaOwners, 'instance.0', 'a');
    await old.close();

    clock.t += 3 * TTL; // the claim is three days old, but its age is not known: it counts from now
    const bus = open();
    const owners = await bus.kv(Bucket.sagaOwners);
    await bus.prune();
    expect(await owners.get('checkout-old')).toMatchObject({ value: 'a' });
    clock.t += PAST_TTL;
    await bus.prune();
    expect(await owners.get('checkout-old')).toBeUndefined();
    expect(await owners.get('instance.0')).toBeUndefined();
  });
});

/**
 * Timers beyond the horizon (journal.ts, TIMER_HORIZON_MS, TIMER_IDLE_MS): an actor whose every
 * timer is due later than the horizon, left unchanged for the idle time, is parked: its timers
 * leave memory (the journal's map, and so the scheduler's heap) and come back when the horizon
 * reaches them, or when the actor changes again. Real SQLite files, a manual clock, a horizon of
 * ten seconds and an idle time of five.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { z } from 'zod';
import type { ActorDefinition } from '../../src/runtime/actor-host.ts';
import { ManualClock } from '../../src/runtime/clock.ts';
import { actorTrace } from '../../src/runtime/journal-queries.ts';
import { Journal } from '../../src/runtime/journal.ts';
import { runtimeMigrations } from '../../src/runtime/schema.ts';
import { ServiceRuntime } from '../../src/runtime/service.ts';
import { Store } from '../../src/runtime/store.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';

const HORIZON = 10_000;
const IDLE = 5_000;

const reminder = setup({
  types: {
    context: {} as { rung: string[]; pokes: number },
    events: {} as { type: 'arm'; name: string; ms: number } | { type: 'disarm'; name: string } | { type: 'ring'; name: string } | { type: 'poke' } | { type: 'ask' },
  },
  actions: {
    setIt: (_, _p: { name: string; ms: number }) => {},
    cancelIt: (_, _p: { name: string }) => {},
    askIt: (_, _p: Record<string, never>) => {},
  },
}).createMachine({
  id: 'reminder',
  context: { rung: [], pokes: 0 },
  on: {
    // Each also counts (a transition that changes nothing in the snapshot is refused and records nothing).
    arm: { actions: [{ type: 'setIt', params: ({ event }) => ({ name: event.name, ms: event.ms }) }, assign({ pokes: ({ context }) => context.pokes + 1 })] },
    disarm: { actions: [{ type: 'cancelIt', params: ({ event }) => ({ name: event.name }) }, assign({ pokes: ({ context }) => context.pokes + 1 })] },
    ring: { actions: assign({ rung: ({ context, event }) => [...context.rung, event.name] }) },
    ask: { actions: [{ type: 'askIt', params: {} }, assign({ pokes: ({ context }) => context.pokes + 1 })] },
    poke: { actions: assign({ pokes: ({ context }) => context.pokes + 1 }) },
  },
});

const reminderDefinition: ActorDefinition<typeof reminder> = {
  kind: 'reminder',
  machine: reminder,
  version: '1',
  context: z.object({ rung: z.array(z.string()), pokes: z.number() }),
  executors: {
    setIt: (p: { name: string; ms: number }, fx) => fx.setTimer(p.name, p.ms, { type: 'ring', name: p.name }),
    cancelIt: (p: { name: string }, fx) => fx.cancelTimer(p.name),
    // Nobody answers: the request stays pending.
    askIt: (_p: Record<string, never>, fx) => fx.request({ slot: 'q', subject: 'nobody.cmd.answer', type: 'answer', payload: {}, idempotencyKey: `${fx.actorId}:q`, timeoutMs: 60_000 }),
  },
};

describe('timers beyond the horizon', () => {
  let dir: string;
  let bus: InProcessTransport;
  let clock: ManualClock;
  let rt: ServiceRuntime;
  let store: Store;

  const open = async () => {
    store = new Store({ path: join(dir, 'r.db'), migrations: runtimeMigrations, synchronous: 'NORMAL' });
    // checkpointMs and checkpointEvery out of reach: the tests say when a checkpoint is written.
    Journal.of(store, { clock, timerHorizonMs: HORIZON, timerIdleMs: IDLE, checkpointMs: 3_600_000, checkpointEvery: 1_000_000 });
    rt = new ServiceRuntime({ service: 'order', source: 'urn:test:reminders', store, transport: bus, clock });
    rt.host(reminderDefinition);
    await rt.start();
  };
  /** A crash: nothing more is written (no checkpoint at close), then the same files are opened again. */
  const crash = async () => {
    rt.kill();
    await open();
  };
  const host = () => rt.hosts.get('reminder')!;
  const send = (id: string, event: Parameters<ReturnType<typeof host>['deliver']>[1]) => host().deliver(id, event as never);
  const rung = (id: string) => (host().peek(id)?.context as { rung: string[] } | undefined)?.rung;
  const held = (id: string, name = 'r') => rt.journal.armedTimer('reminder', id, name);
  const timerDue = (id: string) => store.db.prepare(`SELECT timer_due FROM actors WHERE kind = 'reminder' AND id = ?`).pluck().get(id) as number | null | undefined;
  /** The idle time passes, then a batch (every batch parks the actors left unchanged for it). */
  const idleOut = async () => {
    clock.advance(IDLE);
    await rt.journal.checkpointNow();
  };

  /** Actors `a` and `b` arm a timer a minute away, and are parked. */
  const parkTwo = async () => {
    await send('a', { type: 'arm', name: 'r', ms: 60_000 });
    await send('b', { type: 'arm', name: 'r', ms: 60_000 });
    await rt.journal.checkpointNow();
    await idleOut();
    expect([timerDue('a'), timerDue('b')]).not.toContain(null);
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'horizon-'));
    bus = new InProcessTransport({ path: join(dir, 'bus.db') });
    clock = new ManualClock();
    await open();
  });

  afterEach(async () => {
    if (!store.closed) await rt.stop(200);
    await bus.drain();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a far timer stays held until its actor is left unchanged for the idle time, then leaves memory, is listed from the row, enters memory when the horizon reaches it, and fires once', async () => {
    const due = clock.now() + 60_000;
    await send('a', { type: 'arm', name: 'r', ms: 60_000 });
    expect(held('a')?.dueAt).toBe(due); // armed by a record not yet checkpointed: held
    await rt.journal.checkpointNow();
    expect(held('a')?.dueAt).toBe(due); // its row holds it, but it changed less than the idle time ago
    expect(timerDue('a')).toBeNull();
    clock.advance(IDLE - 1);
    await rt.journal.checkpointNow();
    expect(held('a')).toBeDefined(); // a millisecond short of the idle time
    clock.advance(1);
    await rt.journal.checkpointNow();
    expect(held('a')).toBeUndefined();
    expect(timerDue('a')).toBe(due);
    expect(rt.journal.parking.parked).toBe(1);
    expect(rt.journal.armedTimersOf('reminder', 'a').map((t) => [t.name, t.dueAt])).toEqual([['r', due]]);
    // The explorer's trace of the live process lists it too.
    expect(actorTrace(store.db, 'reminder', 'a', { journal: rt.journal })?.timers.map((t) => [t.name, t.dueAt])).toEqual([['r', due]]);
    clock.advance(60_000 - IDLE - HORIZON - 1);
    expect(await rt.scheduler.runDue()).toBe(0);
    expect(held('a')).toBeUndefined(); // a millisecond short of the horizon
    clock.advance(1);
    expect(await rt.scheduler.runDue()).toBe(0);
    expect(held('a')?.dueAt).toBe(due);
    clock.advance(HORIZON);
    expect(await rt.scheduler.runDue()).toBe(1);
    expect(await rt.scheduler.runDue()).toBe(0);
    expect(rung('a')).toEqual(['r']);
  });

  it('an actor changed again within the idle time is never parked, and no checkpoint reads its row back', async () => {
    await send('a', { type: 'arm', name: 'r', ms: 60_000 });
    await send('b', { type: 'arm', name: 'r', ms: 60_000 });
    await rt.journal.checkpointNow();
    for (let i = 0; i < 4; i++) {
      clock.advance(IDLE - 1_000);
      await send('a', { type: 'arm', name: 'r', ms: 60_000 }); // re-armed, as a cart's abandon timer is by each change
      await send('b', { type: 'poke' }); // a change that leaves its timer as it is
      await rt.journal.checkpointNow();
    }
    expect([held('a'), held('b')].map((t) => t !== undefined)).toEqual([true, true]);
    expect([timerDue('a'), timerDue('b')]).toEqual([null, null]);
    expect(rt.journal.parking).toEqual({ parked: 0, rowReads: 0 });
    await idleOut();
    expect([held('a'), held('b')]).toEqual([undefined, undefined]);
    expect(rt.journal.parking.parked).toBe(2);
  });

  it('cancelled while parked, before and after the checkpoint that records it: never loaded, never fires', async () => {
    await parkTwo();
    await send('a', { type: 'disarm', name: 'r' });
    await send('b', { type: 'disarm', name: 'r' });
    await rt.journal.checkpointNow();
    expect(timerDue('b')).toBeNull();
    expect(rt.journal.armedTimersOf('reminder', 'b')).toEqual([]);
    // a's row still holds the timer its disarm (in the tail) cancelled: the horizon must not take it.
    expect(rt.journal.armedTimersOf('reminder', 'a')).toEqual([]);
    clock.advance(50_000);
    expect(await rt.scheduler.runDue()).toBe(0);
    expect(held('a')).toBeUndefined();
    clock.advance(10_000);
    expect(await rt.scheduler.runDue()).toBe(0);
    expect([rung('a'), rung('b')]).toEqual([[], []]);
  });

  it('re-armed while parked: the new arming fires once, at its own time, and the parked one never', async () => {
    const first = clock.now() + 60_000;
    await send('a', { type: 'arm', name: 'r', ms: 60_000 });
    await rt.journal.checkpointNow();
    await idleOut();
    expect(timerDue('a')).toBe(first);
    await send('a', { type: 'arm', name: 'r', ms: 120_000 });
    const second = clock.now() + 120_000;
    await rt.journal.checkpointNow();
    expect(timerDue('a')).toBeNull(); // a change of its timers: written whole, not parked
    expect(held('a')?.dueAt).toBe(second);
    await idleOut();
    expect(timerDue('a')).toBe(second);
    clock.advance(first - clock.now());
    expect(await rt.scheduler.runDue()).toBe(0);
    clock.advance(second - clock.now());
    expect(await rt.scheduler.runDue()).toBe(1);
    expect(rung('a')).toEqual(['r']);
  });

  it('an actor left unchanged but whose latest change is not in its row yet is not parked until it is: the timer of that change fires', async () => {
    await send('a', { type: 'arm', name: 'r', ms: 60_000 });
    await rt.journal.checkpointNow();
    await send('a', { type: 'arm', name: 'r', ms: 120_000 }); // its row still says the first arming
    const due = clock.now() + 120_000;
    clock.advance(IDLE);
    await send('b', { type: 'poke' }); // a batch that parks the idle actors, without a checkpoint
    expect(held('a')?.dueAt).toBe(due);
    expect(timerDue('a')).toBeNull();
    await idleOut();
    expect(timerDue('a')).toBe(due);
    clock.advance(due - clock.now());
    expect(await rt.scheduler.runDue()).toBe(1);
    expect(rung('a')).toEqual(['r']);
  });

  it('an actor queued while its timer was beyond the horizon, which the horizon has reached by the time it is idle, is not parked: it fires', async () => {
    await send('a', { type: 'arm', name: 'r', ms: HORIZON + IDLE / 2 });
    const due = clock.now() + HORIZON + IDLE / 2;
    await rt.journal.checkpointNow();
    expect(rt.journal.timersHeld().idle).toBe(1);
    clock.advance(IDLE);
    expect(await rt.scheduler.runDue()).toBe(0); // the horizon moves past its due time
    await rt.journal.checkpointNow();
    expect(timerDue('a')).toBeNull();
    expect(held('a')?.dueAt).toBe(due);
    clock.advance(due - clock.now());
    expect(await rt.scheduler.runDue()).toBe(1);
  });

  it('cancelled while parked, then a crash before the checkpoint: the open applies the cancel over the row, and it never fires', async () => {
    await send('a', { type: 'arm', name: 'r', ms: 60_000 });
    await rt.journal.checkpointNow();
    await idleOut();
    expect(timerDue('a')).not.toBeNull();
    await send('a', { type: 'disarm', name: 'r' });
    await crash();
    expect(timerDue('a')).toBeNull(); // the open's checkpoint wrote the row without it
    clock.advance(60_000);
    expect(await rt.scheduler.runDue()).toBe(0);
    expect(rung('a')).toEqual([]);
  });

  it('a parked actor changed by records that do not touch that timer keeps it: another timer armed, a plain transition', async () => {
    await send('a', { type: 'arm', name: 'r', ms: 60_000 });
    await rt.journal.checkpointNow();
    await idleOut();
    expect(held('a')).toBeUndefined();
    await send('a', { type: 'poke' });
    await rt.journal.checkpointNow();
    expect(rt.journal.armedTimersOf('reminder', 'a').map((t) => t.name)).toEqual(['r']);
    await send('a', { type: 'arm', name: 's', ms: 1_000 }); // near: the actor is no longer parked, all its timers are held
    await rt.journal.checkpointNow();
    expect(timerDue('a')).toBeNull();
    expect(rt.journal.timersHeld()).toEqual({ timers: 2, actors: 1, idle: 0 }); // a near timer: not queued for parking
    expect(held('a', 'r')).toBeDefined();
    await idleOut(); // its timer `s` is within the horizon: it stays
    expect(held('a', 'r')).toBeDefined();
    clock.advance(60_000);
    expect(await rt.scheduler.runDue()).toBe(2);
    expect(rung('a')?.sort()).toEqual(['r', 's']);
  });

  it('an actor with a pending request is never parked: its far timer stays held (the relay reads a request slot\'s deadline from it)', async () => {
    await send('a', { type: 'ask' });
    await send('a', { type: 'arm', name: 'q', ms: 60_000 });
    await rt.journal.checkpointNow();
    await idleOut();
    await idleOut();
    expect(rt.journal.pendingRequest('reminder', 'a', 'q')).toBeDefined();
    expect(held('a', 'q')).toBeDefined();
    expect(timerDue('a')).toBeNull();
  });

  it('crashes before it is parked, after, and after the horizon took it back: the timer fires once', async () => {
    const due = clock.now() + 60_000;
    await send('a', { type: 'arm', name: 'r', ms: 60_000 });
    expect(timerDue('a')).toBeUndefined(); // no row yet: only the journal's tail holds it
    await crash(); // the open applies the record and writes the row; not parked yet
    expect(held('a')).toBeDefined();
    expect(timerDue('a')).toBeNull();
    await crash(); // its row holds it, unparked: the open holds it and queues it for parking
    await idleOut();
    expect(held('a')).toBeUndefined();
    expect(timerDue('a')).toBe(due);
    await crash(); // parked in its row: the open leaves it there
    expect(held('a')).toBeUndefined();
    expect(timerDue('a')).toBe(due);
    clock.advance(due - HORIZON - clock.now());
    expect(await rt.scheduler.runDue()).toBe(0);
    expect(held('a')).toBeDefined();
    await crash(); // taken into memory but its row unchanged: the open takes it again, by its timer_due
    expect(held('a')).toBeDefined();
    clock.advance(HORIZON);
    expect(await rt.scheduler.runDue()).toBe(1);
    await rt.journal.checkpointNow();
    expect(timerDue('a')).toBeNull();
    await crash();
    clock.advance(60_000);
    expect(await rt.scheduler.runDue()).toBe(0);
    expect(rung('a')).toEqual(['r']);
  });

  it('a parked row that code before this wrote since (an earlier timer, a request, its timer_due left as it was) is held at open', async () => {
    await parkTwo();
    rt.kill();
    // What the code before this would write: `pending` only.
    const near = clock.now() + 30_000;
    const db = new Store({ path: join(dir, 'r.db'), migrations: runtimeMigrations, synchronous: 'NORMAL' });
    db.db.prepare(`UPDATE actors SET pending = ? WHERE kind = 'reminder' AND id = 'a'`).run(JSON.stringify({ timers: { r: { dueAt: near, event: { type: 'ring', name: 'r' }, seq: 9 } } }));
    const effect = { messageId: 'q', mode: 'request', subject: 'nobody.cmd.answer', headers: {}, data: '{}', slot: 'q' };
    db.db.prepare(`UPDATE actors SET pending = json_set(pending, '$.requests', json(?)) WHERE kind = 'reminder' AND id = 'b'`).run(JSON.stringify({ q: { at: clock.now(), effect } }));
    await db.close();
    await open();
    expect(held('a')?.dueAt).toBe(near);
    expect(held('b')).toBeDefined();
    expect(rt.journal.pendingRequest('reminder', 'b', 'q')).toBeDefined();
  });

  it('what is held stays bounded under a stream of far arms: the actors changed within the idle time', async () => {
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 50 }, (_, i) => send(`c${round}-${i}`, { type: 'arm', name: 'r', ms: 3_600_000 })));
      await rt.journal.checkpointNow();
      clock.advance(1_000);
      await rt.scheduler.runDue();
    }
    await rt.journal.checkpointNow();
    // Rounds 0-15 were changed 5 s or more ago (idle), rounds 16-19 within the idle time (held).
    expect(rt.journal.timers.size).toBe(4 * 50);
    expect(rt.journal.parking).toEqual({ parked: 16 * 50, rowReads: 0 });
    expect(rt.scheduler.scheduled).toBeLessThanOrEqual(2 * 6 * 50 + 50);
    expect(store.db.prepare('SELECT count(*) FROM actors WHERE timer_due IS NOT NULL').pluck().get()).toBe(800);
    await idleOut();
    expect(rt.journal.timers.size).toBe(0);
    clock.advance(3_600_000);
    expect(await rt.scheduler.runDue()).toBe(512); // at most 512 per wake
    expect(await rt.scheduler.runDue()).toBe(488);
  });
});

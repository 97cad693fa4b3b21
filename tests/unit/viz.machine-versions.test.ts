/**
 * Machine versions: every stored snapshot carries the version of the machine that wrote it, and a
 * host refuses to start while an in-flight actor sits in a state its machine no longer has, naming
 * the actors, unless a migration from that version is registered. Real SQLite stores throughout.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMachine, type AnyStateMachine } from 'xstate';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkoutDefinition } from '../../src/actors/checkout/definition.ts';
import { checkoutMigrations } from '../../src/actors/checkout/schema.ts';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import { checkoutMachine } from '../../src/machines/checkout.ts';
import { ActorHost, type ActorDefinition } from '../../src/runtime/actor-host.ts';
import { ManualClock } from '../../src/runtime/clock.ts';
import { Journal } from '../../src/runtime/journal.ts';
import { runtimeMigrations } from '../../src/runtime/schema.ts';
import { Store } from '../../src/runtime/store.ts';
import { serviceSources } from '../../src/registry.ts';
import { MachineVersionError, type PersistedSnapshot } from '../../src/runtime/versioning.ts';
import { jobDefinition, jobMachine, jobSource } from '../support/host-fixture.ts';
import { startTestSystem } from '../support/system-fixture.ts';

/** The machine with its top-level state `from` called `to`: every target to it follows. */
function renamed(machine: AnyStateMachine, from: string, to: string): AnyStateMachine {
  const retarget = (node: unknown, underTarget = false): unknown => {
    if (typeof node === 'string') return underTarget && (node === from || node.endsWith(`.${from}`)) ? `${node.slice(0, -from.length)}${to}` : node;
    if (Array.isArray(node)) return node.map((n) => retarget(n, underTarget));
    if (node === null || typeof node !== 'object') return node;
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, retarget(v, k === 'target')]));
  };
  const config = machine.config as { states: Record<string, unknown> };
  const states = Object.fromEntries(Object.entries(config.states).map(([k, v]) => [k === from ? to : k, retarget(v)]));
  return createMachine({ ...config, states } as Parameters<typeof createMachine>[0], machine.implementations as Parameters<typeof createMachine>[1]);
}

const rename = (from: string, to: string) => (p: PersistedSnapshot): PersistedSnapshot => ({ ...p, value: p.value === from ? to : p.value });

describe('machine versions', () => {
  let dir: string;
  let store: Store;
  const clock = new ManualClock(1_700_000_000_000);
  const host = <M extends AnyStateMachine>(def: ActorDefinition<M>) => new ActorHost(def, { store, source: jobSource, clock, onEffects: () => undefined });
  const v2 = { ...jobDefinition, version: '2', machine: renamed(jobMachine, 'running', 'working') } as ActorDefinition;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'poa-versions-'));
    store = new Store({ path: join(dir, 'jobs.db'), migrations: runtimeMigrations, synchronous: 'NORMAL' });
    const v1 = host(jobDefinition);
    await v1.deliver('in-flight-1', { type: 'job.start', name: 'a' });
    await v1.deliver('in-flight-2', { type: 'job.start', name: 'b' });
    await v1.deliver('finished', { type: 'job.start', name: 'c' });
    await v1.deliver('finished', { type: 'work.done', result: 'ok' });
    await Journal.of(store).checkpointNow(); // the snapshots' rows, as a checkpoint writes them
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const versions = () => {
    Journal.of(store).checkpointSync(); // the rows are the checkpoint: bring it up to date
    return store.db.prepare('SELECT id, machine_version, state FROM actors ORDER BY id').all();
  };

  it('stores each snapshot with the version of the machine that wrote it', () => {
    expect(versions()).toEqual([
      { id: 'finished', machine_version: '1', state: '"done"' },
      { id: 'in-flight-1', machine_version: '1', state: '"running"' },
      { id: 'in-flight-2', machine_version: '1', state: '"running"' },
    ]);
  });

  describe('when the new machine no longer has an in-flight actor\'s state', () => {
    it('refuses to start, naming the actors, the version and the state', () => {
      let error: unknown;
      try {
        host(v2);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(MachineVersionError);
      const e = error as MachineVersionError;
      expect(e.affected).toEqual([{ version: '1', state: '"running"', count: 2, ids: ['in-flight-1', 'in-flight-2'], reason: 'no such state, and no migration' }]);
      expect(e.message).toContain('2 in-flight actor(s) stored by version 1 in state "running"');
      expect(e.message).toContain('Register a migration from that version in the job definition');
    });

    it('starts when a migration from that version is registered, and runs the migrated actors on', async () => {
      const migrated = host({ ...v2, migrations: { '1': rename('running', 'working') } });
      expect(migrated.peek('in-flight-1')?.value).toBe('working');
      await migrated.deliver('in-flight-1', { type: 'work.done', result: 'ok' });
      expect(versions()).toContainEqual({ id: 'in-flight-1', machine_version: '2', state: '"done"' });
      expect(versions()).toContainEqual({ id: 'in-flight-2', machine_version: '1', state: '"running"' }); // untouched until used
    });

    it('refuses a migration that leaves a state the machine lacks', () => {
      expect(() => host({ ...v2, migrations: { '1': (p) => p } })).toThrow(/its migration fails: .*"running"/);
    });
  });

  describe('when the new version keeps the stored states', () => {
    it('starts without a migration, and loads the older snapshots as they are', async () => {
      const compatible = host({ ...jobDefinition, version: '2' });
      expect(compatible.peek('in-flight-2')?.value).toBe('running');
      await compatible.deliver('in-flight-2', { type: 'timer.expired' });
      expect(versions()).toContainEqual({ id: 'in-flight-2', machine_version: '2', state: '"timedOut"' });
    });
  });

  describe('when a machine loses a state without a version bump', () => {
    it('refuses to start, and says to bump the version', () => {
      expect(() => host({ ...jobDefinition, machine: renamed(jobMachine, 'running', 'working') } as ActorDefinition)).toThrow(/no such state in this very version: bump the version/);
    });
  });

  describe('when the checkout saga changes under a checkout in flight', () => {
    it('names the checkout that cannot be resumed, and resumes it once a migration is registered', async () => {
      const SLOWPOKE = randomUUID();
      const t = await startTestSystem('embedded', (c) => {
        // The processor stalls past the moment the "deploy" happens; the saga's deadline is later still.
        c.payment = { ...c.payment, stallCustomers: [SLOWPOKE], stallMs: 2_000 };
        c.checkout.deadlines = { ...c.checkout.deadlines, authorizePaymentMs: 30_000 };
      });
      let checkoutId = '';
      try {
        checkoutId = (await t.shopper.buy(SLOWPOKE, [[productIdFor('ACME-BIRDSEED'), 1]])).checkoutId;
        await t.shopper.settle(checkoutId, ['PENDING']);
        const deadline = Date.now() + 5_000;
        const stateOf = (): unknown => t.system.runtimes.get('checkout')!.hosts.get('checkout')!.peek(checkoutId)?.value as unknown;
        while (stateOf() !== 'authorizingPayment' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        expect(stateOf()).toBe('authorizingPayment');
        await t.system.runtimes.get('checkout')!.store.flushed(); // the hot state may not have committed yet
      } finally {
        await t.system.kill(); // as a deploy would find it: the saga still in flight
      }
      const sagas = new Store({ path: join(t.dataDir, 'checkout.db'), migrations: checkoutMigrations });
      try {
        const next = { ...checkoutDefinition({ requestTimeoutMs: 1_000 }), version: '2', machine: renamed(checkoutMachine, 'authorizingPayment', 'chargingCard') } as ActorDefinition;
        const ctx = { store: sagas, source: serviceSources.checkout, clock, onEffects: () => undefined };
        expect(() => new ActorHost(next, ctx)).toThrow(new RegExp(`stored by version 1 in state "authorizingPayment" \\(no such state, and no migration\\): ${checkoutId}`));
        const migrated = new ActorHost({ ...next, migrations: { '1': rename('authorizingPayment', 'chargingCard') } }, ctx);
        expect(migrated.peek(checkoutId)?.value).toBe('chargingCard');
      } finally {
        await sagas.close();
        rmSync(t.dataDir, { recursive: true, force: true });
      }
    }, 20_000);
  });
});

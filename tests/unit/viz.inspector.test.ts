/**
 * The inspector bridge: the host reports each committed transition (actor once, then event and
 * snapshot) through the manual API of @statelyai/inspect's inspector. The seam is the inspector
 * object: a recording one here, and the package's own `createInspector` with a recording adapter,
 * which is what INSPECT=1 wires to its WebSocket relay.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import type { EventObject } from 'xstate';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import { inspectRequested } from '../../src/devtools/explorer/stately-inspector.ts';
import { ActorHost } from '../../src/runtime/actor-host.ts';
import { ManualClock } from '../../src/runtime/clock.ts';
import type { HostInspector, InspectedActor, InspectedSnapshot } from '../../src/runtime/inspection.ts';
import { runtimeMigrations } from '../../src/runtime/schema.ts';
import { Store } from '../../src/runtime/store.ts';
import { startSystem } from '../../src/system.ts';
import { Shopper } from '../support/shop.ts';
import { testConfig } from '../support/system-fixture.ts';
import { jobDefinition, jobMachine, jobSource } from '../support/host-fixture.ts';

type Call =
  | { m: 'actor'; actor: InspectedActor; snapshot: InspectedSnapshot | undefined }
  | { m: 'event'; target: string; event: EventObject; source: string | undefined }
  | { m: 'snapshot'; actor: string; snapshot: InspectedSnapshot; event: EventObject | undefined };

class RecordingInspector implements HostInspector {
  readonly calls: Call[] = [];
  actor(actor: InspectedActor, snapshot?: InspectedSnapshot): void {
    this.calls.push({ m: 'actor', actor, snapshot });
  }
  event(target: string, event: EventObject, info?: { source?: string }): void {
    this.calls.push({ m: 'event', target, event, source: info?.source });
  }
  snapshot(actor: string, snapshot: InspectedSnapshot, info?: { event?: EventObject }): void {
    this.calls.push({ m: 'snapshot', actor, snapshot, event: info?.event });
  }
}

describe('inspector bridge', () => {
  let dir: string;
  let store: Store;
  let inspector: RecordingInspector;
  let host: ActorHost<typeof jobMachine>;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'poa-inspect-'));
    store = new Store({ path: join(dir, 'jobs.db'), migrations: runtimeMigrations, synchronous: 'NORMAL' });
    inspector = new RecordingInspector();
    host = new ActorHost(jobDefinition, { store, source: jobSource, clock: new ManualClock(0), onEffects: () => undefined, inspect: inspector });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('when an actor takes events', () => {
    it('announces the actor with its machine once, then reports each event and the snapshot after it', async () => {
      await host.deliver('j1', { type: 'job.start', name: 'x' });
      await host.deliver('j1', { type: 'work.done', result: 'ok' });
      expect(inspector.calls.map((c) => c.m)).toEqual(['actor', 'event', 'snapshot', 'event', 'snapshot']);
      const [announce, event, snapshot] = inspector.calls;
      expect(announce).toMatchObject({ m: 'actor', actor: { sessionId: 'job/j1', logic: jobMachine }, snapshot: { value: 'running', status: 'active' } });
      expect(event).toEqual({ m: 'event', target: 'job/j1', event: { type: 'job.start', name: 'x' }, source: undefined });
      expect(snapshot).toMatchObject({ m: 'snapshot', actor: 'job/j1', snapshot: { value: 'running', context: { name: 'x' } }, event: { type: 'job.start' } });
      expect(inspector.calls[4]).toMatchObject({ snapshot: { value: 'done', status: 'done', context: { outcome: 'ok' } } });
    });

    it('reports only after the commit, and nothing for an event the machine refuses', async () => {
      const pending = host.deliver('j2', { type: 'job.start', name: 'y' });
      expect(inspector.calls).toEqual([]); // the transaction has not committed yet
      await pending;
      expect(inspector.calls).toHaveLength(3);
      await host.deliver('j2', { type: 'job.start', name: 'again' }).catch(() => undefined);
      expect(inspector.calls).toHaveLength(3);
    });

    it('names the message source of an event, for the sequence view', async () => {
      await host.deliver('j3', { type: 'job.start', name: 'z' }, {
        cause: { id: randomUUID(), type: 'start-job', source: 'urn:test:caller', time: new Date(0).toISOString(), correlationId: 'c' },
      });
      expect(inspector.calls[1]).toMatchObject({ m: 'event', source: 'urn:test:caller' });
    });

    it('keeps working when the inspector throws', async () => {
      host.inspect({ actor: () => { throw new Error('inspector down'); }, event: () => undefined, snapshot: () => undefined });
      const r = await host.deliver('j4', { type: 'job.start', name: 'w' });
      expect(r.changed).toBe(true);
      expect(host.peek('j4')?.value).toBe('running');
    });
  });

  describe('with @statelyai/inspect', () => {
    it('turns the reports into inspection events, with the machine definition for its diagram', async () => {
      const sent: StatelyInspectionEvent[] = [];
      host.inspect(createInspector({ send: (e) => void sent.push(e) }));
      await host.deliver('j5', { type: 'job.start', name: 'v' });
      expect(sent.map((e) => e.type)).toEqual(['@xstate.actor', '@xstate.event', '@xstate.snapshot']);
      const actor = sent[0] as Extract<StatelyInspectionEvent, { type: '@xstate.actor' }>;
      expect(actor).toMatchObject({ sessionId: 'job/j5', name: 'job' });
      expect(JSON.parse(actor.definition!)).toMatchObject({ id: 'job', initial: 'idle' });
      expect(sent[2]).toMatchObject({ sessionId: 'job/j5', snapshot: { value: 'running' }, event: { type: 'job.start' } });
    });

    it('is asked for with INSPECT=1 (or true/yes), and not otherwise', () => {
      expect([inspectRequested({ INSPECT: '1' }), inspectRequested({ INSPECT: 'true' }), inspectRequested({}), inspectRequested({ INSPECT: '0' })]).toEqual([true, true, false, false]);
    });
  });

  describe('when the whole system is started with an inspector', () => {
    it('reports the saga and every participant as a checkout runs', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'poa-inspect-sys-'));
      const recorder = new RecordingInspector();
      const system = await startSystem({ config: testConfig(dataDir), inspect: recorder });
      try {
        const shopper = new Shopper(await system.transportFor('gateway'));
        const cart = await shopper.buy(randomUUID(), [[productIdFor('ACME-BIRDSEED'), 1]]);
        await shopper.settle(cart.checkoutId);
        const kinds = new Set(recorder.calls.filter((c) => c.m === 'actor').map((c) => (c as { actor: InspectedActor }).actor.sessionId.split('/')[0]));
        expect([...kinds].sort()).toEqual(['authorization', 'cart', 'checkout', 'order', 'reservation']);
        const saga = recorder.calls.filter((c): c is Extract<Call, { m: 'snapshot' }> => c.m === 'snapshot' && c.actor === `checkout/${cart.checkoutId}`);
        expect(saga.map((c) => c.snapshot.value)).toEqual(['reservingInventory', 'authorizingPayment', 'creatingOrder', 'confirmed']);
      } finally {
        await system.stop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
});

/**
 * The relay's KV writes (the shopper's status documents) survive a bucket that could not be
 * opened at first, as during a JetStream leader election.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { ManualClock } from '../../src/runtime/clock.ts';
import { ServiceRuntime } from '../../src/runtime/service.ts';
import { runtimeMigrations } from '../../src/runtime/schema.ts';
import { Store } from '../../src/runtime/store.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import { jobDefinition, jobSource } from '../support/host-fixture.ts';
import { until } from '../support/waiting.ts';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('a KV write whose bucket failed to open is retried with the bucket opened again', async () => {
  dir = mkdtempSync(join(tmpdir(), 'relay-kv-'));
  const bus = new InProcessTransport({ path: join(dir, 'bus.db') });
  let opens = 0;
  const open = bus.kv.bind(bus);
  bus.kv = (bucket) => (++opens === 1 ? Promise.reject(new Error('JetStream system temporarily unavailable')) : open(bucket));
  const clock = new ManualClock();
  const store = new Store({ path: join(dir, 'jobs.db'), migrations: runtimeMigrations, synchronous: 'NORMAL' });
  const rt = new ServiceRuntime({ service: 'order', source: jobSource, store, transport: bus, clock, relay: { baseBackoffMs: 20, maxBackoffMs: 100 } });
  rt.host({
    ...jobDefinition,
    executors: { ...jobDefinition.executors, publishJobStarted: (p: { name: string }, fx) => fx.kvPut('job-status', fx.actorId, { name: p.name }), requestWork: () => {} },
  });
  await rt.start();
  await rt.hosts.get('job')!.deliver('j1', { type: 'job.start', name: 'a' }, { inboxKey: 'm1' });
  const status = await open('job-status');
  let entry: string | undefined;
  await until(() => {
    clock.advance(50);
    rt.relay.kick();
    void status.get('j1').then((e) => (entry = e?.value));
    return entry !== undefined;
  });
  expect(opens).toBeGreaterThanOrEqual(2);
  expect(JSON.parse(entry!)).toEqual({ name: 'a' });
  await rt.stop(200);
  await bus.drain();
});

/**
 * A small job machine and a service built on it, to exercise the actor host itself: a request
 * whose reply comes back as an event, a published event, a durable deadline timer.
 */
import { join } from 'node:path';
import { assign, setup } from 'xstate';
import { z } from 'zod';
import type { ActorDefinition } from '../../src/runtime/actor-host.ts';
import type { Clock } from '../../src/runtime/clock.ts';
import { Journal, type JournalOptions } from '../../src/runtime/journal.ts';
import { runtimeMigrations } from '../../src/runtime/schema.ts';
import { ServiceRuntime } from '../../src/runtime/service.ts';
import { Store, type FaultInjector } from '../../src/runtime/store.ts';
import type { Transport } from '../../src/runtime/transport/transport.ts';

export const jobMachine = setup({
  types: {
    context: {} as { id: string; name: string; outcome: string | null },
    events: {} as
      | { type: 'job.start'; name: string }
      | { type: 'work.done'; result: string }
      | { type: 'timer.expired' }
      | { type: 'job.poke' },
    input: {} as { id: string },
  },
  actions: {
    publishJobStarted: (_, _p: { name: string }) => {},
    requestWork: (_, _p: { name: string }) => {},
    startDeadline: (_, _p: { ms: number }) => {},
    cancelWork: (_, _p: Record<string, never>) => {},
  },
}).createMachine({
  id: 'job',
  context: ({ input }) => ({ id: input.id, name: '', outcome: null }),
  initial: 'idle',
  states: {
    idle: { on: { 'job.start': { target: 'running', actions: assign({ name: ({ event }) => event.name }) } } },
    running: {
      entry: [
        { type: 'publishJobStarted', params: ({ context }) => ({ name: context.name }) },
        { type: 'requestWork', params: ({ context }) => ({ name: context.name }) },
        { type: 'startDeadline', params: { ms: 1_000 } },
      ],
      on: {
        'work.done': { target: 'done', actions: assign({ outcome: ({ event }) => event.result }) },
        'timer.expired': { target: 'timedOut', actions: { type: 'cancelWork', params: {} } },
        'job.poke': { target: 'running', reenter: false },
      },
    },
    done: { type: 'final' },
    timedOut: { type: 'final' },
  },
});

export const JobContext = z.object({ id: z.string(), name: z.string(), outcome: z.string().nullable() });

/** The CloudEvents source of the job service's messages. */
export const jobSource = 'urn:test:jobs';

/**
 * The job service's definition, its work requests timing out after `requestTimeoutMs` of real
 * time; the relay retries one that timed out at a time of the runtime's clock, which a test's
 * ManualClock holds still unless the test moves it.
 */
export const jobDefinitionWith = (requestTimeoutMs: number): ActorDefinition<typeof jobMachine> => ({
  kind: 'job',
  machine: jobMachine,
  version: '1',
  context: JobContext,
  executors: {
    publishJobStarted: (p: { name: string }, fx) =>
      fx.publish({ subject: 'test.evt.job-started', type: 'job-started', payload: { id: fx.actorId, name: p.name } }),
    requestWork: (p: { name: string }, fx) =>
      fx.request({ slot: 'work', subject: 'worker.cmd.do-work', type: 'do-work', payload: { name: p.name }, idempotencyKey: `${fx.actorId}:work`, timeoutMs: requestTimeoutMs }),
    startDeadline: (p: { ms: number }, fx) => fx.setTimer('deadline', p.ms, { type: 'timer.expired' }),
    cancelWork: (_p, fx) => fx.cancelRequest('work'),
  },
  onReply: (_slot, outcome) =>
    outcome.ok ? { type: 'work.done', result: (JSON.parse(outcome.data) as { result: string }).result } : undefined,
});

export const jobDefinition = jobDefinitionWith(200);

export interface JobService {
  rt: ServiceRuntime;
  store: Store;
}

/** Opens (or re-opens, after a "crash") the job service on a store file. */
export async function openJobService(dir: string, transport: Transport, clock: Clock, faults?: FaultInjector, journal?: JournalOptions, definition = jobDefinition): Promise<JobService> {
  const store = new Store({ path: join(dir, 'jobs.db'), migrations: runtimeMigrations, synchronous: 'NORMAL', ...(faults ? { faults } : {}) });
  // Opened before the runtime so that these options (checkpoint interval, retention) are its own.
  if (journal) Journal.of(store, { clock, ...journal });
  const rt = new ServiceRuntime({ service: 'order', source: jobSource, store, transport, clock, relay: { baseBackoffMs: 20, maxBackoffMs: 100 } });
  rt.host(definition);
  await transport.ensureStream('TEST', ['test.evt.>']);
  return { rt, store };
}

/**
 * A definition's executors are typed by its machine's actions (runtime/actor-host.ts, Executors):
 * `npm run typecheck` checks the `@ts-expect-error` lines below, so each case fails the build if
 * the mistake it shows ever compiles again.
 */
import { describe, expect, it } from 'vitest';
import type { ActorDefinition } from '../../src/runtime/actor-host.ts';
import { orderDefinition } from '../../src/actors/order/definition.ts';
import { jobDefinition, type jobMachine } from '../support/host-fixture.ts';

describe('executors', () => {
  it('a definition that leaves an action without an executor does not compile', () => {
    const { cancelWork: _left, ...rest } = jobDefinition.executors;
    // @ts-expect-error cancelWork has no executor
    const incomplete: ActorDefinition<typeof jobMachine> = { ...jobDefinition, executors: rest };
    expect(Object.keys(incomplete.executors).sort()).toEqual(['publishJobStarted', 'requestWork', 'startDeadline']);
  });

  it('an executor that expects params the action does not give does not compile', () => {
    const wrong: ActorDefinition<typeof jobMachine> = {
      ...jobDefinition,
      executors: {
        ...jobDefinition.executors,
        // @ts-expect-error startDeadline gives {ms}, not {seconds}
        startDeadline: (p: { seconds: number }, fx) => fx.setTimer('deadline', p.seconds * 1000, { type: 'timer.expired' }),
      },
    };
    expect(Object.keys(wrong.executors)).toContain('startDeadline');
  });

  it('asks for no executor for the assign actions xstate applies itself', () => {
    // The order machine names recordCancellation (an assign); its definition has no executor for it and compiles.
    expect(Object.keys(orderDefinition.executors).sort()).toEqual(['publishOrderCancelled', 'publishOrderCompleted', 'publishOrderCreated']);
  });
});

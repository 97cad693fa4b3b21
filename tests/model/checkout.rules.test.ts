/**
 * The checkout saga's generated paths against the rules any correct saga must keep
 * (src/devtools/testing/checkout-spec.ts), and proof that those checks catch a real bug: a variant of the
 * real machine that forgets to void the payment when the order cannot be created fails them, path
 * by path, and fails against the running system too. The variant lives only in this file.
 */
import { randomUUID } from 'node:crypto';
import type { AnyStateMachine } from 'xstate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import type { CheckoutContext } from '../../src/machines/checkout.ts';
import type { ActorHost } from '../../src/runtime/actor-host.ts';
import { checkSagaPath } from '../../src/devtools/testing/checkout-spec.ts';
import { completeCheckout, realiseCheckout } from '../../src/devtools/testing/checkout-world.ts';
import { statePath, type MachineModel } from '../../src/devtools/testing/model.ts';
import { checkoutModel, compensationIn } from '../../src/devtools/testing/models/checkout.ts';
import { eventsOf, generatePaths, type Path } from '../../src/devtools/testing/paths.ts';
import { describePath } from '../../src/devtools/testing/plan.ts';
import { PureRunner } from '../../src/devtools/testing/transitions.ts';
import { startTestSystem, type TestSystem } from '../support/system-fixture.ts';
import { Observer } from './support/observe.ts';
import { runRecipe } from './support/run-recipe.ts';
import { World } from './support/world.ts';

/** Every distinct path the generators produce for a model. */
function allPaths(model: MachineModel): Path[] {
  const g = generatePaths(model);
  const seen = new Set<string>();
  return [...g.shortest, ...g.simple, ...g.plan].filter((p) => {
    const k = JSON.stringify(eventsOf(p));
    return !seen.has(k) && !!seen.add(k);
  });
}

/** The path's problems under the saga's rules, each line headed by the path in plain words. */
function violations(model: MachineModel, paths: readonly Path[]): string[] {
  const runner = new PureRunner(model.machine, model.input);
  return paths.flatMap((p) =>
    checkSagaPath(model.machine, model.input, eventsOf(p), runner).problems.map(
      (x) => `${describePath(model, p).text}\n    ${x}`,
    ),
  );
}

const paths = allPaths(checkoutModel);

describe('the checkout saga', () => {
  it("keeps the saga's rules on every generated path", () => {
    expect(violations(checkoutModel, paths)).toEqual([]);
  });

  it('has a complete scenario for every outcome of every step', () => {
    const runner = new PureRunner(checkoutModel.machine, checkoutModel.input);
    const seen = new Set<string>();
    for (const p of paths) {
      const events = eventsOf(p);
      const states = [runner.initial, ...runner.run(events).map((s) => s.snapshot)];
      if (states.at(-1)!.status !== 'done') continue;
      events.forEach((e, i) => seen.add(`${statePath(states[i]!.value)} ${label(e)}`));
      for (const step of ['voidPayment', 'releaseInventory', 'cancelOrder'] as const) {
        const inStep = events
          .map((e, i) =>
            compensationIn(states[i]!) === step
              ? `${statePath(states[i]!.value).split('.').at(-1)}:${e.type}`
              : '',
          )
          .filter(Boolean);
        seen.add(`${step}: ${inStep.join(' ')}`);
      }
    }
    const forward = [
      'reservingInventory inventory.reserved',
      'reservingInventory inventory.unavailable',
      'reservingInventory step.failed(reserveInventory)',
      'reservingInventory timer.expired(reserveInventory)',
      'authorizingPayment payment.authorized',
      'authorizingPayment payment.declined',
      'authorizingPayment payment.declined(fraud)',
      'authorizingPayment step.failed(authorizePayment)',
      'authorizingPayment timer.expired(authorizePayment)',
      'creatingOrder order.created',
      'creatingOrder order.rejected',
      'creatingOrder step.failed(createOrder)',
      'creatingOrder timer.expired(createOrder)',
    ];
    const done = {
      voidPayment: 'payment.voided',
      releaseInventory: 'inventory.released',
      cancelOrder: 'order.cancelled',
    } as const;
    const undo = (['voidPayment', 'releaseInventory', 'cancelOrder'] as const).flatMap((step) => [
      `${step}: trying:${done[step]}`, // succeeded at once
      `${step}: trying:timer.expired needsAttention:${done[step]}`, // timed out, needed attention, came back
      `${step}: trying:timer.expired needsAttention:operator.retry trying:${done[step]}`, // ... and an operator retried
      `${step}: trying:step.failed needsAttention:operator.retry trying:${done[step]}`, // failed, needed attention, retried
    ]);
    expect([...forward, ...undo].filter((o) => !seen.has(o))).toEqual([]);
  });
});

function label(e: { type: string; [k: string]: unknown }): string {
  if (e.type === 'step.failed') return `step.failed(${String(e.step)})`;
  if (e.type === 'timer.expired') return `timer.expired(${String(e.timer)})`;
  if (e.type === 'payment.declined' && e.fraud) return 'payment.declined(fraud)';
  return e.type;
}

/** The real machine with one guard replaced: after a failed or timed-out create-order it skips the void. */
const forgetsTheVoid: AnyStateMachine = checkoutModel.machine.provide({
  guards: {
    mustVoidPayment: ({ context }: { context: CheckoutContext }) =>
      context.attempted.includes('authorizePayment') &&
      !context.compensated.includes('voidPayment') &&
      context.failure !== 'ORDER_REJECTED' &&
      context.failure !== 'ORDER_TIMEOUT',
  },
} as never);
const brokenModel: MachineModel = { ...checkoutModel, machine: forgetsTheVoid };

describe('a broken saga that forgets to void the payment when the order cannot be created', () => {
  it('fails the path-based checks, on exactly the paths where the order fails after an authorization', () => {
    const brokenPaths = allPaths(brokenModel);
    const found = violations(brokenModel, brokenPaths);
    expect(found.length).toBeGreaterThan(0);
    expect(
      found.every((v) =>
        v.includes(
          'missed compensation: voidPayment was never requested although authorizePayment was attempted',
        ),
      ),
    ).toBe(true);
    expect(found.every((v) => /ORDER_REJECTED|ORDER_TIMEOUT/.test(v))).toBe(true);
    if (process.env.MODEL_VERBOSE)
      console.info(
        `the broken saga fails ${found.length} of ${brokenPaths.length} generated paths, e.g.\n  ${found[0]}`,
      );
  });

  describe('when it runs in the real system', () => {
    let t: TestSystem;
    const REFUSED = randomUUID();

    beforeAll(async () => {
      t = await startTestSystem('embedded', (c) => {
        c.order = { refuseCustomers: [REFUSED], maxTotal: undefined };
      });
      // The broken variant takes over the saga kind in this test's checkout runtime: replies and
      // timers find their host by kind, so every step after the start runs the broken machine.
      const rt = t.system.runtimes.get('checkout')!;
      const real = rt.hosts.get('checkout') as ActorHost;
      rt.host({ ...real.def, machine: forgetsTheVoid });
    });
    afterAll(async () => t?.stop());

    it('is caught by the generated path of an order refusal: the saga releases stock where the path voids the payment', async () => {
      const refusal = paths.find((p) => eventsOf(p).some((e) => e.type === 'order.rejected'))!;
      const realised = realiseCheckout(
        checkoutModel.machine,
        checkoutModel.input,
        completeCheckout(checkoutModel.machine, checkoutModel.input, eventsOf(refusal)),
      );
      if (!realised.ok) throw new Error(realised.reason);
      const observe = await Observer.open(t, 'broken-tap');
      try {
        const run = await runRecipe(t, new World(t), observe, realised.recipe, {
          customers: { fraud: randomUUID(), stall: randomUUID(), refused: REFUSED },
          baskets: { fits: [[productIdFor('ACME-BIRDSEED'), 1]], exceedsStock: [], exceedsLimit: [] },
          stepTimeoutMs: 3_000,
        });
        expect(run.problems[0]).toMatch(
          /event 4: the saga went to .*releasingInventory.*, the model to .*voidingPayment/,
        );
        // The saga finishes without ever asking for the void ...
        expect(await t.shopper.settle(run.checkoutId)).toMatchObject({
          status: 'CANCELLED',
          detail: 'ORDER_REJECTED',
        });
        expect(observe.entries(run.checkoutId).map((e) => e.event.type)).not.toContain('payment.voided');
        // ... and the stores' invariants cannot tell: the Payment Service voids on order-cancelled
        // by itself, so only the path-based check shows that the saga skipped its compensation.
        await expect
          .poll(async () => (await observe.payment(run.orderId))?.status, { timeout: 5_000 })
          .toBe('VOIDED');
        expect(t.invariants()).toEqual([]);
      } finally {
        await observe.close();
      }
    }, 30_000);
  });
});

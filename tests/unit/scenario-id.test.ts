/**
 * Scenario ids are derived from the event path alone: adding or removing other scenarios leaves every
 * scenario's id as it was, and a known path keeps its known id (the docs link to it).
 */
import { describe, expect, it } from 'vitest';
import { checkoutEvents, checkoutModel } from '../../src/devtools/testing/models/checkout.ts';
import { testPlan } from '../../src/devtools/testing/plan.ts';
import { eventKey, scenarioId } from '../../src/devtools/testing/scenario-id.ts';

describe('scenario ids', () => {
  it('name a path by its events: the happy path is checkout-7rt9rk', () => {
    const [started, reserved, , authorized, , , created] = checkoutEvents;
    expect(scenarioId('checkout', [started!, reserved!, authorized!, created!])).toBe('checkout-7rt9rk');
  });

  it('leave times out of an event, and tell sampled events of one type apart', () => {
    expect(eventKey({ type: 'order.created' })).toBe('order.created');
    expect(eventKey({ type: 'timer.expired', timer: 'createOrder' } as never)).toBe(
      'timer.expired{timer:"createOrder"}',
    );
    expect(eventKey({ type: 'x', now: 1, b: { at: 1, bAt: 2 }, a: [1] } as never)).toBe('x{a:[1],b:{at:1}}');
  });

  it('do not change when the plan changes around them (here: the sampler reordered, so every scenario moves)', () => {
    const full = testPlan(checkoutModel);
    const moved = testPlan({ ...checkoutModel, events: [...checkoutModel.events].reverse() });
    expect(moved.scenarios.map((s) => s.id)).not.toEqual(full.scenarios.map((s) => s.id));
    const byPath = new Map(full.scenarios.map((s) => [JSON.stringify(s.events), s.id]));
    for (const s of moved.scenarios)
      if (byPath.has(JSON.stringify(s.events))) expect(s.id).toBe(byPath.get(JSON.stringify(s.events)));
    expect(moved.scenarios.filter((s) => byPath.has(JSON.stringify(s.events))).length).toBeGreaterThan(900);
  });
});

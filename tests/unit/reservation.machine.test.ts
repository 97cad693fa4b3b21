import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import { machineHarness } from '../support/machine-harness.ts';
import {
  mergeItems,
  reservationMachine,
  shortfall,
  type ReservationContext,
  type ReservationEvent,
} from '../../src/machines/reservation.ts';

const RES = '11111111-1111-4111-8111-111111111111';
const ORDER = '22222222-2222-4222-8222-222222222222';
const CART = '33333333-3333-4333-8333-333333333333';
const ANVIL = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const MAGNET = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const AT = '2026-01-01T00:00:00.000Z';
const LATER = '2026-01-01T00:05:00.000Z';

const { given, when } = machineHarness(reservationMachine, { id: RES });

const ctx = (s: AnyMachineSnapshot) => s.context as ReservationContext;

const hold = (
  items: { productId: string; quantity: number }[],
  available: Record<string, number>,
): ReservationEvent => ({
  type: 'reservation.hold',
  at: AT,
  orderId: ORDER,
  cartId: CART,
  items,
  available,
});
const release = (at = LATER): ReservationEvent => ({
  type: 'reservation.release',
  at,
  reason: 'CHECKOUT_FAILED',
});
const consume: ReservationEvent = { type: 'reservation.consume', at: LATER };

describe('reservation machine', () => {
  describe('when every item is available', () => {
    it('holds them, moves the stock and announces inventory-reserved', () => {
      const { next, actions } = when(
        given(),
        hold(
          [
            { productId: ANVIL, quantity: 2 },
            { productId: MAGNET, quantity: 1 },
          ],
          { [ANVIL]: 2, [MAGNET]: 5 },
        ),
      );
      expect(next.value).toBe('held');
      expect(ctx(next)).toMatchObject({ orderId: ORDER, cartId: CART, reservedAt: AT, unavailableItems: [] });
      expect(actions).toEqual([
        {
          type: 'holdStock',
          params: {
            items: [
              { productId: ANVIL, quantity: 2 },
              { productId: MAGNET, quantity: 1 },
            ],
          },
        },
        { type: 'publishInventoryReserved', params: {} },
      ]);
    });

    it('holds one line per product when the request repeats a product', () => {
      const { next, actions } = when(
        given(),
        hold(
          [
            { productId: ANVIL, quantity: 1 },
            { productId: ANVIL, quantity: 2 },
          ],
          { [ANVIL]: 3 },
        ),
      );
      expect(next.value).toBe('held');
      expect(actions[0]).toEqual({
        type: 'holdStock',
        params: { items: [{ productId: ANVIL, quantity: 3 }] },
      });
    });
  });

  describe('when one item is short', () => {
    it('refuses the whole request, holds nothing and records what is missing', () => {
      const { next, actions } = when(
        given(),
        hold(
          [
            { productId: ANVIL, quantity: 1 },
            { productId: MAGNET, quantity: 4 },
          ],
          { [ANVIL]: 9, [MAGNET]: 3 },
        ),
      );
      expect(next.value).toBe('refused');
      expect(ctx(next).unavailableItems).toEqual([{ productId: MAGNET, requested: 4, available: 3 }]);
      expect(actions).toEqual([{ type: 'publishInventoryUnavailable', params: {} }]);
    });

    it('treats a product without stock facts as having none', () => {
      const { next } = when(given(), hold([{ productId: ANVIL, quantity: 1 }], {}));
      expect(next.value).toBe('refused');
      expect(ctx(next).unavailableItems).toEqual([{ productId: ANVIL, requested: 1, available: 0 }]);
    });

    it('counts a repeated product against its stock once, summed', () => {
      const { next } = when(
        given(),
        hold(
          [
            { productId: ANVIL, quantity: 2 },
            { productId: ANVIL, quantity: 2 },
          ],
          { [ANVIL]: 3 },
        ),
      );
      expect(next.value).toBe('refused');
      expect(ctx(next).unavailableItems).toEqual([{ productId: ANVIL, requested: 4, available: 3 }]);
    });
  });

  describe('when a held reservation is released', () => {
    it('returns exactly what was held and announces inventory-released', () => {
      const held = given(hold([{ productId: ANVIL, quantity: 2 }], { [ANVIL]: 2 }));
      const { next, actions } = when(held, release());
      expect(next.value).toBe('released');
      expect(ctx(next)).toMatchObject({ releasedAt: LATER, releaseReason: 'CHECKOUT_FAILED' });
      expect(actions).toEqual([
        { type: 'returnStock', params: { items: [{ productId: ANVIL, quantity: 2 }] } },
        { type: 'publishInventoryReleased', params: {} },
      ]);
    });
  });

  describe('when a release arrives for a reservation never made', () => {
    it('leaves a tombstone without touching stock', () => {
      const { next, actions, changed } = when(given(), release());
      expect(changed).toBe(true);
      expect(next.value).toBe('released');
      expect(actions).toEqual([]);
    });

    it('refuses a late hold afterwards', () => {
      const { next, changed } = when(
        given(release()),
        hold([{ productId: ANVIL, quantity: 1 }], { [ANVIL]: 10 }),
      );
      expect(changed).toBe(false);
      expect(next.value).toBe('released');
    });
  });

  describe('when a refused reservation is released', () => {
    it('ends released with nothing to return', () => {
      const { next, actions } = when(
        given(hold([{ productId: ANVIL, quantity: 5 }], { [ANVIL]: 1 })),
        release(),
      );
      expect(next.value).toBe('released');
      expect(actions).toEqual([]);
    });
  });

  describe('when a held reservation is consumed', () => {
    it('consumes what was held and announces inventory-consumed', () => {
      const { next, actions } = when(
        given(hold([{ productId: MAGNET, quantity: 3 }], { [MAGNET]: 3 })),
        consume,
      );
      expect(next.value).toBe('consumed');
      expect(ctx(next).consumedAt).toBe(LATER);
      expect(actions).toEqual([
        { type: 'consumeStock', params: { items: [{ productId: MAGNET, quantity: 3 }] } },
        { type: 'publishInventoryConsumed', params: {} },
      ]);
    });

    it('cannot be released any more', () => {
      const consumed = given(hold([{ productId: MAGNET, quantity: 3 }], { [MAGNET]: 3 }), consume);
      expect(when(consumed, release()).changed).toBe(false);
    });
  });

  describe('when an intent is repeated', () => {
    it('ignores a second hold of a held reservation, even with more stock', () => {
      const held = given(hold([{ productId: ANVIL, quantity: 1 }], { [ANVIL]: 1 }));
      expect(when(held, hold([{ productId: ANVIL, quantity: 1 }], { [ANVIL]: 0 })).changed).toBe(false);
    });

    it('ignores a second release', () => {
      expect(when(given(release()), release('2026-01-02T00:00:00.000Z')).changed).toBe(false);
    });

    it('keeps a refusal: a refused reservation is not retried by a later hold', () => {
      const refused = given(hold([{ productId: ANVIL, quantity: 2 }], { [ANVIL]: 1 }));
      expect(when(refused, hold([{ productId: ANVIL, quantity: 2 }], { [ANVIL]: 5 })).changed).toBe(false);
    });

    it('cannot consume what was never held', () => {
      expect(when(given(), consume).changed).toBe(false);
      expect(when(given(release()), consume).changed).toBe(false);
    });
  });
});

describe('stock arithmetic', () => {
  it('merges lines per product in order of first appearance', () => {
    expect(
      mergeItems([
        { productId: MAGNET, quantity: 1 },
        { productId: ANVIL, quantity: 1 },
        { productId: MAGNET, quantity: 2 },
      ]),
    ).toEqual([
      { productId: MAGNET, quantity: 3 },
      { productId: ANVIL, quantity: 1 },
    ]);
  });

  it('reports no shortfall for an empty request', () => {
    expect(shortfall([], {})).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import { machineHarness } from '../support/machine-harness.ts';
import {
  partitionedReservationMachine,
  reservationSettled,
  type PartitionedReservationContext,
  type PartitionedReservationEvent,
} from '../../src/machines/partitioned-reservation.ts';

const RES = '11111111-1111-4111-8111-111111111111';
const ORDER = '22222222-2222-4222-8222-222222222222';
const CART = '33333333-3333-4333-8333-333333333333';
const ANVIL = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const MAGNET = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const ROPE = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc';
const AT = '2026-01-01T00:00:00.000Z';
const LATER = '2026-01-01T00:05:00.000Z';

const { given, when } = machineHarness(partitionedReservationMachine, { id: RES });
const ctx = (s: AnyMachineSnapshot) => s.context as PartitionedReservationContext;

const p0 = { partition: 0, items: [{ productId: ANVIL, quantity: 2 }] };
const p1 = { partition: 1, items: [{ productId: MAGNET, quantity: 1 }] };
const p2 = { partition: 2, items: [{ productId: ROPE, quantity: 3 }] };
const reserve = (parts = [p0, p1, p2]): PartitionedReservationEvent => ({
  type: 'reservation.reserve',
  at: AT,
  orderId: ORDER,
  cartId: CART,
  items: parts.flatMap((p) => p.items),
  parts,
});
const held = (partition: number): PartitionedReservationEvent => ({ type: 'hold.held', partition, at: LATER });
const refused = (partition: number, available = 0): PartitionedReservationEvent => ({
  type: 'hold.refused',
  partition,
  at: LATER,
  unavailableItems: [{ productId: MAGNET, requested: 1, available }],
});
const release: PartitionedReservationEvent = { type: 'reservation.release', at: LATER, reason: 'CHECKOUT_FAILED' };
const consume: PartitionedReservationEvent = { type: 'reservation.consume', at: LATER };

describe('partitioned reservation machine', () => {
  describe('when a reservation arrives', () => {
    it("asks each product's partition for a hold and waits", () => {
      const { next, actions } = when(given(), reserve());
      expect(next.value).toBe('holding');
      expect(reservationSettled(next.value)).toBe(false);
      expect(actions).toEqual([{ type: 'requestHolds', params: { parts: [p0, p1, p2] } }]);
    });

    it('with nothing to hold, is reserved at once', () => {
      const { next, actions } = when(given(), reserve([]));
      expect(next.value).toBe('held');
      expect(actions.map((a) => a.type)).toEqual(['indexReservation', 'publishInventoryReserved']);
    });
  });

  describe('all or nothing', () => {
    it('is reserved only when every partition held', () => {
      let s = given(reserve());
      for (const k of [2, 0]) {
        const step = when(s, held(k));
        expect(step.next.value).toBe('holding');
        expect(step.actions).toEqual([]);
        s = step.next;
      }
      const { next, actions } = when(s, held(1));
      expect(next.value).toBe('held');
      expect(ctx(next)).toMatchObject({ held: [2, 0, 1], reservedAt: LATER, orderId: ORDER, cartId: CART });
      expect(actions).toEqual([
        { type: 'indexReservation', params: { items: [...p0.items, ...p1.items, ...p2.items] } },
        { type: 'publishInventoryReserved', params: {} },
      ]);
    });

    it('on a refusal, cancels the holds still outstanding and releases every other partition asked', () => {
      const s = given(reserve(), held(0));
      const { next, actions } = when(s, refused(1, 0));
      expect(next.value).toBe('refused');
      expect(reservationSettled(next.value)).toBe(true);
      expect(ctx(next).unavailableItems).toEqual([{ productId: MAGNET, requested: 1, available: 0 }]);
      expect(actions).toEqual([
        { type: 'cancelHolds', params: { partitions: [2] } },
        // Partition 0 held and gives it back; partition 2 has not answered: the release leaves a tombstone.
        { type: 'requestReleases', params: { parts: [p0, p2] } },
        { type: 'publishInventoryUnavailable', params: {} },
      ]);
    });

    it('counts every line of a partition that failed without detail as unavailable', () => {
      const { next } = when(given(reserve()), { type: 'hold.refused', partition: 2, at: LATER });
      expect(ctx(next).unavailableItems).toEqual([{ productId: ROPE, requested: 3, available: 0 }]);
    });

    it('ignores answers once refused: a late hold was released with the others', () => {
      const s = given(reserve(), refused(1));
      expect(when(s, held(0)).changed).toBe(false);
      expect(when(s, held(2)).changed).toBe(false);
      expect(when(s, refused(0)).changed).toBe(false);
    });
  });

  describe('idempotent holds', () => {
    it('counts a partition once however often it answers', () => {
      const s = given(reserve(), held(0));
      const again = when(s, held(0));
      expect(again.changed).toBe(false);
      expect(ctx(when(when(s, held(1)).next, held(1)).next).held).toEqual([0, 1]);
    });

    it('ignores a partition it did not ask', () => {
      expect(when(given(reserve([p0, p1])), held(2)).changed).toBe(false);
      expect(when(given(reserve([p0, p1])), refused(2)).changed).toBe(false);
    });

    it('answers a repeated reserve from its state, asking nothing again', () => {
      for (const s of [given(reserve()), given(reserve(), held(0), held(1), held(2)), given(reserve(), refused(1))]) {
        expect(when(s, reserve()).changed).toBe(false);
      }
    });
  });

  describe('release', () => {
    it('of a held reservation releases every hold and announces it', () => {
      const s = given(reserve([p0, p1]), held(0), held(1));
      const { next, actions } = when(s, release);
      expect(next.value).toBe('released');
      expect(actions).toEqual([
        { type: 'requestReleases', params: { parts: [p0, p1] } },
        { type: 'indexStatus', params: { status: 'RELEASED' } },
        { type: 'publishInventoryReleased', params: {} },
      ]);
    });

    it('while holding (the saga gave up) cancels the outstanding holds and releases every partition asked', () => {
      const { next, actions } = when(given(reserve(), held(1)), release);
      expect(next.value).toBe('released');
      expect(actions).toEqual([
        { type: 'cancelHolds', params: { partitions: [0, 2] } },
        { type: 'requestReleases', params: { parts: [p0, p1, p2] } },
      ]);
    });

    it('before any reserve leaves a tombstone, and a late reserve is not accepted', () => {
      const s = given(release);
      expect(s.value).toBe('released');
      expect(when(s, reserve()).changed).toBe(false);
    });

    it('of a refused reservation releases nothing more', () => {
      const { next, actions } = when(given(reserve(), refused(1)), release);
      expect(next.value).toBe('released');
      expect(actions).toEqual([]);
    });
  });

  describe('consume', () => {
    it('of a held reservation consumes every hold', () => {
      const { next, actions } = when(given(reserve([p0, p1]), held(0), held(1)), consume);
      expect(next.value).toBe('consumed');
      expect(ctx(next).consumedAt).toBe(LATER);
      expect(actions).toEqual([
        { type: 'requestConsumes', params: { parts: [p0, p1] } },
        { type: 'indexStatus', params: { status: 'CONSUMED' } },
        { type: 'publishInventoryConsumed', params: {} },
      ]);
    });

    it('is not accepted while holding, refused or released', () => {
      for (const s of [given(reserve()), given(reserve(), refused(1)), given(release)]) expect(when(s, consume).changed).toBe(false);
    });
  });

  describe('replay', () => {
    it('rebuilds the same snapshot from its events, from the persisted snapshot too', () => {
      const events = [reserve(), held(2), held(0)];
      const a = given(...events);
      const b = given(...events);
      expect(b.value).toEqual(a.value);
      expect(b.context).toEqual(a.context);
      const persisted = JSON.parse(JSON.stringify(partitionedReservationMachine.getPersistedSnapshot(a))) as { context: PartitionedReservationContext };
      const restored = partitionedReservationMachine.resolveState({ value: a.value as string, context: persisted.context });
      const { next, actions } = when(restored, held(1));
      expect(next.value).toBe('held');
      expect(actions.map((x) => x.type)).toEqual(['indexReservation', 'publishInventoryReserved']);
    });
  });
});

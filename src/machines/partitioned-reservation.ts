/**
 * A stock reservation when the Inventory Service is partitioned by product (PARTITIONS_INVENTORY
 * > 1): a saga of its own. One actor per reservationId, in the partition owning that id; the stock
 * of each product is in the partition owning the product, so the actor asks each partition holding
 * some of its products for a *hold* (one per partition, all of that partition's lines, all or
 * nothing there: the stock-hold actor, which runs the reservation machine of reservation.ts).
 *
 *   new ─reserve─▶ holding ─every hold held─▶ held ─consume─▶ consumed    (consume each hold)
 *    │               │                         └─release─▶ released         (release each hold)
 *    │               ├─one hold refused─▶ refused ─release─▶ released       (the others released)
 *    │               └─release─▶ released                                   (every hold released)
 *    └─release─▶ released   (a tombstone: nothing was asked)
 *
 * Each hold is idempotent by (reservation, partition), and so by (reservation, product): its
 * request carries the derived key `${reservationId}:hold-stock:${partition}` and the hold actor
 * answers a repeat from its state. On the first refusal the actor stops waiting: it cancels the
 * holds still outstanding and asks every other partition it asked to release; a release that
 * reaches a partition before its hold leaves a tombstone there, so the late hold is refused. Which
 * partition owns which product is a fact the host computes (`parts` in the reserve event).
 */
import { assign, setup } from 'xstate';
import type { LineItem, ReleaseReason, UnavailableItem } from '../contracts/index.ts';
import { mergeItems, newReservationContext, type ReservationContext } from './reservation.ts';

export const partitionedReservationMachineVersion = '1';

/** The lines of a reservation that one inventory partition holds. */
export interface HoldPart {
  partition: number;
  items: LineItem[];
}

/** A reservation's context (reservation.ts), and the holds it asked for. */
export interface PartitionedReservationContext extends ReservationContext {
  /** The holds asked for, one per partition. */
  parts: HoldPart[];
  /** The partitions whose hold was confirmed. */
  held: number[];
}

export type PartitionedReservationEvent =
  | {
      type: 'reservation.reserve';
      at: string;
      orderId: string | null;
      cartId: string | null;
      items: LineItem[];
      /** Facts from the host: the reservation's lines grouped by the partition owning each product. */
      parts: HoldPart[];
    }
  | { type: 'hold.held'; partition: number; at: string }
  /** A partition refused its hold; without `unavailableItems` (an error reply) every line it was asked for counts as unavailable. */
  | { type: 'hold.refused'; partition: number; at: string; unavailableItems?: UnavailableItem[] }
  | { type: 'reservation.release'; at: string; reason: ReleaseReason | null }
  | { type: 'reservation.consume'; at: string };

type Ctx = PartitionedReservationContext;
type Ev = PartitionedReservationEvent;

const pending = (c: Ctx): number[] => c.parts.map((p) => p.partition).filter((k) => !c.held.includes(k));
const isPending = (c: Ctx, e: Ev): boolean => (e.type === 'hold.held' || e.type === 'hold.refused') && pending(c).includes(e.partition);
const partsExcept = (c: Ctx, partition: number): HoldPart[] => c.parts.filter((p) => p.partition !== partition);
const refusedLines = (c: Ctx, e: Extract<Ev, { type: 'hold.refused' }>): UnavailableItem[] =>
  e.unavailableItems ??
  (c.parts.find((p) => p.partition === e.partition)?.items ?? []).map((i) => ({ productId: i.productId, requested: i.quantity, available: 0 }));

export const partitionedReservationMachine = setup({
  types: { context: {} as Ctx, events: {} as Ev, input: {} as { id: string } },
  actions: {
    requestHolds: (_, _p: { parts: HoldPart[] }) => {},
    cancelHolds: (_, _p: { partitions: number[] }) => {},
    requestReleases: (_, _p: { parts: HoldPart[] }) => {},
    requestConsumes: (_, _p: { parts: HoldPart[] }) => {},
    indexReservation: (_, _p: { items: LineItem[] }) => {},
    indexStatus: (_, _p: { status: 'RELEASED' | 'CONSUMED' }) => {},
    publishInventoryReserved: (_, _p: Record<string, never>) => {},
    publishInventoryUnavailable: (_, _p: Record<string, never>) => {},
    publishInventoryReleased: (_, _p: Record<string, never>) => {},
    publishInventoryConsumed: (_, _p: Record<string, never>) => {},
    recordRelease: assign(({ event }) => (event.type === 'reservation.release' ? { releasedAt: event.at, releaseReason: event.reason } : {})),
  },
  guards: {
    nothingToHold: ({ event }) => event.type === 'reservation.reserve' && event.parts.length === 0,
    completesHold: ({ context, event }) => isPending(context, event) && pending(context).length === 1,
    isPending: ({ context, event }) => isPending(context, event),
  },
}).createMachine({
  id: 'partitioned-reservation',
  context: ({ input }) => ({ ...newReservationContext(input.id), parts: [], held: [] }),
  initial: 'new',
  states: {
    new: {
      on: {
        'reservation.reserve': [
          {
            guard: 'nothingToHold',
            target: 'held',
            actions: [
              assign(({ event }) => ({ orderId: event.orderId, cartId: event.cartId, items: [], reservedAt: event.at, checkedAt: event.at })),
              { type: 'indexReservation', params: { items: [] } },
              { type: 'publishInventoryReserved', params: {} },
            ],
          },
          {
            target: 'holding',
            actions: [
              assign(({ event }) => ({ orderId: event.orderId, cartId: event.cartId, items: mergeItems(event.items), parts: event.parts })),
              { type: 'requestHolds', params: ({ event }) => ({ parts: event.parts }) },
            ],
          },
        ],
        // Nothing was asked, so nothing is released: only the tombstone is kept.
        'reservation.release': { target: 'released', actions: 'recordRelease' },
      },
    },
    holding: {
      on: {
        'hold.held': [
          {
            guard: 'completesHold',
            target: 'held',
            actions: [
              assign(({ context, event }) => ({ held: [...context.held, event.partition], reservedAt: event.at, checkedAt: event.at })),
              { type: 'indexReservation', params: ({ context }) => ({ items: context.items }) },
              { type: 'publishInventoryReserved', params: {} },
            ],
          },
          { guard: 'isPending', actions: assign(({ context, event }) => ({ held: [...context.held, event.partition] })) },
        ],
        'hold.refused': {
          guard: 'isPending',
          target: 'refused',
          actions: [
            assign(({ context, event }) => ({ unavailableItems: refusedLines(context, event), checkedAt: event.at })),
            { type: 'cancelHolds', params: ({ context, event }) => ({ partitions: pending(context).filter((k) => k !== event.partition) }) },
            // The partitions that held give their stock back; those still asked keep a tombstone.
            { type: 'requestReleases', params: ({ context, event }) => ({ parts: partsExcept(context, event.partition) }) },
            { type: 'publishInventoryUnavailable', params: {} },
          ],
        },
        // The saga gave up waiting (its deadline): every partition asked releases, held or not.
        'reservation.release': {
          target: 'released',
          actions: [
            'recordRelease',
            { type: 'cancelHolds', params: ({ context }) => ({ partitions: pending(context) }) },
            { type: 'requestReleases', params: ({ context }) => ({ parts: context.parts }) },
          ],
        },
      },
    },
    held: {
      on: {
        'reservation.release': {
          target: 'released',
          actions: [
            'recordRelease',
            { type: 'requestReleases', params: ({ context }) => ({ parts: context.parts }) },
            { type: 'indexStatus', params: { status: 'RELEASED' } },
            { type: 'publishInventoryReleased', params: {} },
          ],
        },
        'reservation.consume': {
          target: 'consumed',
          actions: [
            assign({ consumedAt: ({ event }) => event.at }),
            { type: 'requestConsumes', params: ({ context }) => ({ parts: context.parts }) },
            { type: 'indexStatus', params: { status: 'CONSUMED' } },
            { type: 'publishInventoryConsumed', params: {} },
          ],
        },
      },
    },
    refused: {
      on: { 'reservation.release': { target: 'released', actions: 'recordRelease' } },
    },
    released: { type: 'final' },
    consumed: { type: 'final' },
  },
});

/** Whether the reservation's outcome is decided (what a reserve-inventory reply needs): not while its holds are outstanding. */
export const reservationSettled = (state: unknown): boolean => state !== 'new' && state !== 'holding';

/**
 * A stock reservation: one actor per reservationId (derived by the orchestrator from the cart, so
 * a release can name a reservation that a timed-out reserve may or may not have made).
 *
 *   new ─reservation.hold─▶ held ─reservation.consume─▶ consumed   (order completed)
 *    │  └─(short)─▶ refused  │
 *    │                │      └─reservation.release─▶ released      (stock returned)
 *    └─reservation.release───┴──────────────────────▶ released      (a tombstone: nothing held)
 *
 * The host reads the stock levels and passes them in the hold event as facts; the `allAvailable`
 * guard decides, so a multi-item hold is all or nothing. A release before any hold leaves a
 * tombstone, so that a reserve arriving late (after the saga gave up on it) is refused instead of
 * holding stock nobody will ever release. Refused, released and consumed never hold again.
 */
import { assign, setup } from 'xstate';
import type { LineItem, ReleaseReason, UnavailableItem } from '../contracts/index.ts';

export const reservationMachineVersion = '1';

export interface ReservationContext {
  reservationId: string;
  orderId: string | null;
  cartId: string | null;
  /** What is (or was) held, one line per product. */
  items: LineItem[];
  /** Why a hold was refused. */
  unavailableItems: UnavailableItem[];
  reservedAt: string | null;
  checkedAt: string | null;
  releasedAt: string | null;
  releaseReason: ReleaseReason | null;
  consumedAt: string | null;
}

export type ReservationEvent =
  | {
      type: 'reservation.hold';
      at: string;
      orderId: string | null;
      cartId: string | null;
      items: LineItem[];
      /** Facts read by the host: units available per product. A product not listed has none. */
      available: Readonly<Record<string, number>>;
    }
  | { type: 'reservation.release'; at: string; reason: ReleaseReason | null }
  | { type: 'reservation.consume'; at: string };

/** A reservation before anything happened to it. */
export const newReservationContext = (reservationId: string): ReservationContext => ({
  reservationId,
  orderId: null,
  cartId: null,
  items: [],
  unavailableItems: [],
  reservedAt: null,
  checkedAt: null,
  releasedAt: null,
  releaseReason: null,
  consumedAt: null,
});

/** One line per product, quantities summed, in order of first appearance. */
export function mergeItems(items: readonly LineItem[]): LineItem[] {
  const totals = new Map<string, number>();
  for (const i of items) totals.set(i.productId, (totals.get(i.productId) ?? 0) + i.quantity);
  return [...totals].map(([productId, quantity]) => ({ productId, quantity }));
}

/** The lines that cannot be held in full; empty when the whole request can. */
export function shortfall(
  items: readonly LineItem[],
  available: Readonly<Record<string, number>>,
): UnavailableItem[] {
  return mergeItems(items)
    .map((i) => ({
      productId: i.productId,
      requested: i.quantity,
      available: Math.max(0, available[i.productId] ?? 0),
    }))
    .filter((u) => u.requested > u.available);
}

export const reservationMachine = setup({
  types: { context: {} as ReservationContext, events: {} as ReservationEvent, input: {} as { id: string } },
  actions: {
    holdStock: (_, _p: { items: LineItem[] }) => {},
    returnStock: (_, _p: { items: LineItem[] }) => {},
    consumeStock: (_, _p: { items: LineItem[] }) => {},
    publishInventoryReserved: (_, _p: Record<string, never>) => {},
    publishInventoryUnavailable: (_, _p: Record<string, never>) => {},
    publishInventoryReleased: (_, _p: Record<string, never>) => {},
    publishInventoryConsumed: (_, _p: Record<string, never>) => {},
    recordRelease: assign(({ event }) =>
      event.type === 'reservation.release' ? { releasedAt: event.at, releaseReason: event.reason } : {},
    ),
  },
  guards: {
    allAvailable: ({ event }) =>
      event.type === 'reservation.hold' && shortfall(event.items, event.available).length === 0,
  },
}).createMachine({
  id: 'reservation',
  context: ({ input }) => newReservationContext(input.id),
  initial: 'new',
  states: {
    new: {
      on: {
        'reservation.hold': [
          {
            guard: 'allAvailable',
            target: 'held',
            actions: [
              assign(({ event }) => ({
                orderId: event.orderId,
                cartId: event.cartId,
                items: mergeItems(event.items),
                reservedAt: event.at,
                checkedAt: event.at,
              })),
              { type: 'holdStock', params: ({ event }) => ({ items: mergeItems(event.items) }) },
              { type: 'publishInventoryReserved', params: {} },
            ],
          },
          {
            target: 'refused',
            actions: [
              assign(({ event }) => ({
                orderId: event.orderId,
                cartId: event.cartId,
                items: mergeItems(event.items),
                unavailableItems: shortfall(event.items, event.available),
                checkedAt: event.at,
              })),
              { type: 'publishInventoryUnavailable', params: {} },
            ],
          },
        ],
        // Nothing was held, so nothing is returned or announced: only the tombstone is kept.
        'reservation.release': { target: 'released', actions: 'recordRelease' },
      },
    },
    held: {
      on: {
        'reservation.release': {
          target: 'released',
          actions: [
            'recordRelease',
            { type: 'returnStock', params: ({ context }) => ({ items: context.items }) },
            { type: 'publishInventoryReleased', params: {} },
          ],
        },
        'reservation.consume': {
          target: 'consumed',
          actions: [
            assign({ consumedAt: ({ event }) => event.at }),
            { type: 'consumeStock', params: ({ context }) => ({ items: context.items }) },
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

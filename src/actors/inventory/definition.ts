/**
 * How the reservation machine's actions become effects: stock movements in the service's tables,
 * in the same transaction as the snapshot, and events to the FULFILMENT stream through the outbox.
 */
import type { AnyMachineSnapshot } from 'xstate';
import { ReservationContextSchema } from './schema.ts';
import { consumeStock, holdStock, returnStock } from './stock.ts';
import { Event } from '../../contracts/subjects.ts';
import {
  MessageType,
  type InventoryConsumed,
  type InventoryReleased,
  type InventoryReserved,
  type InventoryUnavailable,
  type LineItem,
} from '../../contracts/index.ts';
import { publishes, type ActorDefinition } from '../../runtime/actor-host.ts';
import {
  reservationMachine,
  reservationMachineVersion,
  type ReservationContext,
} from '../../machines/reservation.ts';

const ctx = (s: AnyMachineSnapshot): ReservationContext => s.context as ReservationContext;

const ids = (c: ReservationContext) => ({
  ...(c.orderId ? { orderId: c.orderId } : {}),
  ...(c.cartId ? { cartId: c.cartId } : {}),
});

export const inventoryReservedPayload = (c: ReservationContext): InventoryReserved => ({
  reservationId: c.reservationId,
  ...ids(c),
  items: c.items,
  reservedAt: c.reservedAt ?? '',
});

export const inventoryUnavailablePayload = (c: ReservationContext): InventoryUnavailable => ({
  ...ids(c),
  unavailableItems: c.unavailableItems,
  checkedAt: c.checkedAt ?? '',
  reservationId: c.reservationId,
});

export const inventoryReleasedPayload = (c: ReservationContext): InventoryReleased => ({
  reservationId: c.reservationId,
  ...(c.orderId ? { orderId: c.orderId } : {}),
  ...(c.releaseReason ? { reason: c.releaseReason } : {}),
  releasedAt: c.releasedAt ?? '',
});

export const inventoryConsumedPayload = (c: ReservationContext): InventoryConsumed => ({
  reservationId: c.reservationId,
  ...(c.orderId ? { orderId: c.orderId } : {}),
  consumedAt: c.consumedAt ?? '',
});

export const reservationDefinition: ActorDefinition<typeof reservationMachine> = {
  kind: 'reservation',
  machine: reservationMachine,
  version: reservationMachineVersion,
  context: ReservationContextSchema,
  executors: {
    holdStock: (p: { items: LineItem[] }, fx, s) => {
      const c = ctx(s);
      holdStock(
        fx.db,
        { reservationId: c.reservationId, orderId: c.orderId, cartId: c.cartId, items: p.items },
        fx.now,
      );
    },
    returnStock: (p: { items: LineItem[] }, fx, s) =>
      returnStock(fx.db, ctx(s).reservationId, p.items, fx.now),
    consumeStock: (p: { items: LineItem[] }, fx, s) =>
      consumeStock(fx.db, ctx(s).reservationId, p.items, fx.now),
    publishInventoryReserved: publishes(Event.inventoryReserved, MessageType.inventoryReserved, (s) =>
      inventoryReservedPayload(ctx(s)),
    ),
    publishInventoryUnavailable: publishes(
      Event.inventoryUnavailable,
      MessageType.inventoryUnavailable,
      (s) => inventoryUnavailablePayload(ctx(s)),
    ),
    publishInventoryReleased: publishes(Event.inventoryReleased, MessageType.inventoryReleased, (s) =>
      inventoryReleasedPayload(ctx(s)),
    ),
    publishInventoryConsumed: publishes(Event.inventoryConsumed, MessageType.inventoryConsumed, (s) =>
      inventoryConsumedPayload(ctx(s)),
    ),
  },
};

/**
 * The Inventory Service's durable consumers on ORDERING (catalog decisions 8 and 9):
 *  - order-cancelled: release what the order holds (the stock goes back on the shelf);
 *  - order-completed: consume it (the goods left with the order).
 * Both events carry only an orderId, so the reservation is found through the reservations index.
 * The inbox key is the event's ce-id (per reservation), so a redelivery changes nothing; an order
 * with nothing held is acknowledged and ignored, as is a message that does not parse (redelivering
 * it would never help).
 */
import type { ZodType } from 'zod';
import { Durable, Event, Stream } from '../../contracts/subjects.ts';
import { MessageType, OrderCancelled, OrderCompleted } from '../../contracts/index.ts';
import { noReply, type DeliverOptions } from '../../runtime/actor-host.ts';
import { parseEventOrDrop } from '../../runtime/inbound.ts';
import type { ServiceRuntime } from '../../runtime/service.ts';
import { DEFAULT_ACK_WAIT_MS } from '../../runtime/transport/consumer-policy.ts';
import type { ReservationEvent } from '../../machines/reservation.ts';
import { heldReservationsOf } from './stock.ts';

/** What an order event does to a reservation: the same events for one store's and a partitioned inventory's. */
type OrderEffect = Extract<ReservationEvent, { type: 'reservation.release' | 'reservation.consume' }>;

/** The host of the reservations (either machine), as far as order events need it. */
interface ReservationHost {
  exclusive<T>(id: string, task: () => Promise<T>): Promise<T>;
  deliver(id: string, event: OrderEffect, opts: DeliverOptions): Promise<unknown>;
}

export async function consumeOrderEvents(
  rt: ServiceRuntime,
  reservations: ReservationHost,
  at: () => string,
): Promise<void> {
  const onOrder = async <T extends { orderId: string }>(
    durable: string,
    subject: string,
    type: string,
    schema: ZodType<T>,
    eventFor: (p: T) => OrderEffect,
  ): Promise<void> => {
    await rt.consume(
      { stream: Stream.ordering.name, durable, filterSubjects: [subject], ackWaitMs: DEFAULT_ACK_WAIT_MS },
      async (d) => {
        const parsed = parseEventOrDrop(rt.log, d, schema, type);
        if (!parsed) return;
        const { meta, payload } = parsed;
        const held = await rt.store.read((db) => heldReservationsOf(db, payload.orderId));
        for (const id of held) {
          await reservations.exclusive(id, () =>
            reservations.deliver(id, eventFor(payload), {
              inboxKey: `${durable}/${meta.id}/${id}`,
              cause: meta,
              reply: noReply,
            }),
          );
        }
      },
    );
  };

  await onOrder(
    Durable.inventoryOnOrderCancelled,
    Event.orderCancelled,
    MessageType.orderCancelled,
    OrderCancelled,
    () => ({
      type: 'reservation.release',
      at: at(),
      reason: 'ORDER_CANCELLED',
    }),
  );
  await onOrder(
    Durable.inventoryOnOrderCompleted,
    Event.orderCompleted,
    MessageType.orderCompleted,
    OrderCompleted,
    () => ({
      type: 'reservation.consume',
      at: at(),
    }),
  );
}

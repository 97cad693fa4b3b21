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
import type { ActorHost } from '../../runtime/actor-host.ts';
import { parseMessage, type Parsed } from '../../runtime/inbound.ts';
import type { ServiceRuntime } from '../../runtime/service.ts';
import { DEFAULT_ACK_WAIT_MS } from '../../runtime/transport/consumer-policy.ts';
import { RemoteError } from '../../runtime/transport/errors.ts';
import type { Delivery } from '../../runtime/transport/transport.ts';
import type { ReservationEvent, reservationMachine } from '../../machines/reservation.ts';
import { heldReservationsOf } from './stock.ts';


export async function consumeOrderEvents(
  rt: ServiceRuntime,
  reservations: ActorHost<typeof reservationMachine>,
  at: () => string,
): Promise<void> {
  const onOrder = async <T extends { orderId: string }>(
    durable: string,
    subject: string,
    type: string,
    schema: ZodType<T>,
    eventFor: (p: T) => ReservationEvent,
  ): Promise<void> => {
    await rt.consume(
      { stream: Stream.ordering.name, durable, filterSubjects: [subject], ackWaitMs: DEFAULT_ACK_WAIT_MS },
      async (d) => {
        const parsed = parseOrDrop(rt, d, schema, type);
        if (!parsed) return;
        const { meta, payload } = parsed;
        const held = await rt.store.read((db) => heldReservationsOf(db, payload.orderId));
        for (const id of held) {
          await reservations.exclusive(id, () =>
            reservations.deliver(id, eventFor(payload), {
              inboxKey: `${durable}/${meta.id}/${id}`,
              cause: meta,
              reply: () => undefined,
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

function parseOrDrop<T>(
  rt: ServiceRuntime,
  d: Delivery,
  schema: ZodType<T>,
  type: string,
): Parsed<T> | undefined {
  try {
    return parseMessage(d, schema, type);
  } catch (err) {
    if (!(err instanceof RemoteError)) throw err;
    rt.log.warn({ err, subject: d.subject, seq: d.seq }, 'dropping an event that does not parse');
    return undefined;
  }
}

/**
 * A partitioned inventory's two actors (PARTITIONS_INVENTORY > 1; src/machines/partitioned-reservation.ts):
 *  - `partitioned-reservation`, one per reservationId in the partition owning that id: asks each
 *    product's partition for a hold, and answers reserve-inventory once they are all in or one is
 *    refused. Its index row (reservations, reservation_items) lets order events find it by orderId;
 *    it moves no stock itself.
 *  - `stock-hold`, one per reservationId in each partition holding some of its products: the
 *    reservation machine of one partition's lines (all or nothing there, a release first leaves a
 *    tombstone), moving that partition's stock. It publishes nothing: the reservation announces
 *    the whole.
 */
import type { AnyMachineSnapshot } from 'xstate';
import { ReservationContextSchema } from './schema.ts';
import { consumeHold, holdInPartition, indexReservation, returnHold, setReservationStatus } from './stock.ts';
import { inventoryConsumedPayload, inventoryReleasedPayload, inventoryReservedPayload, inventoryUnavailablePayload } from './definition.ts';
import { Event, InventoryInternalCommand, routeTo } from '../../contracts/subjects.ts';
import { MessageType, LineItem, type LineItem as Line } from '../../contracts/index.ts';
import { InventoryInternalType, StockHeld, StockRefused } from '../../contracts/messages/inventory-partitions.ts';
import { publishes, type ActorDefinition, type Effects, type RequestOutcome } from '../../runtime/actor-host.ts';
import { reservationMachine, reservationMachineVersion } from '../../machines/reservation.ts';
import {
  partitionedReservationMachine,
  partitionedReservationMachineVersion,
  type HoldPart,
  type PartitionedReservationContext,
  type PartitionedReservationEvent,
} from '../../machines/partitioned-reservation.ts';
import { z } from 'zod';

const ctx = (s: AnyMachineSnapshot): PartitionedReservationContext => s.context as PartitionedReservationContext;
const none = (): void => undefined;

/** A stored partitioned reservation's context must parse before the host uses it. */
export const PartitionedReservationContextSchema = ReservationContextSchema.extend({
  parts: z.array(z.object({ partition: z.int().min(0), items: z.array(LineItem) })),
  held: z.array(z.int().min(0)),
});

/** The hold of one partition's lines of a reservation, in that partition. */
export const stockHoldDefinition: ActorDefinition<typeof reservationMachine> = {
  kind: 'stock-hold',
  machine: reservationMachine,
  version: reservationMachineVersion,
  context: ReservationContextSchema,
  executors: {
    holdStock: (p: { items: Line[] }, fx) => holdInPartition(fx.db, fx.actorId, p.items, fx.now),
    returnStock: (p: { items: Line[] }, fx) => returnHold(fx.db, fx.actorId, p.items, fx.now),
    consumeStock: (p: { items: Line[] }, fx) => consumeHold(fx.db, fx.actorId, p.items, fx.now),
    publishInventoryReserved: none,
    publishInventoryUnavailable: none,
    publishInventoryReleased: none,
    publishInventoryConsumed: none,
  },
};

export interface PartitionedReservationOptions {
  /** The inventory's partitions. */
  count: number;
  /** Deadline of each attempt of a hold, release or consume; the relay retries with the same key. */
  requestTimeoutMs: number;
  /** The time of a refusal that came as an error reply (it carries none). */
  now(): string;
}

/** The request slot of a partition's hold (release, consume): one outstanding per partition. */
const slotOf = (what: 'hold' | 'release' | 'consume', partition: number): string => `${what}/${partition}`;

export function partitionedReservationDefinition(o: PartitionedReservationOptions): ActorDefinition<typeof partitionedReservationMachine> {
  const ask = (fx: Effects, s: AnyMachineSnapshot, what: 'hold' | 'release' | 'consume', parts: readonly HoldPart[]) => {
    const c = ctx(s);
    const [subject, type] =
      what === 'hold'
        ? [InventoryInternalCommand.holdStock, InventoryInternalType.holdStock]
        : what === 'release'
          ? [InventoryInternalCommand.releaseStock, InventoryInternalType.releaseStock]
          : [InventoryInternalCommand.consumeStock, InventoryInternalType.consumeStock];
    for (const part of parts) {
      const payload = {
        reservationId: c.reservationId,
        ...(c.orderId ? { orderId: c.orderId } : {}),
        ...(c.cartId ? { cartId: c.cartId } : {}),
        items: part.items,
      };
      // Derived, never random: a hold is idempotent by (reservation, partition), so by (reservation, product).
      fx.request({ slot: slotOf(what, part.partition), subject: routeTo(subject, payload, { inventory: o.count }), type, payload, idempotencyKey: `${c.reservationId}:${type}:${part.partition}`, timeoutMs: o.requestTimeoutMs });
    }
  };
  return {
    kind: 'partitioned-reservation',
    machine: partitionedReservationMachine,
    version: partitionedReservationMachineVersion,
    context: PartitionedReservationContextSchema,
    executors: {
      requestHolds: (p: { parts: HoldPart[] }, fx, s) => ask(fx, s, 'hold', p.parts),
      cancelHolds: (p: { partitions: number[] }, fx) => {
        for (const k of p.partitions) fx.cancelRequest(slotOf('hold', k));
      },
      requestReleases: (p: { parts: HoldPart[] }, fx, s) => ask(fx, s, 'release', p.parts),
      requestConsumes: (p: { parts: HoldPart[] }, fx, s) => ask(fx, s, 'consume', p.parts),
      indexReservation: (p: { items: Line[] }, fx, s) => {
        const c = ctx(s);
        indexReservation(fx.db, { reservationId: c.reservationId, orderId: c.orderId, cartId: c.cartId, items: p.items }, fx.now);
      },
      indexStatus: (p: { status: 'RELEASED' | 'CONSUMED' }, fx) => setReservationStatus(fx.db, fx.actorId, p.status, fx.now),
      publishInventoryReserved: publishes(Event.inventoryReserved, MessageType.inventoryReserved, (s) => inventoryReservedPayload(ctx(s))),
      publishInventoryUnavailable: publishes(Event.inventoryUnavailable, MessageType.inventoryUnavailable, (s) => inventoryUnavailablePayload(ctx(s))),
      publishInventoryReleased: publishes(Event.inventoryReleased, MessageType.inventoryReleased, (s) => inventoryReleasedPayload(ctx(s))),
      publishInventoryConsumed: publishes(Event.inventoryConsumed, MessageType.inventoryConsumed, (s) => inventoryConsumedPayload(ctx(s))),
    },
    onReply: (slot, outcome) => holdReplyEvent(slot, outcome, () => o.now()),
  };
}

/**
 * A partition's answer to a hold, as the reservation's event: held, refused (with its short lines),
 * or refused without detail for an error that is not transient (a partition that does not own a
 * product: partition counts that disagree). Answers to releases and consumes only finish their
 * request: the reservation moved on when it asked.
 */
export function holdReplyEvent(slot: string, outcome: RequestOutcome, now: () => string): PartitionedReservationEvent | undefined {
  const [what, k] = slot.split('/');
  const partition = Number(k);
  if (what !== 'hold' || !Number.isInteger(partition)) return undefined;
  if (!outcome.ok) return { type: 'hold.refused', partition, at: now() };
  const body: unknown = JSON.parse(outcome.data);
  if (outcome.type === InventoryInternalType.stockHeld) {
    const held = StockHeld.safeParse(body);
    if (held.success) return { type: 'hold.held', partition, at: held.data.heldAt };
  }
  if (outcome.type === InventoryInternalType.stockRefused) {
    const refused = StockRefused.safeParse(body);
    if (refused.success) return { type: 'hold.refused', partition, at: refused.data.checkedAt, unavailableItems: refused.data.unavailableItems };
  }
  return { type: 'hold.refused', partition, at: now() };
}

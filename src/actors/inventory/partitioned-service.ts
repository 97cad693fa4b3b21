/**
 * A partitioned Inventory Service (PARTITIONS_INVENTORY = P > 1), one partition of it per runtime:
 * the stock of the products it owns (FNV-1a of the productId mod P), the reservations whose id it
 * owns, and the holds it keeps for reservations of any partition (docs/architecture.md,
 * "Partitions").
 *
 *   saga ─reserve-inventory.<r>─▶ reservation (partition r) ─hold-stock.<k>─▶ stock-hold (partition k)
 *        ◀─inventory-reserved / -unavailable─┘  once every hold is in, or one is refused
 *
 * reserve-inventory is answered when the reservation's outcome is decided: the handler waits for
 * the holds' replies (which come back as the reservation's own records) up to SETTLE_WAIT_MS, then
 * answers UNAVAILABLE, a transient error the saga retries with the same key; a repeat is answered
 * from the reservation's state, never asks again. release-inventory, the order events and
 * get-stock-level are served as with one partition, each by the partition owning its key.
 */
import type { AnyMachineSnapshot } from 'xstate';
import { Command, InventoryInternalCommand, partitionOf, Query, Stream } from '../../contracts/subjects.ts';
import { GetStockLevelRequest, MessageType, ReserveInventory, requestContract } from '../../contracts/index.ts';
import { InventoryInternalType, StockHoldCommand, type StockHeld, type StockHoldSettled, type StockRefused } from '../../contracts/messages/inventory-partitions.ts';
import { noReply, type Transitioned } from '../../runtime/actor-host.ts';
import { checkoutIdsFor } from '../../runtime/ids.ts';
import { parseMessage } from '../../runtime/inbound.ts';
import type { ServiceRuntime } from '../../runtime/service.ts';
import { ErrorCode, RemoteError } from '../../runtime/transport/errors.ts';
import { errorReply } from '../../runtime/transport/reply.ts';
import type { Reply } from '../../runtime/transport/transport.ts';
import { mergeItems, type ReservationContext, type ReservationEvent } from '../../machines/reservation.ts';
import { reservationSettled, type HoldPart, type PartitionedReservationEvent } from '../../machines/partitioned-reservation.ts';
import type { LineItem } from '../../contracts/index.ts';
import type { Seed } from '../seed/seed.ts';
import { consumeOrderEvents } from './consumers.ts';
import { partitionedReservationDefinition, stockHoldDefinition } from './partitioned-definition.ts';
import { releaseReply, reserveReply, stockLevelReply } from './replies.ts';
import { availableFor, seedStock } from './stock.ts';

/** How long reserve-inventory waits for the holds before answering UNAVAILABLE (the saga's attempt lasts 2 s). */
export const SETTLE_WAIT_MS = 2_000;
/** Deadline of each attempt of a hold, release or consume between partitions. */
const HOLD_REQUEST_TIMEOUT_MS = 2_000;

/** A reservation's lines grouped by the partition owning each product, in partition order. */
export function holdParts(items: readonly LineItem[], count: number): HoldPart[] {
  const parts = new Map<number, LineItem[]>();
  for (const i of mergeItems(items)) {
    const k = partitionOf(i.productId.toLowerCase(), count);
    parts.set(k, [...(parts.get(k) ?? []), i]);
  }
  return [...parts].sort(([a], [b]) => a - b).map(([partition, lines]) => ({ partition, items: lines }));
}

export async function startPartitionedInventory(rt: ServiceRuntime, seed: Seed): Promise<void> {
  const { count } = rt.partition;
  const owned = (productId: string) => rt.owns(productId);
  await rt.store.write((db) => seedStock(db, seed, rt.clock.now(), owned));
  await rt.transport.ensureStream(Stream.fulfilment.name, Stream.fulfilment.subjects);
  await rt.transport.ensureStream(Stream.ordering.name, Stream.ordering.subjects);
  const at = () => new Date(rt.clock.now()).toISOString();

  // ── the holds this partition keeps, for reservations of any partition ──
  const holds = rt.host(stockHoldDefinition);
  const ownsEvery = (items: readonly LineItem[]) => {
    const stray = items.find((i) => !owned(i.productId));
    if (stray) throw new RemoteError(ErrorCode.badRequest, `product ${stray.productId} belongs to partition ${partitionOf(stray.productId.toLowerCase(), count)} of inventory, not ${rt.partition.index}`);
  };
  const holdContext = (t: Transitioned) => t.snapshot.context as ReservationContext;
  await rt.command({
    subject: InventoryInternalCommand.holdStock,
    type: InventoryInternalType.holdStock,
    schema: StockHoldCommand,
    host: holds,
    actorId: (p) => p.reservationId,
    // Synchronous, as with one partition: no other hold runs between this read and the move.
    toEvent: (p): ReservationEvent => {
      ownsEvery(p.items);
      return { type: 'reservation.hold', at: at(), orderId: p.orderId ?? null, cartId: p.cartId ?? null, items: p.items, available: availableFor(rt.store.db, p.items) };
    },
    reply: (t, p, meta): Reply => {
      const c = holdContext(t);
      const state = String(t.snapshot.value);
      if (state === 'held' || state === 'consumed') {
        const body: StockHeld = { reservationId: p.reservationId, items: c.items, heldAt: c.reservedAt ?? at() };
        return rt.reply(InventoryInternalType.stockHeld, body, meta);
      }
      // Refused, or a tombstone: a release came first, so nothing may be held for this reservation now.
      const unavailableItems =
        state === 'refused' ? c.unavailableItems : mergeItems(p.items).map((i) => ({ productId: i.productId, requested: i.quantity, available: 0 }));
      const body: StockRefused = { reservationId: p.reservationId, unavailableItems, checkedAt: c.checkedAt ?? at() };
      return rt.reply(InventoryInternalType.stockRefused, body, meta);
    },
  });
  const settledHold = (verb: 'release' | 'consume') => {
    const [subject, type, done, replyType] =
      verb === 'release'
        ? [InventoryInternalCommand.releaseStock, InventoryInternalType.releaseStock, 'released', InventoryInternalType.stockReleased]
        : [InventoryInternalCommand.consumeStock, InventoryInternalType.consumeStock, 'consumed', InventoryInternalType.stockConsumed];
    return rt.command({
      subject,
      type,
      schema: StockHoldCommand,
      host: holds,
      actorId: (p) => p.reservationId,
      toEvent: (p): ReservationEvent => {
        ownsEvery(p.items);
        return verb === 'release' ? { type: 'reservation.release', at: at(), reason: null } : { type: 'reservation.consume', at: at() };
      },
      reply: (t, p, meta): Reply => {
        if (String(t.snapshot.value) !== done) return errorReply(ErrorCode.conflict, `hold of ${p.reservationId} is ${String(t.snapshot.value)}, cannot be ${done}`);
        const c = holdContext(t);
        const body: StockHoldSettled = { reservationId: p.reservationId, at: (verb === 'release' ? c.releasedAt : c.consumedAt) ?? at() };
        return rt.reply(replyType, body, meta);
      },
    });
  };
  await settledHold('release');
  await settledHold('consume');

  // ── the reservations whose id this partition owns ──
  const reservations = rt.host(partitionedReservationDefinition({ count, requestTimeoutMs: HOLD_REQUEST_TIMEOUT_MS, now: at }));
  const waiting = new Map<string, Set<() => void>>();
  reservations.observe((c) => {
    if (!reservationSettled(c.next.value)) return;
    const waiters = waiting.get(c.id);
    waiting.delete(c.id);
    for (const wake of waiters ?? []) wake();
  });
  /** The reservation once its outcome is decided; UNAVAILABLE (transient: the saga retries) after SETTLE_WAIT_MS. */
  const settled = async (id: string): Promise<AnyMachineSnapshot> => {
    const now = reservations.peek(id);
    if (now && reservationSettled(now.value)) return now;
    await new Promise<void>((resolve, reject) => {
      const waiters = waiting.get(id) ?? new Set<() => void>();
      waiting.set(id, waiters);
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(wake);
        if (waiters.size === 0 && waiting.get(id) === waiters) waiting.delete(id);
        reject(new RemoteError(ErrorCode.unavailable, `reservation ${id} is still waiting for its holds; retry`));
      }, SETTLE_WAIT_MS);
      waiters.add(wake);
    });
    return reservations.peek(id)!;
  };

  await rt.respond(Command.reserveInventory, async (msg) => {
    const { meta, payload } = parseMessage(msg, ReserveInventory, MessageType.reserveInventory);
    const ids = checkoutIdsFor(payload.cartId);
    const req = { reservationId: payload.reservationId ?? ids.reservationId, orderId: payload.orderId ?? ids.orderId, cartId: payload.cartId, items: payload.items, at: at() };
    if (!rt.owns(req.reservationId)) {
      throw new RemoteError(ErrorCode.badRequest, `${req.reservationId} belongs to partition ${partitionOf(req.reservationId.toLowerCase(), count)} of inventory, not ${rt.partition.index}`);
    }
    const event: PartitionedReservationEvent = { type: 'reservation.reserve', at: req.at, orderId: req.orderId, cartId: req.cartId, items: req.items, parts: holdParts(req.items, count) };
    // No inbox key: the reply is not known when the reserve commits. A repeat changes nothing
    // (the machine accepts one reserve) and is answered from the state, like the first.
    await reservations.exclusive(req.reservationId, () => reservations.deliver(req.reservationId, event, { cause: meta, reply: noReply }));
    return reserveReply(rt, await settled(req.reservationId), req, meta);
  });

  await rt.command({
    ...requestContract(Command.releaseInventory, MessageType.releaseInventory),
    host: reservations,
    actorId: (p) => p.reservationId,
    toEvent: (p): PartitionedReservationEvent => ({ type: 'reservation.release', at: at(), reason: p.reason ?? null }),
    reply: (t, p, meta) => releaseReply(rt, t.snapshot, p.reservationId, meta),
  });

  await rt.query(Query.getStockLevel, MessageType.getStockLevelRequest, GetStockLevelRequest, (p, meta) => {
    if (!owned(p.productId)) throw new RemoteError(ErrorCode.badRequest, `product ${p.productId} belongs to partition ${partitionOf(p.productId.toLowerCase(), count)} of inventory`);
    return stockLevelReply(rt, p.productId, meta);
  });

  await consumeOrderEvents(rt, reservations, at);
}

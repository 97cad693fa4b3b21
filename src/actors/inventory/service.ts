/**
 * Inventory Service (Fulfilment). Serves reserve-inventory, release-inventory and get-stock-level;
 * publishes inventory-reserved, inventory-unavailable, inventory-released and inventory-consumed
 * to FULFILMENT; consumes order-cancelled (release) and order-completed (consume) from ORDERING.
 *
 * A business refusal is a typed reply (inventory-unavailable), never an error. Every command is
 * idempotent twice over: the inbox replays the stored reply for a repeated idempotency key, and
 * the reservation machine answers a repeated intent (reserve what is held, release what is
 * released) with the same outcome, whatever the key.
 */
import { Command, Query, Stream } from '../../contracts/subjects.ts';
import {
  GetStockLevelRequest,
  MessageType,
  requestContract,
  type ReserveInventory,
} from '../../contracts/index.ts';
import { checkoutIdsFor } from '../../runtime/ids.ts';
import type { ServiceRuntime } from '../../runtime/service.ts';
import type { ReservationEvent } from '../../machines/reservation.ts';
import { loadSeed, type Seed } from '../seed/seed.ts';
import { consumeOrderEvents } from './consumers.ts';
import { startPartitionedInventory } from './partitioned-service.ts';
import { releaseReply, reserveReply, stockLevelReply, type ReserveRequest } from './replies.ts';
import { reservationDefinition } from './definition.ts';
import { availableFor, seedStock } from './stock.ts';

export { inventoryMigrations } from './schema.ts';
export { stockLevels, type StockLevel } from './stock.ts';

export interface InventoryServiceConfig {
  /** Stock loaded into an empty store at first start. Defaults to `loadSeed()` (SEED_FILE or built-in). */
  seed?: Seed;
}

export async function startInventoryService(
  rt: ServiceRuntime,
  config: InventoryServiceConfig = {},
): Promise<void> {
  const seed = config.seed ?? loadSeed();
  // Partitioned (PARTITIONS_INVENTORY > 1): stock by product, a reservation a saga of holds.
  if (rt.partition.count > 1) return startPartitionedInventory(rt, seed);
  await rt.store.write((db) => seedStock(db, seed, rt.clock.now()));
  await rt.transport.ensureStream(Stream.fulfilment.name, Stream.fulfilment.subjects);
  await rt.transport.ensureStream(Stream.ordering.name, Stream.ordering.subjects);

  const reservations = rt.host(reservationDefinition);
  const at = () => new Date(rt.clock.now()).toISOString();

  const requestOf = (p: ReserveInventory): ReserveRequest => {
    const ids = checkoutIdsFor(p.cartId);
    return { reservationId: p.reservationId ?? ids.reservationId, orderId: p.orderId ?? ids.orderId, cartId: p.cartId, items: p.items, at: at() };
  };
  await rt.command({
    ...requestContract(Command.reserveInventory, MessageType.reserveInventory),
    host: reservations,
    actorId: (p) => p.reservationId ?? checkoutIdsFor(p.cartId).reservationId,
    // Synchronous on purpose: `command` delivers a synchronous toEvent in the same tick, so no
    // other hold runs between this read of the stock and the transaction whose executor moves it,
    // and two holds cannot both see the last unit.
    toEvent: (p): ReservationEvent => {
      const req = requestOf(p);
      return { type: 'reservation.hold', at: req.at, orderId: req.orderId, cartId: req.cartId, items: req.items, available: availableFor(rt.store.db, req.items) };
    },
    reply: (t, p, meta) => reserveReply(rt, t.snapshot, requestOf(p), meta),
  });

  await rt.command({
    ...requestContract(Command.releaseInventory, MessageType.releaseInventory),
    host: reservations,
    actorId: (p) => p.reservationId,
    toEvent: (p): ReservationEvent => ({ type: 'reservation.release', at: at(), reason: p.reason ?? null }),
    reply: (t, p, meta) => releaseReply(rt, t.snapshot, p.reservationId, meta),
  });

  await rt.query(Query.getStockLevel, MessageType.getStockLevelRequest, GetStockLevelRequest, (p, meta) => stockLevelReply(rt, p.productId, meta));

  await consumeOrderEvents(rt, reservations, at);
}

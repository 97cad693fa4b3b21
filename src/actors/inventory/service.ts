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
  type GetStockLevelResponse,
  type InventoryUnavailable,
} from '../../contracts/index.ts';
import type { MessageMeta } from '../../contracts/headers.ts';
import type { Transitioned } from '../../runtime/actor-host.ts';
import { checkoutIdsFor } from '../../runtime/ids.ts';
import type { ServiceRuntime } from '../../runtime/service.ts';
import { ErrorCode, RemoteError } from '../../runtime/transport/errors.ts';
import { errorReply } from '../../runtime/transport/reply.ts';
import type { Reply } from '../../runtime/transport/transport.ts';
import {
  mergeItems,
  type ReservationContext,
  type ReservationEvent,
} from '../../machines/reservation.ts';
import { loadSeed, type Seed } from '../seed/seed.ts';
import { consumeOrderEvents } from './consumers.ts';
import {
  inventoryReleasedPayload,
  inventoryReservedPayload,
  inventoryUnavailablePayload,
  reservationDefinition,
} from './definition.ts';
import { availableFor, seedStock, stockLevel } from './stock.ts';

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
    reply: (t, p, meta) => reserveReply(rt, t, requestOf(p), meta),
  });

  await rt.command({
    ...requestContract(Command.releaseInventory, MessageType.releaseInventory),
    host: reservations,
    actorId: (p) => p.reservationId,
    toEvent: (p): ReservationEvent => ({ type: 'reservation.release', at: at(), reason: p.reason ?? null }),
    reply: (t, p, meta) => {
      const state = String(t.snapshot.value);
      if (state === 'released')
        return rt.reply(MessageType.inventoryReleased, inventoryReleasedPayload(context(t)), meta);
      if (state === 'consumed') {
        return errorReply(
          ErrorCode.conflict,
          `reservation ${p.reservationId} was consumed by its completed order and cannot be released`,
        );
      }
      return errorReply(ErrorCode.internal, `reservation ${p.reservationId} is ${state} after a release`);
    },
  });

  await rt.query(Query.getStockLevel, MessageType.getStockLevelRequest, GetStockLevelRequest, (p, meta) => {
    const level = stockLevel(rt.store.db, p.productId);
    if (!level) throw new RemoteError(ErrorCode.notFound, `product ${p.productId} not found`);
    const body: GetStockLevelResponse = {
      productId: level.productId,
      available: level.available,
      reserved: level.reserved,
    };
    return rt.reply(MessageType.getStockLevelResponse, body, meta);
  });

  await consumeOrderEvents(rt, reservations, at);
}

const context = (t: Transitioned) => t.snapshot.context as ReservationContext;

interface ReserveRequest {
  reservationId: string;
  orderId: string;
  cartId: string;
  items: ReserveInventory['items'];
  at: string;
}

function reserveReply(rt: ServiceRuntime, t: Transitioned, req: ReserveRequest, meta: MessageMeta): Reply {
  const c = context(t);
  const state = String(t.snapshot.value);
  switch (state) {
    case 'held':
    case 'consumed':
      return rt.reply(MessageType.inventoryReserved, inventoryReservedPayload(c), meta);
    case 'refused':
      return rt.reply(MessageType.inventoryUnavailable, inventoryUnavailablePayload(c), meta);
    case 'released': {
      // A tombstone: the saga gave up on this reservation, so nothing may be held for it now.
      const body: InventoryUnavailable = {
        orderId: c.orderId ?? req.orderId,
        cartId: c.cartId ?? req.cartId,
        unavailableItems: mergeItems(req.items).map((i) => ({
          productId: i.productId,
          requested: i.quantity,
          available: 0,
        })),
        checkedAt: req.at,
        reservationId: req.reservationId,
      };
      return rt.reply(MessageType.inventoryUnavailable, body, meta);
    }
    default:
      return errorReply(ErrorCode.internal, `reservation ${req.reservationId} is ${state} after a reserve`);
  }
}

/**
 * The Inventory Service's replies, built from a reservation's state: shared by the single store and
 * the partitioned inventory (whose reservation context has the same fields).
 */
import type { AnyMachineSnapshot } from 'xstate';
import { MessageType, type GetStockLevelResponse, type InventoryUnavailable, type ReserveInventory } from '../../contracts/index.ts';
import type { MessageMeta } from '../../contracts/headers.ts';
import type { ServiceRuntime } from '../../runtime/service.ts';
import { ErrorCode, RemoteError } from '../../runtime/transport/errors.ts';
import { errorReply } from '../../runtime/transport/reply.ts';
import type { Reply } from '../../runtime/transport/transport.ts';
import { mergeItems, type ReservationContext } from '../../machines/reservation.ts';
import { inventoryReleasedPayload, inventoryReservedPayload, inventoryUnavailablePayload } from './definition.ts';
import { stockLevel } from './stock.ts';

const context = (t: { snapshot: AnyMachineSnapshot }) => t.snapshot.context as ReservationContext;

export interface ReserveRequest {
  reservationId: string;
  orderId: string;
  cartId: string;
  items: ReserveInventory['items'];
  at: string;
}

/** reserve-inventory's reply, from the reservation's state (a partitioned one's context has the same fields). */
export function reserveReply(rt: ServiceRuntime, snapshot: AnyMachineSnapshot, req: ReserveRequest, meta: MessageMeta): Reply {
  const c = context({ snapshot });
  const state = String(snapshot.value);
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

/** release-inventory's reply, from the reservation's state after the release. */
export function releaseReply(rt: ServiceRuntime, snapshot: AnyMachineSnapshot, reservationId: string, meta: MessageMeta): Reply {
  const state = String(snapshot.value);
  if (state === 'released') return rt.reply(MessageType.inventoryReleased, inventoryReleasedPayload(context({ snapshot })), meta);
  if (state === 'consumed') {
    return errorReply(ErrorCode.conflict, `reservation ${reservationId} was consumed by its completed order and cannot be released`);
  }
  return errorReply(ErrorCode.internal, `reservation ${reservationId} is ${state} after a release`);
}

/** get-stock-level's reply, from this store's stock table. */
export function stockLevelReply(rt: ServiceRuntime, productId: string, meta: MessageMeta): Reply {
  const level = stockLevel(rt.store.db, productId);
  if (!level) throw new RemoteError(ErrorCode.notFound, `product ${productId} not found`);
  const body: GetStockLevelResponse = { productId: level.productId, available: level.available, reserved: level.reserved };
  return rt.reply(MessageType.getStockLevelResponse, body, meta);
}

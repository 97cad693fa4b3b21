/**
 * Fulfilment: the Inventory Service (inventory-system). Catalog messages under
 * domains/Fulfilment/systems/inventory-system/services/InventoryService, plus reserve-inventory,
 * which the catalog files under the CheckoutOrchestrator that sends it.
 */
import { z } from 'zod';
import { Count, DateTime, LineItem, Quantity, Uuid } from './common.ts';

// ---- Catalog: commands ---------------------------------------------------------------------

/**
 * catalog `reserve-inventory`, plus two optional fields of ours (decision 2/3):
 * - `orderId`: the order allocated when the checkout started;
 * - `reservationId`: derived deterministically by the orchestrator, so that `release-inventory`
 *   can name a reservation that may never have been made (a reserve that timed out).
 */
export const ReserveInventory = z.object({
  cartId: Uuid,
  customerId: Uuid.optional(),
  items: z.array(LineItem),
  orderId: Uuid.optional(),
  reservationId: Uuid.optional(),
});
export type ReserveInventory = z.infer<typeof ReserveInventory>;

export const ReleaseReason = z.enum(['CHECKOUT_FAILED', 'ORDER_CANCELLED', 'EXPIRED']);
export type ReleaseReason = z.infer<typeof ReleaseReason>;

/** catalog `release-inventory`. Idempotent; succeeds for a reservation that was never made. */
export const ReleaseInventory = z.object({
  reservationId: Uuid,
  reason: ReleaseReason.optional(),
});
export type ReleaseInventory = z.infer<typeof ReleaseInventory>;

// ---- Catalog: events (also the replies to reserve-inventory) ---------------------------------

/** catalog `inventory-reserved`. */
export const InventoryReserved = z.object({
  reservationId: Uuid,
  orderId: Uuid.optional(),
  cartId: Uuid.optional(),
  items: z.array(LineItem),
  reservedAt: DateTime,
});
export type InventoryReserved = z.infer<typeof InventoryReserved>;

export const UnavailableItem = z.object({
  productId: Uuid,
  requested: Quantity,
  available: Count,
});
export type UnavailableItem = z.infer<typeof UnavailableItem>;

/** catalog `inventory-unavailable`, plus our optional `reservationId` (the one that was not made). */
export const InventoryUnavailable = z.object({
  orderId: Uuid.optional(),
  cartId: Uuid.optional(),
  unavailableItems: z.array(UnavailableItem),
  checkedAt: DateTime,
  reservationId: Uuid.optional(),
});
export type InventoryUnavailable = z.infer<typeof InventoryUnavailable>;

// ---- Catalog: queries ----------------------------------------------------------------------

/** catalog `get-stock-level`, the `request` half. */
export const GetStockLevelRequest = z.object({
  productId: Uuid,
});
export type GetStockLevelRequest = z.infer<typeof GetStockLevelRequest>;

/** catalog `get-stock-level`, the `response` half. */
export const GetStockLevelResponse = z.object({
  productId: Uuid,
  available: Count,
  reserved: Count.optional(),
});
export type GetStockLevelResponse = z.infer<typeof GetStockLevelResponse>;

// ---- Additions (1.0.0) ---------------------------------------------------------------------

/** `inventory-released`: the reply to release-inventory, also published as an event. */
export const InventoryReleased = z.object({
  reservationId: Uuid,
  orderId: Uuid.optional(),
  reason: ReleaseReason.optional(),
  releasedAt: DateTime,
});
export type InventoryReleased = z.infer<typeof InventoryReleased>;

/** `inventory-consumed`: the reservation became a shipment when its order completed (decision 9). */
export const InventoryConsumed = z.object({
  reservationId: Uuid,
  orderId: Uuid.optional(),
  consumedAt: DateTime,
});
export type InventoryConsumed = z.infer<typeof InventoryConsumed>;

/**
 * Internal messages between the partitions of a partitioned Inventory Service
 * (PARTITIONS_INVENTORY > 1; docs/architecture.md, "Partitions"): not catalog messages, never seen
 * by another service, and absent when inventory has one partition. A reservation's actor, in the
 * partition owning its reservationId, asks the partition owning each of its products for a
 * *hold* of that partition's lines, and later releases or consumes it.
 *
 * Every command names the lines of the one partition it goes to (`items`): the sender routes it by
 * the first line's productId (`routeTo`, src/contracts/subjects.ts), and the receiver refuses a
 * line it does not own. A release or consume names the lines for routing only: the hold knows
 * what it holds.
 */
import { z } from 'zod';
import { DateTime, LineItem, Uuid } from './common.ts';
import { UnavailableItem } from './inventory.ts';

export const InventoryInternalType = {
  holdStock: 'hold-stock',
  releaseStock: 'release-stock',
  consumeStock: 'consume-stock',
  stockHeld: 'stock-held',
  stockRefused: 'stock-refused',
  stockReleased: 'stock-released',
  stockConsumed: 'stock-consumed',
} as const;
export type InventoryInternalType = (typeof InventoryInternalType)[keyof typeof InventoryInternalType];

/** `hold-stock`, `release-stock`, `consume-stock`: one reservation's lines in one partition. */
export const StockHoldCommand = z.object({
  reservationId: Uuid,
  orderId: Uuid.optional(),
  cartId: Uuid.optional(),
  items: z.array(LineItem).min(1),
});
export type StockHoldCommand = z.infer<typeof StockHoldCommand>;

/** `stock-held`: the partition holds every line it was asked for. */
export const StockHeld = z.object({
  reservationId: Uuid,
  items: z.array(LineItem),
  heldAt: DateTime,
});
export type StockHeld = z.infer<typeof StockHeld>;

/** `stock-refused`: it holds none of them (all or nothing), these are short; also the answer to a hold after a release (a tombstone). */
export const StockRefused = z.object({
  reservationId: Uuid,
  unavailableItems: z.array(UnavailableItem),
  checkedAt: DateTime,
});
export type StockRefused = z.infer<typeof StockRefused>;

/** `stock-released`, `stock-consumed`: the hold is released (or was never made) or consumed. */
export const StockHoldSettled = z.object({
  reservationId: Uuid,
  at: DateTime,
});
export type StockHoldSettled = z.infer<typeof StockHoldSettled>;

export const inventoryInternalSchemas = {
  'hold-stock': StockHoldCommand,
  'release-stock': StockHoldCommand,
  'consume-stock': StockHoldCommand,
  'stock-held': StockHeld,
  'stock-refused': StockRefused,
  'stock-released': StockHoldSettled,
  'stock-consumed': StockHoldSettled,
} as const satisfies Record<InventoryInternalType, z.ZodType>;

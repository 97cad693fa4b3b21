/**
 * Shopping: the Promotion Service (promotion-system). Catalog messages under
 * domains/Shopping/systems/promotion-system/services/PromotionService.
 */
import { z } from 'zod';
import { Currency, DateTime, NonNegativeMoney, Uuid } from './common.ts';

/** catalog `calculate-discount`, the `request` half. */
export const CalculateDiscountRequest = z.object({
  cartId: Uuid,
  customerId: Uuid.optional(),
  subtotal: NonNegativeMoney,
  currency: Currency,
  promotionCode: z.string().optional(),
});
export type CalculateDiscountRequest = z.infer<typeof CalculateDiscountRequest>;

/** catalog `calculate-discount`, the `response` half. */
export const CalculateDiscountResponse = z.object({
  discount: NonNegativeMoney,
  appliedPromotions: z.array(z.string()).optional(),
});
export type CalculateDiscountResponse = z.infer<typeof CalculateDiscountResponse>;

/** catalog `discount-calculated`. */
export const DiscountCalculated = z.object({
  eventId: Uuid,
  occurredAt: DateTime,
  cartId: Uuid,
  discount: NonNegativeMoney,
  currency: Currency,
  appliedPromotions: z.array(z.string()).optional(),
});
export type DiscountCalculated = z.infer<typeof DiscountCalculated>;

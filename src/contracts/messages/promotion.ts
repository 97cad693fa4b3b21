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

/**
 * `quote-promotion` query (ours): what a code would take off this cart now, asked before checkout
 * so the shopper sees the discount, or why there is none, while they can still act on it. A query:
 * nothing is stored or published (checkout's calculate-discount prices the cart again and is the
 * one that counts).
 */
export const QuotePromotionRequest = z.object({
  cartId: Uuid,
  customerId: Uuid.optional(),
  subtotal: NonNegativeMoney,
  currency: Currency,
  promotionCode: z.string().min(1),
});
export type QuotePromotionRequest = z.infer<typeof QuotePromotionRequest>;

export const QuotePromotionResponse = z.object({
  /** The code as the Promotion Service knows it (its own spelling), or as asked when unknown. */
  promotionCode: z.string(),
  discount: NonNegativeMoney,
  appliedPromotions: z.array(z.string()),
  /** Why the code gives no discount (UNKNOWN_CODE, EXPIRED, MIN_SPEND_NOT_MET...); absent when it applies. */
  rejectedReason: z.string().optional(),
  /** The subtotal the code needs, when that is why it does not apply. */
  minSpend: NonNegativeMoney.optional(),
});
export type QuotePromotionResponse = z.infer<typeof QuotePromotionResponse>;

/**
 * What the Promotion Service says back, beyond the catalog's calculate-discount response: when the
 * shopper's code gave no discount, `rejectedCode` says why ("expired", "minimum spend not met").
 * The catalog allows extra fields; it lives here, not in src/contracts, until the contracts test's
 * list of extensions takes it (adding it there is a one-line change to that test).
 */
import { z } from 'zod';
import { CalculateDiscountResponse } from '../../contracts/index.ts';

export const PromotionRejectionReason = z.enum([
  'UNKNOWN_CODE',
  'INACTIVE',
  'NOT_STARTED',
  'EXPIRED',
  'MIN_SPEND_NOT_MET',
  'CURRENCY_MISMATCH',
]);
export type PromotionRejectionReason = z.infer<typeof PromotionRejectionReason>;

/**
 * Read tolerantly: `reason` is any string, so that a reason added later never makes a checkout fail
 * to parse the discount. The Promotion Service only sends {@link PromotionRejectionReason}s.
 */
export const RejectedCode = z.object({ code: z.string(), reason: z.string() });
export type RejectedCode = z.infer<typeof RejectedCode>;

/** calculate-discount's response as the Promotion Service sends it (a superset of the catalog's). */
export const DiscountQuote = CalculateDiscountResponse.extend({ rejectedCode: RejectedCode.optional() });
export type DiscountQuote = z.infer<typeof DiscountQuote>;

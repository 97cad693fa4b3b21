/**
 * Pricing a promotion code: pure, with time passed in. A code that does not apply is not an error:
 * the discount is 0, nothing is applied, and `rejectedCode` says why.
 *
 *  - PERCENTAGE: floor(subtotal * value / 100); FIXED_AMOUNT: value, capped at the subtotal.
 *  - active, and startsAt <= now < endsAt (endsAt is exclusive; no endsAt means open-ended).
 *  - min spend: subtotal >= minSpend, both in the promotion's currency.
 *  - a promotion that carries amounts (FIXED_AMOUNT, or a min spend) applies only to carts in its
 *    currency; a plain percentage applies in any currency.
 */
import type { CalculateDiscountRequest } from '../../contracts/index.ts';
import type { DiscountQuote, PromotionRejectionReason } from './messages.ts';

export interface PromotionRule {
  promotionId: string;
  code: string;
  type: 'PERCENTAGE' | 'FIXED_AMOUNT';
  value: number;
  currency: string;
  minSpend: number | null;
  startsAt: number;
  endsAt: number | null;
  active: boolean;
}

/** The code as a shopper may type it: surrounding blanks dropped; codes match case-insensitively. */
export const normaliseCode = (code: string | undefined): string | undefined => {
  const c = code?.trim();
  return c ? c : undefined;
};

function ineligibility(
  rule: PromotionRule,
  req: CalculateDiscountRequest,
  now: number,
): PromotionRejectionReason | null {
  if (!rule.active) return 'INACTIVE';
  if (now < rule.startsAt) return 'NOT_STARTED';
  if (rule.endsAt !== null && now >= rule.endsAt) return 'EXPIRED';
  const hasAmounts = rule.type === 'FIXED_AMOUNT' || rule.minSpend !== null;
  if (hasAmounts && req.currency !== rule.currency) return 'CURRENCY_MISMATCH';
  if (rule.minSpend !== null && req.subtotal < rule.minSpend) return 'MIN_SPEND_NOT_MET';
  return null;
}

export function discountFor(rule: PromotionRule, subtotal: number): number {
  const raw = rule.type === 'PERCENTAGE' ? Math.floor((subtotal * rule.value) / 100) : rule.value;
  return Math.min(raw, subtotal);
}

/** The discount for a request, given the rule its code names (undefined for an unknown code). */
export function quote(
  rule: PromotionRule | undefined,
  req: CalculateDiscountRequest,
  now: number,
): DiscountQuote {
  const code = normaliseCode(req.promotionCode);
  if (code === undefined) return { discount: 0, appliedPromotions: [] };
  if (!rule) return { discount: 0, appliedPromotions: [], rejectedCode: { code, reason: 'UNKNOWN_CODE' } };
  const reason = ineligibility(rule, req, now);
  if (reason) return { discount: 0, appliedPromotions: [], rejectedCode: { code: rule.code, reason } };
  return { discount: discountFor(rule, req.subtotal), appliedPromotions: [rule.code] };
}

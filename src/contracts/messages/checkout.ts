/**
 * Ordering: the Checkout API and its orchestrator (checkout-system). The catalog gives the
 * orchestrator no messages of its own to receive, so everything here is ours (decision 4: the
 * checkout's progress is its own resource, `GET /checkouts/{checkoutId}`).
 */
import { z } from 'zod';
import { Currency, DateTime, Money, Uuid } from './common.ts';
import { CancellationDetail, CancellationReason } from './order.ts';

export const CheckoutState = z.enum(['PENDING', 'CONFIRMED', 'CANCELLED', 'NEEDS_ATTENTION']);
export type CheckoutState = z.infer<typeof CheckoutState>;

export const CheckoutStep = z.enum([
  'RESERVING_INVENTORY',
  'AUTHORIZING_PAYMENT',
  'CREATING_ORDER',
  'COMPENSATING',
  'DONE',
]);
export type CheckoutStep = z.infer<typeof CheckoutStep>;

/**
 * The checkout status document: the reply to get-checkout, the body of checkout-status-changed,
 * and the value in the `checkouts` KV bucket.
 * - `reason`: the catalog's cancellation reason, set when CANCELLED;
 * - `detail`: the precise cause;
 * - `reasonText`: the same in plain words, for the shopper.
 */
export const CheckoutStatus = z.object({
  checkoutId: Uuid,
  orderId: Uuid,
  cartId: Uuid,
  customerId: Uuid,
  status: CheckoutState,
  step: CheckoutStep,
  reason: CancellationReason.optional(),
  detail: CancellationDetail.optional(),
  reasonText: z.string().optional(),
  total: Money.optional(),
  currency: Currency.optional(),
  updatedAt: DateTime,
});
export type CheckoutStatus = z.infer<typeof CheckoutStatus>;

/** `get-checkout` query. Replies with a {@link CheckoutStatus}. */
export const GetCheckoutRequest = z.object({
  checkoutId: Uuid,
});
export type GetCheckoutRequest = z.infer<typeof GetCheckoutRequest>;

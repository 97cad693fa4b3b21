/**
 * Payments: the Payment API. Only authorize-payment is in the catalog (filed under the
 * CheckoutOrchestrator that sends it); every other message here is ours (decisions 2, 3, 8, 9).
 */
import { z } from 'zod';
import { Currency, DateTime, NonNegativeMoney, Uuid } from './common.ts';

// ---- Catalog: commands ---------------------------------------------------------------------

/** catalog `authorize-payment`: keeps `cartId`, plus our optional `orderId` (decision 7). */
export const AuthorizePayment = z.object({
  cartId: Uuid,
  customerId: Uuid.optional(),
  amount: NonNegativeMoney,
  currency: Currency,
  orderId: Uuid.optional(),
});
export type AuthorizePayment = z.infer<typeof AuthorizePayment>;

// ---- Additions (1.0.0): outcomes of authorize-payment --------------------------------------

/** `payment-authorized`: reply to authorize-payment, also published as an event. */
export const PaymentAuthorized = z.object({
  authorizationId: Uuid,
  orderId: Uuid,
  cartId: Uuid,
  customerId: Uuid.optional(),
  amount: NonNegativeMoney,
  currency: Currency,
  authorizedAt: DateTime,
});
export type PaymentAuthorized = z.infer<typeof PaymentAuthorized>;

/** `VOIDED`: the order's payment was voided before this authorization arrived. */
export const PaymentDeclineReason = z.enum(['DECLINED', 'FRAUD', 'VOIDED']);
export type PaymentDeclineReason = z.infer<typeof PaymentDeclineReason>;

/** `payment-declined`: reply to authorize-payment, also published as an event. */
export const PaymentDeclined = z.object({
  orderId: Uuid,
  cartId: Uuid,
  reason: PaymentDeclineReason,
  message: z.string().optional(),
  declinedAt: DateTime,
});
export type PaymentDeclined = z.infer<typeof PaymentDeclined>;

// ---- Additions (1.0.0): compensation and capture -------------------------------------------

export const VoidReason = z.enum(['CHECKOUT_FAILED', 'ORDER_CANCELLED']);
export type VoidReason = z.infer<typeof VoidReason>;

/** `void-payment`: idempotent; succeeds when nothing was authorized (decision 3). */
export const VoidPayment = z.object({
  orderId: Uuid,
  authorizationId: Uuid.optional(),
  reason: VoidReason,
});
export type VoidPayment = z.infer<typeof VoidPayment>;

/** `payment-voided`: reply to void-payment, also published as an event. */
export const PaymentVoided = z.object({
  orderId: Uuid,
  authorizationId: Uuid.optional(),
  voidedAt: DateTime,
});
export type PaymentVoided = z.infer<typeof PaymentVoided>;

/** `payment-captured`: the authorization was captured when its order completed (decision 9). */
export const PaymentCaptured = z.object({
  orderId: Uuid,
  authorizationId: Uuid,
  amount: NonNegativeMoney,
  currency: Currency,
  capturedAt: DateTime,
});
export type PaymentCaptured = z.infer<typeof PaymentCaptured>;

// ---- Additions (1.0.0): queries ------------------------------------------------------------

export const PaymentStatus = z.enum(['PENDING', 'AUTHORIZED', 'DECLINED', 'VOIDED', 'CAPTURED']);
export type PaymentStatus = z.infer<typeof PaymentStatus>;

/** `get-payment` query. */
export const GetPaymentRequest = z.object({
  orderId: Uuid,
});
export type GetPaymentRequest = z.infer<typeof GetPaymentRequest>;

export const GetPaymentResponse = z.object({
  orderId: Uuid,
  authorizationId: Uuid.optional(),
  status: PaymentStatus,
  amount: NonNegativeMoney.optional(),
  currency: Currency.optional(),
});
export type GetPaymentResponse = z.infer<typeof GetPaymentResponse>;

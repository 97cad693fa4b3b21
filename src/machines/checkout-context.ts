/**
 * The checkout saga's context and the words it shares with the contracts. The context's type is
 * inferred from the schema a stored saga must parse before its host uses it, so the two cannot
 * drift; the failure causes, reasons and line items are the contracts' own.
 */
import { z } from 'zod';
import { CancellationDetail, Currency, PricedLineItem, Uuid, type CancellationReason } from '../contracts/index.ts';

/** The catalog's cancellation reasons (CancelOrder.reason). */
export type CancelReason = CancellationReason;

/** The precise cause of a failed checkout: every cancellation cause but the shopper's own. */
export const FailureDetail = CancellationDetail.exclude(['CUSTOMER_REQUESTED']);
export type FailureDetail = z.infer<typeof FailureDetail>;

/** A cart line as the saga carries it: `{productId, quantity, unitPrice}`. */
export type LineItem = PricedLineItem;

const ForwardStep = z.enum(['reserveInventory', 'authorizePayment', 'createOrder']);
export type ForwardStep = z.infer<typeof ForwardStep>;
const CompensationStep = z.enum(['voidPayment', 'releaseInventory', 'cancelOrder']);
export type CompensationStep = z.infer<typeof CompensationStep>;

/** Not yet known: the context before `checkout.started`. */
const unset = z.literal('');

export const Deadlines = z.object({
  reserveInventoryMs: z.int().min(0),
  authorizePaymentMs: z.int().min(0),
  createOrderMs: z.int().min(0),
  /** How long a compensation may keep failing before the saga needs attention. */
  compensationMs: z.int().min(0),
});
export type Deadlines = z.infer<typeof Deadlines>;

/** A stored saga context must parse before the host uses it. */
export const CheckoutContextSchema = z.object({
  checkoutId: Uuid,
  orderId: z.union([Uuid, unset]),
  cartId: z.union([Uuid, unset]),
  customerId: z.union([Uuid, unset]),
  reservationId: z.union([Uuid, unset]),
  items: z.array(PricedLineItem),
  subtotal: z.int(),
  discount: z.int(),
  total: z.int(),
  currency: Currency,
  deadlines: Deadlines,
  /** Forward steps whose request was sent: each may have taken effect, so each is undone. */
  attempted: z.array(ForwardStep),
  compensated: z.array(CompensationStep),
  authorizationId: z.string().nullable(),
  failure: FailureDetail.nullable(),
  startedAt: z.number().nullable(),
});
export type CheckoutContext = z.infer<typeof CheckoutContextSchema>;

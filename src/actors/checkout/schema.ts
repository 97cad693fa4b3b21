/** The Checkout Orchestrator's store: the actor host's tables hold the sagas; nothing else is needed. */
import { z } from 'zod';
import { CancellationDetail, Currency, PricedLineItem, Uuid } from '../../contracts/index.ts';
import { runtimeMigrations } from '../../runtime/schema.ts';
import type { Migration } from '../../runtime/store.ts';

export const checkoutMigrations: readonly Migration[] = [...runtimeMigrations];

const ForwardStep = z.enum(['reserveInventory', 'authorizePayment', 'createOrder']);
const CompensationStep = z.enum(['voidPayment', 'releaseInventory', 'cancelOrder']);

/** A stored saga context must parse before the host uses it. */
export const CheckoutContextSchema = z.object({
  checkoutId: Uuid,
  orderId: z.union([Uuid, z.literal('')]),
  cartId: z.union([Uuid, z.literal('')]),
  customerId: z.union([Uuid, z.literal('')]),
  reservationId: z.union([Uuid, z.literal('')]),
  items: z.array(PricedLineItem),
  subtotal: z.int(),
  discount: z.int(),
  total: z.int(),
  currency: Currency,
  deadlines: z.object({
    reserveInventoryMs: z.int().min(0),
    authorizePaymentMs: z.int().min(0),
    createOrderMs: z.int().min(0),
    compensationMs: z.int().min(0),
  }),
  attempted: z.array(ForwardStep),
  compensated: z.array(CompensationStep),
  authorizationId: z.string().nullable(),
  failure: CancellationDetail.exclude(['CUSTOMER_REQUESTED']).nullable(),
  startedAt: z.number().nullable(),
});

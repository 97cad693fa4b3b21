/**
 * The seam to the payment processor (Stripe in the catalog). The Payment API asks it once per
 * order, inside the order's mailbox. A business refusal is an answer (`declined`); trouble
 * reaching the processor is a thrown error, which the Payment API turns into an UNAVAILABLE reply
 * so that the caller retries with the same idempotency key.
 */
import type { ProcessorVerdict } from '../../machines/authorization.ts';

export interface AuthorizationRequest {
  /** Also the processor's idempotency key: one authorization per order, however often asked. */
  orderId: string;
  customerId?: string | undefined;
  /** Minor units. */
  amount: number;
  currency: string;
}

export interface PaymentProcessor {
  authorize(req: AuthorizationRequest): Promise<ProcessorVerdict>;
}

/** The processor could not be reached or did not decide: nothing was authorized, ask again. */
export class ProcessorUnavailableError extends Error {
  override readonly name = 'ProcessorUnavailableError';
}

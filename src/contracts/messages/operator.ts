/**
 * Operator commands to the orchestrator: our addition, not the catalog's. A saga parked in
 * `needsAttention` (a compensation that kept failing) may be told to try its stuck step again,
 * which is the one thing its machine accepts there (`operator.retry`).
 */
import { z } from 'zod';
import { Uuid } from './common.ts';

export const OperatorMessageType = {
  retryCheckoutRequest: 'retry-checkout.request',
  retryCheckoutResponse: 'retry-checkout.response',
} as const;
export type OperatorMessageType = (typeof OperatorMessageType)[keyof typeof OperatorMessageType];

/** A checkout id, or the order id of a checkout. */
export const RetryCheckoutRequest = z.object({ checkoutId: Uuid });
export type RetryCheckoutRequest = z.infer<typeof RetryCheckoutRequest>;

export const RetryCheckoutResponse = z
  .object({
    checkoutId: Uuid,
    /** The state the saga moved to: the stuck step, trying again. */
    state: z.string(),
  })
  .describe('The saga accepted the retry and is sending its stuck step again.');
export type RetryCheckoutResponse = z.infer<typeof RetryCheckoutResponse>;

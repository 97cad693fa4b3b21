/**
 * When a call outside an actor (the gateway, a service asking another, the bench) asks again. A
 * request has one deadline, its `timeoutMs` from the first attempt; every attempt gets what is left
 * of it, and a retry is made only if it can start before the deadline with time to be answered.
 *
 * Asked again: UNAVAILABLE (a slot handing over, a processor outage: the responder changed nothing
 * and says to retry) and "no responders" (nobody subscribed for a moment: a slot between two owners,
 * a process restarting). Each retry carries the first attempt's message id and idempotency key, so
 * the responder's inbox answers a repeat of something it did with the stored reply instead of
 * doing it twice (service.ts `command`). Never asked again: a refusal (BAD_REQUEST, NOT_FOUND,
 * CONFLICT), a failure (INTERNAL), a reply that does not parse, a closed transport, and a timeout,
 * which has used the whole deadline.
 *
 * The delay doubles from `baseMs` up to `maxMs`, with equal jitter (half fixed, half random) so that
 * callers refused together do not come back together.
 */
import { ErrorCode, NoRespondersError, RemoteError } from './transport/errors.ts';

export interface RetryPolicy {
  /** The first retry's delay (before jitter). */
  baseMs: number;
  /** The longest delay (before jitter). */
  maxMs: number;
  /** A retry is made only if at least this much of the deadline is left after its delay. */
  minAttemptMs: number;
}

/** A hand-over serves again within about 2-3 s under load: retries every 0.5 s at most, a few of them. */
export const CALL_RETRY: RetryPolicy = { baseMs: 25, maxMs: 500, minAttemptMs: 100 };

/** Why a call is retried (the `reason` label of `client_retries_total`), or undefined: it is not. */
export function retryReason(err: unknown): 'UNAVAILABLE' | 'NO_RESPONDERS' | undefined {
  if (err instanceof NoRespondersError) return 'NO_RESPONDERS';
  if (err instanceof RemoteError && err.code === ErrorCode.unavailable) return 'UNAVAILABLE';
  return undefined;
}

/**
 * The pause before retry number `retry` (0 for the first), with `leftMs` of the deadline left and
 * `random` uniform in [0, 1); undefined when the retry would not leave `minAttemptMs` before the
 * deadline (the caller gives up with the last error).
 */
export function retryDelay(retry: number, leftMs: number, random: number, policy: RetryPolicy = CALL_RETRY): number | undefined {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(retry, 16));
  const delay = ceiling / 2 + random * (ceiling / 2);
  return leftMs - delay >= policy.minAttemptMs ? delay : undefined;
}

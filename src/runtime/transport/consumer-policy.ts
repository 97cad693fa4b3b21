/** Consumer and stream defaults both transports share, so a service behaves the same on either. */

/** A nak without an explicit delay waits this long, so a failing handler does not spin. */
export const DEFAULT_RETRY_DELAY_MS = 250;
/**
 * How long a delivery may stay unacked by a consumer that has stopped working on it before another
 * gets it. Short, because both transports keep a delivery alive while its handler runs (progress
 * acks on NATS): it bounds the failover after an instance dies, not a handler's running time.
 */
export const DEFAULT_ACK_WAIT_MS = 3_000;
/**
 * How long a running handler keeps its delivery alive at most. A handler still running after this
 * is presumed stuck (every request it makes has a deadline far shorter), and its delivery goes to
 * another member one ack wait later, as it would from a dead instance.
 */
export const MAX_HOLD_MS = 120_000;
/** nats-server's own default for max_ack_pending. */
export const DEFAULT_MAX_ACK_PENDING = 1000;
/** How long a stream remembers a message id for de-duplication: JetStream's default, which both transports keep. */
export const DUPLICATE_WINDOW_MS = 2 * 60_000;
/**
 * How long a domain event stream keeps a message (JetStream's `max_age`). Consumers ack within
 * seconds; a day is the window to recover a consumer that stopped, and the journal's own retention.
 * On NATS a message older than this is removed whether or not every consumer took it (limits
 * retention); the in-process event log also waits for every consumer's ack floor.
 */
export const EVENT_RETENTION_MS = 24 * 3_600_000;

/** The nak delay for a handler failure: the error's numeric `retryAfterMs`, else the default. */
export function retryDelayOf(err: unknown): number {
  const ms = (err as { retryAfterMs?: unknown } | null | undefined)?.retryAfterMs;
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? ms : DEFAULT_RETRY_DELAY_MS;
}

/** nats-server 2.9 has one `filter_subject` per consumer; the in-process transport mirrors the limit. */
export function singleFilter(durable: string, filterSubjects: readonly string[]): string | undefined {
  if (filterSubjects.length > 1) {
    throw new Error(
      `consumer ${durable}: nats-server 2.9 supports one filter subject per consumer, got ${filterSubjects.length}; use one durable per subject`,
    );
  }
  return filterSubjects[0];
}

/** Translations between nats.js and the transport contract: errors, and JetStream's PubAck (headers: nats-headers.ts). */
import { errors as natsErrors } from '@nats-io/transport-node';
import type { PublishAck } from './transport.ts';
import { NoRespondersError, RequestTimeoutError, TransportClosedError, TransportError } from './errors.ts';

/** The server refused a publish or subscription under this user's permissions. */
export class PermissionDeniedError extends TransportError {
  override readonly name = 'PermissionDeniedError';
  constructor(
    readonly operation: string,
    readonly subject: string,
    options?: ErrorOptions,
  ) {
    super(`permission denied: ${operation} on ${subject}`, options);
  }
}

/**
 * Translates nats.js errors into the contract's typed errors where there is an equivalent; the
 * nats.js error stays on as the translation's `cause`.
 */
export function mapNatsError(err: unknown, subject: string, timeoutMs: number): Error {
  const cause = { cause: err };
  if (err instanceof natsErrors.NoRespondersError) return new NoRespondersError(subject, cause);
  // A JetStream call nats.js makes itself (KV reads, bucket creation) on a subject no stream captures
  // comes back as a 503, which nats.js reports as "jetstream is not enabled".
  if (err instanceof Error && err.name === 'JetStreamNotEnabled') return new NoRespondersError(subject, cause);
  if (err instanceof natsErrors.TimeoutError) return new RequestTimeoutError(subject, timeoutMs, cause);
  if (err instanceof natsErrors.ClosedConnectionError || err instanceof natsErrors.DrainingConnectionError) {
    return new TransportClosedError(cause);
  }
  return err instanceof Error ? err : new TransportError(String(err), cause);
}

/** JetStream answered a publish with an error, e.g. a KV create whose key exists (err_code 10071). */
export class JetStreamRefused extends TransportError {
  override readonly name = 'JetStreamRefused';
  constructor(
    subject: string,
    readonly code: number | undefined,
    readonly errCode: number | undefined,
    description: string | undefined,
  ) {
    super(`JetStream refused the publish to ${subject}: ${description ?? 'unknown error'} (${code ?? '?'}/${errCode ?? '?'})`);
  }
}

/** JetStream's answer to a publish: `{stream, seq, duplicate?}`, or `{error: {code, err_code, description}}`. */
export function pubAckOf(subject: string, body: string): PublishAck {
  const notAnAck = () => new TransportError(`publish to ${subject}: not a JetStream acknowledgement: ${body.slice(0, 200)}`);
  let ack: { stream?: unknown; seq?: unknown; duplicate?: unknown; error?: { code?: number; err_code?: number; description?: string } };
  try {
    ack = JSON.parse(body) as typeof ack;
  } catch {
    throw notAnAck();
  }
  if (ack.error) throw new JetStreamRefused(subject, ack.error.code, ack.error.err_code, ack.error.description);
  if (typeof ack.stream !== 'string' || typeof ack.seq !== 'number') throw notAnAck();
  return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate === true };
}

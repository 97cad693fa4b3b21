/**
 * Helpers the per-service integration tests share: waiting for an assertion to hold, letting the
 * relay and the bus catch up, and publishing an event as another service would.
 */
import { metaToHeaders } from '../../src/contracts/headers.ts';
import { newId } from '../../src/runtime/ids.ts';
import type { Transport } from '../../src/runtime/transport/transport.ts';

/** Retries `check` until it stops throwing, or rethrows its last failure after `timeoutMs`. */
export async function eventually(check: () => void, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 10 ms until it holds, or fails after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

/** Lets the outbox relay and the bus catch up, so that "nothing more was published" means something. */
export const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 150));

/**
 * Publishes an event with its CloudEvents headers, as its owning service would. Each call uses a
 * fresh stream message id, so the same `eventId` twice is what a redelivery looks like to a consumer.
 */
export async function publishEvent(
  transport: Transport,
  subject: string,
  type: string,
  payload: object,
  eventId = newId(),
  source = 'urn:test:orders',
): Promise<void> {
  const headers = metaToHeaders({ id: eventId, type, source, time: new Date().toISOString(), correlationId: eventId });
  await transport.publish(subject, JSON.stringify(payload), headers, newId());
}

/**
 * Finding the orchestrator instance that holds a saga, by its checkout id or by its order id.
 * Each instance keeps its sagas in its own store: an instance asked about one it does not hold
 * forwards the request to the owner's own subject (the saga-owners claim names it), or, for an
 * order id (which has no claim), asks every registered instance in turn.
 */
import type { Db } from '../../runtime/store.ts';
import type { ServiceRuntime } from '../../runtime/service.ts';
import { ErrorCode, isTransient, RemoteError } from '../../runtime/transport/errors.ts';
import type { Kv, Message, Reply } from '../../runtime/transport/transport.ts';
import { registeredInstances } from './instances.ts';

/** The checkout id of the saga this store holds under `id`, as its checkout id or its order id. */
export function localCheckoutId(db: Db, id: string): string | undefined {
  const direct = db.prepare(`SELECT id FROM actors WHERE kind = 'checkout' AND id = ?`).pluck().get(id) as string | undefined;
  if (direct) return direct;
  return db
    .prepare(`SELECT id FROM actors WHERE kind = 'checkout' AND json_extract(snapshot, '$.context.orderId') = ? LIMIT 1`)
    .pluck()
    .get(id) as string | undefined;
}

/**
 * Sends `msg` on to whichever other instance holds `id` (at `subjectAt(instance)`), and returns its
 * reply; undefined when no instance holds it.
 *
 * An instance that does not answer (cut off, or gone without deregistering) may be the holder, so
 * its silence is not "not found": the caller gets UNAVAILABLE, a transient error it may retry,
 * rather than INTERNAL or a false NOT_FOUND. An instance that does answer NOT_FOUND is passed over.
 */
export async function forwardToHolder(
  rt: Pick<ServiceRuntime, 'transport'>,
  owners: Kv,
  self: string,
  id: string,
  subjectAt: (instanceId: string) => string,
  msg: Message,
): Promise<Reply | undefined> {
  const ask = async (instance: string): Promise<Reply> => {
    try {
      const r = await rt.transport.request(subjectAt(instance), msg.data, { timeoutMs: 2_000, headers: msg.headers });
      return { headers: r.headers, data: r.data };
    } catch (err) {
      if (!isTransient(err)) throw err;
      const why = err instanceof Error ? err.message : String(err);
      throw new RemoteError(ErrorCode.unavailable, `instance ${instance}, which may hold ${id}, did not answer: ${why}`);
    }
  };
  const owner = (await owners.get(id))?.value;
  if (owner) return owner === self ? undefined : ask(owner);
  let silent: RemoteError | undefined;
  for (const instance of await registeredInstances(owners)) {
    if (instance === self) continue;
    try {
      return await ask(instance);
    } catch (err) {
      if (err instanceof RemoteError && err.code === ErrorCode.notFound) continue;
      if (err instanceof RemoteError && err.code === ErrorCode.unavailable) {
        silent ??= err;
        continue;
      }
      throw err;
    }
  }
  if (silent) throw silent;
  return undefined;
}

/**
 * The saga's business metrics, counted from committed transitions (after their commit is durable,
 * so a rolled-back batch counts nothing): started, confirmed, cancelled by reason, and parked in
 * needsAttention. How many are parked *now* is read from the store when Prometheus scrapes.
 */
import type { ActorHost, Committed } from '../../runtime/actor-host.ts';
import { checkoutsCancelled, checkoutsConfirmed, checkoutsStarted, sagasEnteredAttention, sampleAtScrape } from '../../runtime/metrics.ts';
import type { ServiceRuntime } from '../../runtime/service.ts';
import { reasonForCause } from '../../contracts/index.ts';
import type { CheckoutContext } from '../../machines/checkout.ts';

const parked = (value: unknown): boolean => JSON.stringify(value).includes('needsAttention');

function count({ previous, next }: Committed): void {
  const from: unknown = previous?.value;
  const to: unknown = next.value;
  if ((from === undefined || from === 'idle') && to === 'reservingInventory') checkoutsStarted.inc();
  else if (to === 'confirmed' && from !== 'confirmed') checkoutsConfirmed.inc();
  else if (to === 'cancelled' && from !== 'cancelled') {
    const detail = (next.context as CheckoutContext).failure ?? 'ORDER_REJECTED';
    checkoutsCancelled.inc({ reason: reasonForCause[detail], detail });
  } else if (typeof to === 'object' && parked(to) && !parked(from)) sagasEnteredAttention.inc();
}

export function countCheckouts(rt: ServiceRuntime, sagas: ActorHost, instanceId: string): void {
  sagas.observe(count);
  const parkedNow = rt.store.db.prepare(`SELECT count(*) FROM actors WHERE kind = 'checkout' AND state LIKE '%needsAttention%'`).pluck();
  sampleAtScrape('attention', instanceId, () => {
    if (rt.store.closed) throw new Error('store closed');
    return parkedNow.get() as number;
  });
}

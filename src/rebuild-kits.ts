/**
 * What each service's store needs to be rebuilt from its replicated journal (runtime/rebuild.ts):
 * its migrations, the actor definitions whose executors write its own tables, and its seed.
 */
import { cartDefinition } from './actors/cart/definition.ts';
import { ProductCatalog } from './actors/cart/products.ts';
import { checkoutDefinition } from './actors/checkout/definition.ts';
import { reservationDefinition } from './actors/inventory/definition.ts';
import { partitionedReservationDefinition, stockHoldDefinition } from './actors/inventory/partitioned-definition.ts';
import { seedStock } from './actors/inventory/stock.ts';
import { orderDefinition } from './actors/order/definition.ts';
import { authorizationDefinition } from './actors/payment/definition.ts';
import { seedPromotionsOnce } from './actors/promotion/schema.ts';
import type { SystemConfig } from './config.ts';
import { serviceMigrations, type BackendService } from './registry.ts';
import type { ActorDefinition } from './runtime/actor-host.ts';
import type { RebuildKit } from './runtime/rebuild.ts';
import type { Store } from './runtime/store.ts';
import { partitionOf } from './contracts/subjects.ts';

/** `partition`: the slot's partition, when the service is partitioned (a partitioned inventory seeds only its own products). */
export function rebuildKit(service: BackendService, config: SystemConfig, partition?: { index: number; count: number }): RebuildKit {
  const kit = (definitions: readonly ActorDefinition[], seed: (store: Store) => Promise<unknown> = () => Promise.resolve()): RebuildKit => ({
    migrations: serviceMigrations[service],
    definitions,
    seed,
  });
  switch (service) {
    case 'inventory':
      if (partition && partition.count > 1) {
        const { index, count } = partition;
        // The table writes only: requests are in the records already (requestTimeoutMs and now are not used).
        const definitions = [partitionedReservationDefinition({ count, requestTimeoutMs: 0, now: () => '' }), stockHoldDefinition] as ActorDefinition[];
        return kit(definitions, (store) => store.write((db) => seedStock(db, config.seed, Date.now(), (p) => partitionOf(p.toLowerCase(), count) === index)));
      }
      return kit([reservationDefinition as ActorDefinition], (store) => store.write((db) => seedStock(db, config.seed, Date.now())));
    case 'order':
      return kit([orderDefinition as ActorDefinition]);
    case 'payment':
      return kit([authorizationDefinition as ActorDefinition]);
    case 'cart':
      return kit([cartDefinition({ abandonAfterMs: config.cart.abandonAfterMs }) as ActorDefinition], (store) => new ProductCatalog(store.db).seedOnce(store, config.seed.products));
    case 'promotion':
      return kit([], (store) => seedPromotionsOnce(store, config.seed.promotions));
    case 'checkout':
      return kit([checkoutDefinition({ requestTimeoutMs: config.checkout.requestTimeoutMs, partitions: config.partitions }) as ActorDefinition]);
  }
}

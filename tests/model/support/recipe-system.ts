/**
 * The system a checkout recipe runs against, shared by tests/model/checkout.paths.test.ts and
 * `npm run paths -- --run <id>`: short deadlines so that timeouts and needs-attention paths take
 * about a second each, and a cast of customers and baskets the config treats specially (fraud,
 * a stalling processor, an order the Order Service refuses, a cart above the payment limit).
 */
import { randomUUID } from 'node:crypto';
import { productIdFor } from '../../../src/actors/seed/seed.ts';
import { startTestSystem, type Mode, type TestSystem } from '../../support/system-fixture.ts';
import type { NatsServerHandle } from '../../support/nats-server.ts';
import type { Cast } from './run-recipe.ts';

export function recipeCast(): Cast {
  return {
    customers: { fraud: randomUUID(), stall: randomUUID(), refused: randomUUID() },
    baskets: {
      fits: [[productIdFor('ACME-BIRDSEED'), 1]], // 1,250
      exceedsStock: [[productIdFor('ACME-BATMAN-SUIT'), 4]], // 3 in stock
      exceedsLimit: [[productIdFor('ACME-ANVIL-01'), 2]], // 25,800 > the 20,000 limit below
    },
    stepTimeoutMs: 12_000,
  };
}

export function startRecipeSystem(mode: Mode, cast: Cast, nats?: NatsServerHandle): Promise<TestSystem> {
  return startTestSystem(
    mode,
    (c) => {
      c.checkout.deadlines = {
        reserveInventoryMs: 1_200,
        authorizePaymentMs: 1_200,
        createOrderMs: 1_200,
        compensationMs: 1_500,
      };
      c.checkout.requestTimeoutMs = 300;
      // The stall outlasts the payment deadline but not deadline + compensation: the void waits, then succeeds.
      c.payment = {
        ...c.payment,
        declineAbove: 20_000,
        fraudCustomers: [cast.customers.fraud],
        stallCustomers: [cast.customers.stall],
        stallMs: 1_900,
      };
      c.order = { refuseCustomers: [cast.customers.refused], maxTotal: undefined };
    },
    nats,
  );
}

/**
 * nats.conf's reply permissions (`allow_responses`), read as text. nats-server 2.9 remembers, per
 * connection of a user that has them, the reply subject of every message delivered to it (a
 * JetStream delivery's `$JS.ACK...` too) until it is answered through the permission or its
 * `expires` passes (two minutes by default), and once a connection holds more than 4,096 it scans
 * them all at every delivery (docs/benchmarks.md, "The NATS path: nats-server's reply permissions").
 * The orchestrator is delivered one `cart-checked-out` per checkout and acks it through its own
 * `$JS.ACK` permission, so each stays until it expires: its expiry must be short, and still longer
 * than any caller of the checkout service waits for an answer (a later one reaches nobody). The
 * participants that consume events (cart: order-cancelled; inventory and payment: order-cancelled
 * and order-completed) hold theirs the same way, so every service user answers under the same rule.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defaultGatewayConfig } from '../../src/gateway/config.ts';
import { defaultNatsConfig } from '../support/nats-server.ts';

const conf = readFileSync(defaultNatsConfig, 'utf8');

/** One user's block of nats.conf: from its `{ user: <name>,` to the next user's. */
function userBlock(user: string): string {
  const start = conf.indexOf(`{ user: ${user},`);
  if (start < 0) throw new Error(`nats.conf has no user ${user}`);
  const next = conf.indexOf('{ user: ', start + 1);
  return conf.slice(start, next < 0 ? undefined : next);
}

/** The user's `allow_responses` value as written, if it has one. */
const allowResponses = (user: string): string | undefined => userBlock(user).match(/^\s*allow_responses:\s*(.+)$/m)?.[1]?.trim();

/** How long the longest caller of the checkout service waits: the gateway's queries and commands
 * (get-checkout, the explorer, operator-retry), an instance forwarding to the saga's holder and the
 * explorer's list gathering (2 s each, src/actors/checkout/holder.ts and explorer-queries.ts), and
 * the ops tools (5 s, src/devtools/ops/backends.ts). */
const longestCheckoutCallerMs = Math.max(defaultGatewayConfig.timeouts.queryMs, defaultGatewayConfig.timeouts.commandMs, 2_000, 5_000);

/** The level (#14): the rate every map must stay under the server's 4,096 at. */
const levelPerSecond = 575;

/**
 * Each service user that answers requests: how long its slowest caller waits by default, and how
 * many deliveries per checkout it acks through its own `$JS.ACK` permission (each then stays in the
 * map until it expires). Callers: the gateway (queries 2 s, commands 5 s, checkout-cart 8 s), the
 * saga's requests (CHECKOUT_REQUEST_TIMEOUT_MS, 2 s), the relay's default (5 s), the cart's
 * calculate-discount (2 s), the order's SKU lookup and the partitioned holds (2 s), the ops tools (5 s).
 * The cart's order-cancelled comes for a cancelled checkout only: counted as half of them.
 */
const answering: Record<string, { longestCallerMs: number; ackedPerCheckout: number }> = {
  checkout: { longestCallerMs: longestCheckoutCallerMs, ackedPerCheckout: 1 },
  cart: { longestCallerMs: defaultGatewayConfig.timeouts.checkoutMs, ackedPerCheckout: 0.5 },
  promotion: { longestCallerMs: 5_000, ackedPerCheckout: 0 },
  inventory: { longestCallerMs: 5_000, ackedPerCheckout: 1 },
  payment: { longestCallerMs: 5_000, ackedPerCheckout: 1 },
  order: { longestCallerMs: 5_000, ackedPerCheckout: 0 },
};

describe('nats.conf reply permissions', () => {
  it('gives the gateway none: it answers no request', () => {
    expect(allowResponses('gateway')).toBeUndefined();
  });

  it.each(Object.entries(answering))("lets %s's expire after its callers gave up, and soon enough to stay under the server's scan threshold at the level", (user, { longestCallerMs, ackedPerCheckout }) => {
    const value = allowResponses(user);
    const m = value?.match(/^\{\s*max:\s*1,\s*expires:\s*"(\d+)s"\s*\}$/);
    expect(m, `${user}'s allow_responses is ${value}`).toBeTruthy();
    const expiresMs = Number(m![1]) * 1_000;
    expect(expiresMs).toBeGreaterThan(longestCallerMs);
    expect((expiresMs / 1_000) * levelPerSecond * ackedPerCheckout).toBeLessThan(4_096);
  });
});

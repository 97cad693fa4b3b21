/**
 * nats.conf's reply permissions (`allow_responses`), read as text. nats-server 2.9 remembers, per
 * connection of a user that has them, the reply subject of every message delivered to it (a
 * JetStream delivery's `$JS.ACK...` too) until it is answered through the permission or its
 * `expires` passes (two minutes by default), and once a connection holds more than 4,096 it scans
 * them all at every delivery (docs/benchmarks.md, "The NATS path: nats-server's reply permissions").
 * The orchestrator is delivered one `cart-checked-out` per checkout and acks it through its own
 * `$JS.ACK` permission, so each stays until it expires: its expiry must be short, and still longer
 * than any caller of the checkout service waits for an answer (a later one reaches nobody).
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

describe('nats.conf reply permissions', () => {
  it('gives the gateway none: it answers no request', () => {
    expect(allowResponses('gateway')).toBeUndefined();
  });

  it("lets the orchestrator's expire after its callers gave up, and soon enough to stay under the server's scan threshold", () => {
    const value = allowResponses('checkout');
    const m = value?.match(/^\{\s*max:\s*1,\s*expires:\s*"(\d+)s"\s*\}$/);
    expect(m, `checkout's allow_responses is ${value}`).toBeTruthy();
    const expiresMs = Number(m![1]) * 1_000;
    expect(expiresMs).toBeGreaterThan(longestCheckoutCallerMs);
    // One unanswered cart-checked-out per checkout: under 4,096 held up to 400 checkouts/s.
    expect((expiresMs / 1_000) * 400).toBeLessThan(4_096);
  });
});

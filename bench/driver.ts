/**
 * The load generator. A checkout is timed from "accepted" (the checkout-cart reply is in the
 * bench's hands) to "final" (its status document in the `checkouts` KV bucket says CONFIRMED,
 * CANCELLED or NEEDS_ATTENTION). One watch on the whole bucket sees every status change as the
 * orchestrators commit them: nothing is polled, per checkout or otherwise.
 *
 * Closed loop (`concurrency`): C workers, each starting its next checkout when its last one is
 * final, so C checkouts are in flight end to end. Open loop (`rate`): checkouts start on a fixed
 * schedule whatever the system does, and the accept latency is measured from the *scheduled*
 * start, so a stalled system cannot hide its queueing (no coordinated omission).
 */
import { Agent, request as httpRequest } from 'node:http';
import { z } from 'zod';
import { MessageType } from '../src/contracts/index.ts';
import { Bucket, Command, partitionedServices, type Partitions } from '../src/contracts/subjects.ts';
import { systemClock } from '../src/runtime/clock.ts';
import { ServiceClient } from '../src/runtime/client.ts';
import type { Closer, Transport } from '../src/runtime/transport/transport.ts';
import type { CheckoutPlan } from './workload.ts';

const FINAL = new Set(['CONFIRMED', 'CANCELLED', 'NEEDS_ATTENTION']);

export interface Track {
  plan: CheckoutPlan;
  /** performance.now() when the checkout was (or should have been) started. */
  startedAt: number;
  acceptedAt: number | undefined;
  finalAt: number | undefined;
  status: string | undefined;
  reason: string | undefined;
  /** The precise cause of a cancellation (e.g. PAYMENT_DECLINED, PAYMENT_TIMEOUT). */
  detail: string | undefined;
  /** Why the checkout call itself failed, if it did. */
  error: string | undefined;
  waiter: (() => void) | undefined;
}

/** Watches the checkouts bucket and matches status documents to the checkouts being tracked. */
export class Tracker {
  private readonly tracks = new Map<string, Track>();
  private closer: Closer | undefined;
  accepted = 0;
  finals = 0;

  async start(transport: Transport): Promise<void> {
    const kv = await transport.kv(Bucket.checkouts);
    this.closer = await kv.watch('>', (e) => {
      const t = this.tracks.get(e.key);
      if (!t || t.finalAt !== undefined) return;
      const doc = JSON.parse(e.value) as { status: string; reason?: string; detail?: string };
      if (!FINAL.has(doc.status)) return;
      t.finalAt = performance.now();
      t.status = doc.status;
      t.reason = doc.reason;
      t.detail = doc.detail;
      this.finals++;
      t.waiter?.();
    });
  }

  track(plan: CheckoutPlan, startedAt: number): Track {
    const t: Track = { plan, startedAt, acceptedAt: undefined, finalAt: undefined, status: undefined, reason: undefined, detail: undefined, error: undefined, waiter: undefined };
    this.tracks.set(plan.checkoutId, t);
    return t;
  }

  /** Resolves when the checkout is final, or after `timeoutMs`. */
  final(t: Track, timeoutMs: number): Promise<void> {
    if (t.finalAt !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        t.waiter = undefined;
        resolve();
      }, timeoutMs);
      t.waiter = () => {
        clearTimeout(timer);
        t.waiter = undefined;
        resolve();
      };
    });
  }

  /** Checkouts tracked now. */
  get size(): number {
    return this.tracks.size;
  }

  /** Stops tracking checkouts whose results were taken: a long run keeps only the ones in flight. */
  forget(tracks: readonly Track[]): void {
    for (const t of tracks) this.tracks.delete(t.plan.checkoutId);
  }

  async stop(): Promise<void> {
    await this.closer?.close();
  }
}

/** The deployment's partitions as every process gets them from PARTITIONS (bench --partitions). */
export const benchPartitions = (p: number): Partitions => Object.fromEntries(partitionedServices.map((s) => [s, p]));

/** How a checkout enters the system. Resolves when it is accepted; throws when it is refused. */
export interface CheckoutEntry {
  checkout(plan: CheckoutPlan): Promise<void>;
  close(): void;
}

const Accepted = z.object({ checkoutId: z.string() });

export function busEntry(transport: Transport, partitions: Partitions = {}): CheckoutEntry {
  const client = new ServiceClient(transport, 'urn:acme:bench', systemClock, partitions);
  return {
    async checkout(p) {
      await client.call(Command.checkoutCart, MessageType.checkoutCart, { cartId: p.cartId, customerId: p.customerId }, Accepted, {
        timeoutMs: 10_000,
        idempotencyKey: `checkout:${p.cartId}`,
      });
    },
    close: () => undefined,
  };
}

/**
 * Through the gateway, as a browser would: keep-alive connections, JSON bodies. With several
 * gateways, checkouts go to each in turn, as a round-robin load balancer spreads them.
 */
export function httpEntry(baseUrls: readonly string[], maxSockets: number): CheckoutEntry {
  if (baseUrls.length === 0) throw new Error('entry http needs a gateway');
  const gateways = baseUrls.map((u) => ({ url: new URL(u), agent: new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets }) }));
  let turn = 0;
  return {
    checkout(p) {
      const { url, agent } = gateways[turn++ % gateways.length]!;
      const body = JSON.stringify({ customerId: p.customerId });
      return new Promise<void>((resolve, reject) => {
        const req = httpRequest(
          {
            agent,
            host: url.hostname,
            port: url.port,
            method: 'POST',
            path: `/carts/${p.cartId}/checkout`,
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'idempotency-key': `checkout:${p.cartId}` },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              if (res.statusCode === 200) resolve();
              else reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`));
            });
            res.on('error', reject);
          },
        );
        req.setTimeout(10_000, () => req.destroy(new Error('HTTP timeout')));
        req.on('error', reject);
        req.end(body);
      });
    },
    close: () => {
      for (const g of gateways) g.agent.destroy();
    },
  };
}

/** Fills the carts: setup, not timed. Lines of one cart go in order; carts go `concurrency` at a time. */
export async function fillCarts(transport: Transport, plans: readonly CheckoutPlan[], concurrency: number, onDone?: () => void, partitions: Partitions = {}): Promise<void> {
  const client = new ServiceClient(transport, 'urn:acme:bench', systemClock, partitions);
  const Ok = z.object({ cartId: z.string() });
  let next = 0;
  const worker = async () => {
    while (next < plans.length) {
      const p = plans[next++]!;
      for (const [productId, quantity] of p.lines) {
        await client.call(Command.addItemToCart, MessageType.addItemToCart, { cartId: p.cartId, productId, quantity }, Ok, {
          timeoutMs: 10_000,
          idempotencyKey: `add:${p.cartId}:${productId}`,
        });
      }
      onDone?.();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, plans.length) }, worker));
}

export type Load = { kind: 'closed'; concurrency: number } | { kind: 'open'; rate: number };

export interface PhaseResult {
  tracks: Track[];
  /** From the first start to the last final (or the settle deadline). */
  elapsedMs: number;
}

/** Drives the checkouts of one phase and waits until each is final or `settleMs` passed. */
export async function drive(plans: readonly CheckoutPlan[], load: Load, entry: CheckoutEntry, tracker: Tracker, settleMs: number): Promise<PhaseResult> {
  const tracks: Track[] = [];
  const t0 = performance.now();
  const start = async (plan: CheckoutPlan, scheduledAt: number): Promise<Track> => {
    const t = tracker.track(plan, scheduledAt);
    tracks.push(t);
    try {
      await entry.checkout(plan);
      t.acceptedAt = performance.now();
      tracker.accepted++;
    } catch (err) {
      t.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    }
    return t;
  };

  if (load.kind === 'closed') {
    let next = 0;
    const worker = async () => {
      while (next < plans.length) {
        const t = await start(plans[next++]!, performance.now());
        if (t.acceptedAt !== undefined) await tracker.final(t, settleMs);
      }
    };
    await Promise.all(Array.from({ length: Math.min(load.concurrency, plans.length) }, worker));
  } else {
    const interval = 1000 / load.rate;
    const started: Promise<Track>[] = [];
    for (let i = 0; i < plans.length; ) {
      const now = performance.now();
      // Start everything that is due; timers are coarse, the schedule is not.
      while (i < plans.length && t0 + i * interval <= now) {
        started.push(start(plans[i]!, t0 + i * interval));
        i++;
      }
      if (i < plans.length) await new Promise((r) => setTimeout(r, Math.max(0, t0 + i * interval - performance.now())));
    }
    const all = await Promise.all(started);
    const deadline = performance.now() + settleMs;
    for (const t of all) {
      if (t.acceptedAt !== undefined) await tracker.final(t, Math.max(0, deadline - performance.now()));
    }
  }
  let end = t0;
  for (const t of tracks) end = Math.max(end, t.finalAt ?? t.acceptedAt ?? t0);
  return { tracks, elapsedMs: end - t0 };
}

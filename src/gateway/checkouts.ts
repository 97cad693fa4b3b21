/**
 * Where a checkout stands, for `GET /checkouts/{id}` and its SSE stream.
 *
 * The source of truth is the `checkouts` KV bucket: the orchestrator writes the status document
 * there after every committed step, precisely so that the gateway can read and watch it. Reading
 * KV directly (rather than asking get-checkout) means GET and the SSE stream always agree, and a
 * checkout stays visible while the orchestrator restarts.
 *
 * The gap: checkout-cart answers as soon as the cart is checked out, and the saga starts a moment
 * later, when the orchestrator consumes cart-checked-out. A shopper following the Location header
 * at once must not get 404 for a checkout that was just accepted. So a checkout is also known when
 *  1. this gateway accepted it (remembered for a while, bounded), or
 *  2. the caller names its cart (`?cartId=`): the checkoutId is derived from the cartId, so the
 *     gateway can check the pair and ask the cart, which knows it was checked out.
 * Either way it answers PENDING at the saga's first step, RESERVING_INVENTORY, which is what the
 * saga will report first. A document kept a day (BucketTtlMs) that has expired is answered by the
 * saga itself (get-checkout, from its store). Only an id that none of these recognise is 404.
 */
import { CheckoutStatus, MessageType, type Cart } from '../contracts/index.ts';
import { Bucket, Query } from '../contracts/subjects.ts';
import type { Clock } from '../runtime/clock.ts';
import { checkoutIdsFor } from '../runtime/ids.ts';
import type { Closer, Kv, KvEntry, Transport } from '../runtime/transport/transport.ts';
import { CartDoc } from './schemas.ts';
import { RefusedError, ServiceUnavailableError, UpstreamFailureError, type Cause, type ServiceCalls } from './services.ts';
import { StatusWatch } from './status-watch.ts';

export interface TrackedStatus {
  status: CheckoutStatus;
  /** KV revision of the document; 0 for a checkout accepted but not reported by its saga yet. */
  revision: number;
}

export interface CheckoutTrackerOptions {
  ttlMs: number;
  max: number;
  queryMs: number;
}

const TERMINAL: ReadonlySet<CheckoutStatus['status']> = new Set(['CONFIRMED', 'CANCELLED']);

export const isTerminal = (s: CheckoutStatus): boolean => TERMINAL.has(s.status);

export class CheckoutTracker {
  private kvP: Promise<Kv> | undefined;
  /** checkoutId -> accepted status, oldest first (Map keeps insertion order). */
  private readonly accepted = new Map<string, { status: CheckoutStatus; expiresAt: number }>();
  /** The one watch of the bucket that every SSE stream of this gateway listens on. */
  readonly statusWatch = new StatusWatch((onEntry) => this.kvOp((kv) => kv.watch('>', onEntry, { updatesOnly: true })));

  constructor(
    private readonly transport: Transport,
    private readonly services: ServiceCalls,
    private readonly clock: Clock,
    private readonly opts: CheckoutTrackerOptions,
  ) {}

  /** Remembers a checkout this gateway just accepted, from the checked-out cart. */
  accept(cart: Cart): CheckoutStatus | undefined {
    const status = acceptedStatus(cart, this.clock.now());
    if (!status) return undefined;
    this.accepted.delete(status.checkoutId);
    this.accepted.set(status.checkoutId, { status, expiresAt: this.clock.now() + this.opts.ttlMs });
    for (const key of this.accepted.keys()) {
      if (this.accepted.size <= this.opts.max) break;
      this.accepted.delete(key);
    }
    return status;
  }

  /** The checkout's status, or undefined if nothing knows this checkout. */
  async status(checkoutId: string, cause: Cause, cartIdHint?: string): Promise<TrackedStatus | undefined> {
    const entry = await this.kvOp((kv) => kv.get(checkoutId));
    if (entry) {
      this.accepted.delete(checkoutId);
      return { status: parseStatus(entry.value), revision: entry.revision };
    }
    const known = this.accepted.get(checkoutId);
    if (known && known.expiresAt > this.clock.now()) return { status: known.status, revision: 0 };
    if (known) this.accepted.delete(checkoutId);
    const kept = await this.keptStatus(checkoutId, cause);
    if (kept) return { status: kept, revision: 0 };
    if (cartIdHint !== undefined && checkoutIdsFor(cartIdHint).checkoutId === checkoutId) {
      const cart = await this.services
        .call({
          subject: Query.getCart,
          type: MessageType.getCartRequest,
          payload: { cartId: cartIdHint },
          reply: CartDoc,
          timeoutMs: this.opts.queryMs,
          cause,
        })
        .catch((err: unknown) => {
          // An unknown cart just means an unknown checkout; anything else is real trouble.
          if (err instanceof RefusedError && err.statusCode === 404) return undefined;
          throw err;
        });
      const status = cart && this.accept(cart);
      if (status) return { status, revision: 0 };
    }
    return undefined;
  }

  /**
   * A checkout whose document has expired from the bucket (BucketTtlMs): its saga answers
   * get-checkout from its own state. Undefined if no saga knows it, or none answers.
   */
  private async keptStatus(checkoutId: string, cause: Cause): Promise<CheckoutStatus | undefined> {
    return this.services
      .call({
        subject: Query.getCheckout,
        type: MessageType.getCheckoutRequest,
        payload: { checkoutId },
        reply: CheckoutStatus,
        timeoutMs: this.opts.queryMs,
        cause,
      })
      .catch((err: unknown) => {
        // Not known there, or no orchestrator to ask: the other ways below may still know it.
        if (err instanceof RefusedError && err.statusCode === 404) return undefined;
        if (err instanceof ServiceUnavailableError) return undefined;
        throw err;
      });
  }

  /**
   * Calls `onStatus` with the current document (if any) and with every later change, until
   * closed: a listener on the gateway's shared watch, then a read of the key (a change made
   * between the two comes both ways; revisions tell the caller which it has).
   */
  async watch(checkoutId: string, onStatus: (t: TrackedStatus) => void, onError: (err: unknown) => void): Promise<Closer> {
    const deliver = (e: KvEntry): void => {
      try {
        onStatus({ status: parseStatus(e.value), revision: e.revision });
      } catch (err) {
        onError(err);
      }
    };
    const listener = await this.statusWatch.listen(checkoutId, { onEntry: deliver });
    try {
      const current = await this.kvOp((kv) => kv.get(checkoutId));
      if (current) deliver(current);
    } catch (err) {
      await listener.close();
      throw err;
    }
    return listener;
  }

  /** Closes the shared watch (the gateway is closing). */
  close(): Promise<void> {
    return this.statusWatch.close();
  }

  private async kvOp<T>(op: (kv: Kv) => Promise<T>): Promise<T> {
    try {
      // Opened on first use, and again after a failure, so a gateway started before NATS was
      // reachable recovers by itself.
      this.kvP ??= this.transport.kv(Bucket.checkouts);
      const kv = await this.kvP.catch((err: unknown) => {
        this.kvP = undefined;
        throw err;
      });
      return await op(kv);
    } catch (err) {
      throw new ServiceUnavailableError(`kv ${Bucket.checkouts}`, err);
    }
  }
}

function parseStatus(value: string): CheckoutStatus {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch (err) {
    throw new UpstreamFailureError(`kv ${Bucket.checkouts}`, 'checkout status is not JSON', err);
  }
  const r = CheckoutStatus.safeParse(json);
  if (!r.success) throw new UpstreamFailureError(`kv ${Bucket.checkouts}`, 'checkout status does not match its schema', r.error);
  return r.data;
}

/** The status of a checked-out cart whose saga has not reported yet. */
function acceptedStatus(cart: Cart, now: number): CheckoutStatus | undefined {
  if (cart.status !== 'CHECKED_OUT' || cart.customerId === undefined) return undefined;
  const ids = checkoutIdsFor(cart.cartId);
  return {
    checkoutId: cart.checkoutId ?? ids.checkoutId,
    orderId: cart.orderId ?? ids.orderId,
    cartId: cart.cartId,
    customerId: cart.customerId,
    status: 'PENDING',
    step: 'RESERVING_INVENTORY',
    ...(cart.total !== undefined ? { total: cart.total } : {}),
    currency: cart.currency,
    updatedAt: new Date(now).toISOString(),
  };
}

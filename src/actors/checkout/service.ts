/**
 * Checkout API + Checkout Orchestrator (Ordering, checkout-system).
 *
 * The Checkout API consumes cart-checked-out from the SHOPPING stream with a durable consumer and
 * hands each checkout to the orchestrator, which hosts one saga actor per checkout.
 *
 * Exactly one live saga per cart, by design:
 *  - every id is derived from the cartId (checkoutId, orderId, reservationId), so any instance and
 *    any redelivery computes the same ones, and participants dedupe on `${checkoutId}:${step}`;
 *  - the saga is started under the inbox key `start/${checkoutId}`, so a redelivery to the same
 *    instance is a no-op;
 *  - instances each keep their sagas in their own store, so ownership is claimed with an atomic
 *    KV create in the `saga-owners` bucket. An instance that loses the claim acks the event once
 *    the owner has published the saga's status, and otherwise leaves it for redelivery, in case
 *    the owner crashed between claiming and starting;
 *  - a sole instance (embedded: `soleInstance`) claims nothing: a claim could only name itself,
 *    and its own redeliveries are dropped by the inbox key, or by the saga's state (only `idle`
 *    takes `checkout.started`, and a saga's row is never deleted).
 */
import { CartCheckedOut, CheckoutStatus, GetCheckoutRequest, MessageType } from '../../contracts/index.ts';
import { metaToHeaders, type MessageMeta } from '../../contracts/headers.ts';
import { Bucket, Durable, Event, Query, statusAtInstance, Stream } from '../../contracts/subjects.ts';
import { noReply } from '../../runtime/actor-host.ts';
import { checkoutIdsFor, newId } from '../../runtime/ids.ts';
import { parseMessage } from '../../runtime/inbound.ts';
import type { ServiceRuntime } from '../../runtime/service.ts';
import { DEFAULT_ACK_WAIT_MS } from '../../runtime/transport/consumer-policy.ts';
import { ErrorCode, RemoteError } from '../../runtime/transport/errors.ts';
import type { Reply } from '../../runtime/transport/transport.ts';
import type { Deadlines } from '../../machines/checkout.ts';
import { checkoutDefinition, publishedStatus, statusDocument } from './definition.ts';
import { serveExplorerQueries } from './explorer-queries.ts';
import { forwardToHolder } from './holder.ts';
import { keepRegistered } from './instances.ts';
import { countCheckouts } from './metrics.ts';
import { serveOperatorCommands } from './operator.ts';

export interface CheckoutConfig {
  deadlines: Deadlines;
  /** Deadline of one attempt of a participant request. */
  requestTimeoutMs: number;
  /** How long a cart-checked-out delivery may stay unacked before JetStream redelivers it. */
  ackWaitMs: number;
  /** Stable identity of this orchestrator instance; defaults to one stored in its own database. */
  instanceId?: string | undefined;
  /**
   * Distributed: the number of orchestrator slots (`slot-<k>`, each its own store and journal) the
   * checkout processes share under leases, so that a lost process's sagas are adopted by another.
   * 0: each process is an instance keeping its own sagas (INSTANCE_ID or one stored on its disk).
   */
  slots?: number;
  /**
   * This is the only orchestrator on its transport, so it makes no `saga-owners` claim: a claim
   * could only ever name this instance, and deciding nothing, it was bus.db's one durable write per
   * checkout embedded. The composition root sets it embedded (src/system.ts), where the bus routes
   * within one process and that process starts one orchestrator; never on NATS, where instances and
   * slots share the stream. Queries still find a saga here first, and forward only to other
   * registered instances (holder.ts), of which a sole instance has none.
   */
  soleInstance?: boolean;
}

export const defaultCheckoutConfig: CheckoutConfig = {
  deadlines: { reserveInventoryMs: 10_000, authorizePaymentMs: 15_000, createOrderMs: 10_000, compensationMs: 60_000 },
  requestTimeoutMs: 2_000,
  ackWaitMs: DEFAULT_ACK_WAIT_MS,
};

/** Another instance owns this checkout and has not started it yet: try again later. */
class OwnedElsewhere extends Error {
  override readonly name = 'OwnedElsewhere';
  readonly retryAfterMs = 1_000;
}

export async function startCheckoutService(rt: ServiceRuntime, config: CheckoutConfig = defaultCheckoutConfig): Promise<{ instanceId: string }> {
  const sagas = rt.host(checkoutDefinition({ requestTimeoutMs: config.requestTimeoutMs, partitions: rt.partitions }));
  const instanceId = config.instanceId ?? storedInstanceId(rt);
  countCheckouts(rt, sagas, instanceId);
  const owners = await rt.transport.kv(Bucket.sagaOwners);
  const statuses = await rt.transport.kv(Bucket.checkouts);
  await rt.transport.ensureStream(Stream.shopping.name, Stream.shopping.subjects);

  await rt.consume(
    // A sole instance's durable is its alone: a second orchestrator on its bus is refused at its
    // start (embedded, the in-process transport), since neither would claim the sagas it starts.
    { stream: Stream.shopping.name, durable: Durable.checkoutStartsSagas, filterSubjects: [Event.cartCheckedOut], ackWaitMs: config.ackWaitMs, ...(config.soleInstance ? { exclusive: true } : {}) },
    async (delivery) => {
      let parsed;
      try {
        parsed = parseMessage(delivery, CartCheckedOut, MessageType.cartCheckedOut);
      } catch (err) {
        // A message that can never parse is poison: log it and ack, rather than redeliver forever.
        rt.log.error({ err, seq: delivery.seq }, 'dropping unparseable cart-checked-out');
        return;
      }
      const { meta, payload: cart } = parsed;
      const ids = checkoutIdsFor(cart.cartId);
      if (!config.soleInstance) {
        const claim = await owners.create(ids.checkoutId, instanceId);
        if (claim && claim.value !== instanceId) {
          if (await statuses.get(ids.checkoutId)) return; // running (or done) at its owner
          throw new OwnedElsewhere(`checkout ${ids.checkoutId} is owned by ${claim.value}`);
        }
      }
      await sagas.deliver(
        ids.checkoutId,
        {
          type: 'checkout.started',
          now: rt.clock.now(),
          ...ids,
          cartId: cart.cartId,
          customerId: cart.customerId,
          items: cart.items,
          subtotal: cart.subtotal ?? cart.total,
          discount: cart.discount ?? 0,
          total: cart.total,
          currency: cart.currency,
          deadlines: config.deadlines,
        },
        { inboxKey: `start/${ids.checkoutId}`, cause: meta, reply: noReply },
      );
    },
  );

  // The status document lives in KV, written after each commit by whichever instance owns the saga;
  // once it is gone (BucketTtlMs), the saga answers from its own state: here if this instance holds
  // it, else at the holder's own subject (the saga-owners claim names it), as the explorer's trace
  // query is forwarded. Before, an instance not holding the saga answered 404, and with two
  // instances the gateway's GET of an expired document found the saga only half the time.
  const updatedAt = rt.store.db.prepare(`SELECT updated_at FROM actors WHERE kind = 'checkout' AND id = ?`).pluck();
  const localStatus = (checkoutId: string, meta: MessageMeta): Reply | undefined => {
    const saga = sagas.peek(checkoutId);
    const published = saga && publishedStatus(saga);
    if (!saga || !published) return undefined;
    const at = (updatedAt.get(checkoutId) as number | undefined) ?? rt.clock.now();
    return rt.reply(MessageType.getCheckoutResponse, statusDocument(saga, published, at), meta);
  };
  const notFound = (checkoutId: string) => new RemoteError(ErrorCode.notFound, `checkout ${checkoutId} not found`);
  await rt.query(statusAtInstance(instanceId), MessageType.getCheckoutRequest, GetCheckoutRequest, async (p, meta) => {
    const local = localStatus(p.checkoutId, meta);
    if (!local) throw notFound(p.checkoutId);
    return local;
  });
  await rt.query(Query.getCheckout, MessageType.getCheckoutRequest, GetCheckoutRequest, async (p, meta) => {
    const entry = await statuses.get(p.checkoutId);
    if (entry) return rt.reply(MessageType.getCheckoutResponse, CheckoutStatus.parse(JSON.parse(entry.value)), meta);
    const local = localStatus(p.checkoutId, meta);
    if (local) return local;
    const msg = { subject: Query.getCheckout, headers: metaToHeaders(meta), data: JSON.stringify(p) };
    const forwarded = await forwardToHolder(rt, owners, instanceId, p.checkoutId, statusAtInstance, msg);
    if (!forwarded) throw notFound(p.checkoutId);
    return forwarded;
  });

  // Rewritten every hour, within the bucket's TTL, while this service runs (instances.ts).
  rt.closeOnStop(await keepRegistered(owners, instanceId, rt.clock, (err) => rt.log.warn({ err, instanceId }, 'refreshing the instance registration failed; retrying')));
  await serveExplorerQueries(rt, instanceId, owners);
  await serveOperatorCommands(rt, sagas, instanceId, owners);
  return { instanceId };
}

/** This instance's id, made once and kept in its own store. */
export function storedInstanceId(rt: ServiceRuntime): string {
  const db = rt.store.db;
  const existing = db.prepare(`SELECT value FROM meta WHERE key = 'instance_id'`).pluck().get() as string | undefined;
  if (existing) return existing;
  const id = newId();
  db.prepare(`INSERT INTO meta (key, value) VALUES ('instance_id', ?)`).run(id);
  return id;
}

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
 *    the owner crashed between claiming and starting.
 */
import {
  CartCheckedOut,
  CheckoutStatus,
  CheckoutTrace,
  ExplorerMessageType,
  GetCheckoutRequest,
  GetCheckoutTraceRequest,
  ListCheckoutsRequest,
  type ListCheckoutsQuery,
  ListCheckoutsResponse,
  MessageType,
} from '../../contracts/index.ts';
import { metaToHeaders, type MessageMeta } from '../../contracts/headers.ts';
import { Bucket, Durable, Event, ExplorerQuery, listAtInstance, Query, Stream, traceAtInstance } from '../../contracts/subjects.ts';
import { actorTrace, listActors, type ActorSummaryRow } from '../../explorer/store-queries.ts';
import { checkoutIdsFor, newId } from '../../runtime/ids.ts';
import { parseMessage } from '../../runtime/inbound.ts';
import type { ServiceRuntime } from '../../runtime/service.ts';
import { ErrorCode, NoRespondersError, RemoteError, RequestTimeoutError } from '../../runtime/transport/errors.ts';
import type { Kv, Reply } from '../../runtime/transport/transport.ts';
import type { CheckoutContext, Deadlines } from '../../machines/checkout.ts';
import { checkoutDefinition, compensationPlan } from './definition.ts';
import { mergePages, registeredInstances, registerInstance } from './instances.ts';

export interface CheckoutConfig {
  deadlines: Deadlines;
  /** Deadline of one attempt of a participant request. */
  requestTimeoutMs: number;
  /** How long a cart-checked-out delivery may stay unacked before JetStream redelivers it. */
  ackWaitMs: number;
  /** Stable identity of this orchestrator instance; defaults to one stored in its own database. */
  instanceId?: string | undefined;
}

export const defaultCheckoutConfig: CheckoutConfig = {
  deadlines: { reserveInventoryMs: 10_000, authorizePaymentMs: 15_000, createOrderMs: 10_000, compensationMs: 60_000 },
  requestTimeoutMs: 2_000,
  ackWaitMs: 30_000,
};

/** Another instance owns this checkout and has not started it yet: try again later. */
class OwnedElsewhere extends Error {
  override readonly name = 'OwnedElsewhere';
  readonly retryAfterMs = 1_000;
}

export async function startCheckoutService(rt: ServiceRuntime, config: CheckoutConfig = defaultCheckoutConfig): Promise<{ instanceId: string }> {
  const sagas = rt.host(checkoutDefinition({ requestTimeoutMs: config.requestTimeoutMs }));
  const instanceId = config.instanceId ?? storedInstanceId(rt);
  const owners = await rt.transport.kv(Bucket.sagaOwners);
  const statuses = await rt.transport.kv(Bucket.checkouts);
  await rt.transport.ensureStream(Stream.shopping.name, Stream.shopping.subjects);

  await rt.consume(
    { stream: Stream.shopping.name, durable: Durable.checkoutStartsSagas, filterSubjects: [Event.cartCheckedOut], ackWaitMs: config.ackWaitMs },
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
      const claim = await owners.create(ids.checkoutId, instanceId);
      if (claim && claim.value !== instanceId) {
        if (await statuses.get(ids.checkoutId)) return; // running (or done) at its owner
        throw new OwnedElsewhere(`checkout ${ids.checkoutId} is owned by ${claim.value}`);
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
        { inboxKey: `start/${ids.checkoutId}`, cause: meta, reply: () => undefined },
      );
    },
  );

  // The status document lives in KV, written after each commit by whichever instance owns the saga.
  await rt.query(Query.getCheckout, MessageType.getCheckoutRequest, GetCheckoutRequest, async (p, meta) => {
    const entry = await statuses.get(p.checkoutId);
    if (!entry) throw new RemoteError(ErrorCode.notFound, `checkout ${p.checkoutId} not found`);
    return rt.reply(MessageType.getCheckoutResponse, CheckoutStatus.parse(JSON.parse(entry.value)), meta);
  });

  await registerInstance(owners, instanceId);
  await serveExplorerQueries(rt, instanceId, owners);
  return { instanceId };
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The live saga explorer's read-only view (src/explorer). A list shows every instance's sagas: the
 * instance asked gathers a page from each registered instance (instances.ts) and merges them. A
 * trace is answered by the instance that owns the saga: any instance asked for one it does not
 * hold looks up the owner's claim in saga-owners and forwards the query to that instance's subject.
 */
async function serveExplorerQueries(rt: ServiceRuntime, instanceId: string, owners: Kv): Promise<void> {
  const summary = (r: ActorSummaryRow) => {
    const c = r.context as Partial<CheckoutContext>;
    return {
      checkoutId: r.id, state: r.state, status: r.status, seq: r.seq, machineVersion: r.machineVersion,
      createdAt: iso(r.createdAt), updatedAt: iso(r.updatedAt),
      cartId: c.cartId, orderId: c.orderId, customerId: c.customerId, total: c.total, currency: c.currency, failure: c.failure,
    };
  };
  const localList = (p: ListCheckoutsQuery): ListCheckoutsResponse => {
    const page = listActors(rt.store.db, 'checkout', p);
    return ListCheckoutsResponse.parse({ checkouts: page.rows.map(summary), nextCursor: page.nextCursor, facets: page.facets });
  };
  await rt.query(listAtInstance(instanceId), ExplorerMessageType.listCheckoutsRequest, ListCheckoutsRequest, (p, meta) =>
    rt.reply(ExplorerMessageType.listCheckoutsResponse, localList(p), meta),
  );
  // Whichever instance the queue group picks gathers every registered instance's page.
  await rt.query(ExplorerQuery.listCheckouts, ExplorerMessageType.listCheckoutsRequest, ListCheckoutsRequest, async (p, meta) => {
    const others = (await registeredInstances(owners)).filter((id) => id !== instanceId);
    const unreachable: string[] = [];
    const pages = await Promise.all(
      others.map(async (id) => {
        try {
          const r = await rt.transport.request(listAtInstance(id), JSON.stringify(p), { timeoutMs: 2_000, headers: metaToHeaders(meta) });
          return ListCheckoutsResponse.parse(JSON.parse(r.data));
        } catch (err) {
          if (!(err instanceof NoRespondersError || err instanceof RequestTimeoutError)) throw err;
          unreachable.push(id);
          return undefined;
        }
      }),
    );
    // Every page was parsed where it was made or where it arrived: the merge needs no second pass.
    const merged = mergePages([localList(p), ...pages.filter((x) => x !== undefined)], p.limit);
    return rt.reply(ExplorerMessageType.listCheckoutsResponse, { ...merged, ...(unreachable.length > 0 ? { unreachable } : {}) }, meta);
  });
  const localTrace = (p: GetCheckoutTraceRequest, meta: MessageMeta): Reply | undefined => {
    const t = actorTrace(rt.store.db, 'checkout', p.checkoutId);
    if (!t) return undefined;
    const c = t.summary.context as unknown as CheckoutContext;
    const body = CheckoutTrace.parse({
      ...summary(t.summary),
      stateValue: t.summary.stateValue,
      context: t.summary.context,
      journal: t.journal.map((j) => ({ ...j, at: iso(j.at) })),
      journalTruncated: t.journalTruncated,
      timers: t.timers.map((x) => ({ ...x, dueAt: iso(x.dueAt) })),
      outbox: t.outbox.map((o) => ({ ...o, nextAttemptAt: iso(o.nextAttemptAt), createdAt: iso(o.createdAt), sentAt: o.sentAt === undefined ? undefined : iso(o.sentAt) })),
      compensation: compensationPlan(c, t.summary.stateValue),
      participants: { orderId: c.orderId, reservationId: c.reservationId, authorizationId: c.authorizationId },
    });
    return rt.reply(ExplorerMessageType.getCheckoutTraceResponse, body, meta);
  };
  const notHeld = (checkoutId: string) => new RemoteError(ErrorCode.notFound, `checkout ${checkoutId} is not held by any orchestrator`);
  await rt.query(traceAtInstance(instanceId), ExplorerMessageType.getCheckoutTraceRequest, GetCheckoutTraceRequest, (p, meta) => {
    const local = localTrace(p, meta);
    if (!local) throw notHeld(p.checkoutId);
    return local;
  });
  await rt.query(ExplorerQuery.getCheckoutTrace, ExplorerMessageType.getCheckoutTraceRequest, GetCheckoutTraceRequest, async (p, meta) => {
    const local = localTrace(p, meta);
    if (local) return local;
    const owner = (await owners.get(p.checkoutId))?.value;
    if (!owner || owner === instanceId) throw notHeld(p.checkoutId);
    const forwarded = await rt.transport.request(traceAtInstance(owner), JSON.stringify(p), { timeoutMs: 2_000, headers: metaToHeaders(meta) });
    return { headers: forwarded.headers, data: forwarded.data };
  });
}

function storedInstanceId(rt: ServiceRuntime): string {
  const db = rt.store.db;
  const existing = db.prepare(`SELECT value FROM meta WHERE key = 'instance_id'`).pluck().get() as string | undefined;
  if (existing) return existing;
  const id = newId();
  db.prepare(`INSERT INTO meta (key, value) VALUES ('instance_id', ?)`).run(id);
  return id;
}

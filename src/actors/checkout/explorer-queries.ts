/**
 * The saga explorer's queries, answered by the orchestrator that holds the sagas (the explorer
 * itself lives in src/devtools/explorer and reaches these only over the transport). Read-only: each
 * runs on the service's own connection between its transactions (runtime/journal-queries.ts).
 */
import {
  CheckoutTrace,
  ExplorerMessageType,
  GetCheckoutTraceRequest,
  ListCheckoutsRequest,
  type ListCheckoutsQuery,
  ListCheckoutsResponse,
} from '../../contracts/index.ts';
import { metaToHeaders, type MessageMeta } from '../../contracts/headers.ts';
import { ExplorerQuery, listAtInstance, traceAtInstance } from '../../contracts/subjects.ts';
import { actorTrace, listActors, type ActorMatch, type ActorSummaryRow, type TraceLive } from '../../runtime/journal-queries.ts';
import type { Db } from '../../runtime/store.ts';
import { orderIdRange, orderNumberHex } from '../../contracts/order-number.ts';
import type { ServiceRuntime } from '../../runtime/service.ts';
import { ErrorCode, NoRespondersError, RemoteError, RequestTimeoutError } from '../../runtime/transport/errors.ts';
import type { Kv, Reply } from '../../runtime/transport/transport.ts';
import { checkoutMachine, checkoutMachineVersion, type CheckoutContext } from '../../machines/checkout.ts';
import { kindReplay } from '../../runtime/record-replay.ts';
import { compensationPlan } from './definition.ts';
import { forwardToHolder, localCheckoutId } from './holder.ts';
import { mergePages, registeredInstances } from './instances.ts';

/** Rebuilds a saga's snapshots from records that leave them out (record format 2). */
export const checkoutReplay = kindReplay({ kind: 'checkout', version: checkoutMachineVersion, machine: checkoutMachine });

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * What the explorer's search box matches: a short order number (ACME-XXXX-XXXX: the hash digits of
 * a time-ordered order id, or the prefix range of an older one), or an id that may be the
 * checkout's, its order's, its cart's or its customer's.
 */
export function searchFor(q: string): ActorMatch[] {
  const range = orderIdRange(q);
  const hex = orderNumberHex(q);
  if (range && hex !== null) return [{ field: 'orderId', ...range }, { field: 'orderId', at: 24, equals: hex }];
  const id = q.toLowerCase();
  return [{ id }, { field: 'orderId', equals: id }, { field: 'cartId', equals: q }, { field: 'customerId', equals: q }];
}

const summary = (r: ActorSummaryRow) => {
  const c = r.context as Partial<CheckoutContext>;
  return {
    checkoutId: r.id, state: r.state, status: r.status, seq: r.seq, machineVersion: r.machineVersion,
    createdAt: iso(r.createdAt), updatedAt: iso(r.updatedAt),
    cartId: c.cartId, orderId: c.orderId, customerId: c.customerId, total: c.total, currency: c.currency, failure: c.failure,
  };
};

/**
 * A saga's trace as the explorer shows it, read from an orchestrator's store: the service's own
 * (with its journal and relay, for what is not yet checkpointed) or a copy read after the fact
 * (a simulated run's, src/devtools/simulation/recorded.ts).
 */
export function checkoutTraceOf(db: Db, checkoutId: string, live?: TraceLive): CheckoutTrace | undefined {
  const t = actorTrace(db, 'checkout', checkoutId, live, checkoutReplay);
  if (!t) return undefined;
  const c = t.summary.context as unknown as CheckoutContext;
  return CheckoutTrace.parse({
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
}

/**
 * The live saga explorer's read-only view (src/devtools/explorer). A list shows every instance's sagas: the
 * instance asked gathers a page from each registered instance (instances.ts) and merges them. A
 * trace is answered by the instance that owns the saga: any instance asked for one it does not
 * hold looks up the owner's claim in saga-owners and forwards the query to that instance's subject.
 */
export async function serveExplorerQueries(rt: ServiceRuntime, instanceId: string, owners: Kv): Promise<void> {
  const localList = (p: ListCheckoutsQuery): ListCheckoutsResponse => {
    const page = listActors(rt.store.db, 'checkout', { ...p, match: p.q === undefined ? undefined : searchFor(p.q) });
    return ListCheckoutsResponse.parse({ checkouts: page.rows.map(summary), nextCursor: page.nextCursor, facets: page.facets });
  };
  // The queries read the checkpoint (`actors`): bring it up to date first (runtime/journal.ts).
  await rt.query(listAtInstance(instanceId), ExplorerMessageType.listCheckoutsRequest, ListCheckoutsRequest, async (p, meta) => {
    await rt.journal.checkpointIfDirty();
    return rt.reply(ExplorerMessageType.listCheckoutsResponse, localList(p), meta);
  });
  // Whichever instance the queue group picks gathers every registered instance's page.
  await rt.query(ExplorerQuery.listCheckouts, ExplorerMessageType.listCheckoutsRequest, ListCheckoutsRequest, async (p, meta) => {
    await rt.journal.checkpointIfDirty();
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
    // The id asked for may be the checkout's order id.
    const checkoutId = localCheckoutId(rt.store.db, p.checkoutId);
    const body = checkoutId ? checkoutTraceOf(rt.store.db, checkoutId, { journal: rt.journal, relay: rt.relay }) : undefined;
    return body ? rt.reply(ExplorerMessageType.getCheckoutTraceResponse, body, meta) : undefined;
  };
  const notHeld = (checkoutId: string) => new RemoteError(ErrorCode.notFound, `checkout ${checkoutId} is not held by any orchestrator`);
  await rt.query(traceAtInstance(instanceId), ExplorerMessageType.getCheckoutTraceRequest, GetCheckoutTraceRequest, async (p, meta) => {
    await rt.journal.checkpointIfDirty();
    const local = localTrace(p, meta);
    if (!local) throw notHeld(p.checkoutId);
    return local;
  });
  await rt.query(ExplorerQuery.getCheckoutTrace, ExplorerMessageType.getCheckoutTraceRequest, GetCheckoutTraceRequest, async (p, meta) => {
    await rt.journal.checkpointIfDirty();
    const local = localTrace(p, meta);
    if (local) return local;
    const msg = { subject: ExplorerQuery.getCheckoutTrace, headers: metaToHeaders(meta), data: JSON.stringify(p) };
    const forwarded = await forwardToHolder(rt, owners, instanceId, p.checkoutId, traceAtInstance, msg);
    if (!forwarded) throw notHeld(p.checkoutId);
    return forwarded;
  });
}

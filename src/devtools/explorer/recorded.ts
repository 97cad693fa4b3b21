/**
 * A recorded run for the explorer: every saga's trace, read from the orchestrators' stores after
 * the run (a simulated seed's: `npm run simulate -- --seed S --explore`), served as the running
 * system's would be. Nothing in it changes, so there is nothing to watch: the pages show it as it
 * ended, with the same statechart, path, journal, time travel and search.
 */
import { z } from 'zod';
import { CheckoutTrace, type ListCheckoutsRequest, ListCheckoutsResponse } from '../../contracts/index.ts';
import { hasOrderNumber, isOrderNumber } from '../../contracts/order-number.ts';
import type { GetOrderResponse, GetPaymentResponse } from '../../contracts/index.ts';
import type { Kv } from '../../runtime/transport/transport.ts';
import { ExplorerUnavailableError, type ExplorerSource } from './data.ts';

/** The file `--explore` writes: what was run, and every saga's trace. */
export const RecordedRun = z.object({
  /** What the run was, for the page's badge, e.g. `simulated seed 42 (faults crash,drop)`. */
  title: z.string().min(1).max(200),
  checkouts: z.array(CheckoutTrace),
});
export type RecordedRun = z.infer<typeof RecordedRun>;

/** A context field the list shows or searches, when it is there. */
const field = (t: CheckoutTrace, k: string): string | undefined => {
  const v = t.context[k];
  return typeof v === 'string' ? v : undefined;
};

const matches = (t: CheckoutTrace, q: string): boolean => {
  const orderId = field(t, 'orderId');
  if (isOrderNumber(q)) return orderId !== undefined && hasOrderNumber(orderId, q);
  const id = q.toLowerCase();
  return t.checkoutId === id || orderId === id || field(t, 'cartId') === q || field(t, 'customerId') === q;
};

const inState = (t: CheckoutTrace, state: string) =>
  t.state.split(' | ').some((s) => s === state || s.startsWith(`${state}.`));

export class RecordedTraces implements ExplorerSource {
  readonly live = false;
  private readonly traces: CheckoutTrace[];

  constructor(readonly run: RecordedRun) {
    this.traces = [...run.checkouts].sort((a, b) => b.updatedAt.localeCompare(a.updatedAt) || (a.checkoutId < b.checkoutId ? 1 : -1));
  }

  /** Newest first, filtered as the orchestrator filters; one page of up to `limit` (a recorded run is small). */
  async list(q: ListCheckoutsRequest): Promise<ListCheckoutsResponse> {
    const rows = this.traces.filter(
      (t) => (!q.inFlight || t.status === 'active') && (!q.state || inState(t, q.state)) && (!q.q || matches(t, q.q)),
    );
    const facets = new Map<string, number>();
    for (const t of this.traces) if (t.status === 'active') facets.set(t.state, (facets.get(t.state) ?? 0) + 1);
    return ListCheckoutsResponse.parse({
      checkouts: rows.slice(0, q.limit ?? 50).map((t) => ({
        checkoutId: t.checkoutId, state: t.state, status: t.status, seq: t.seq, machineVersion: t.machineVersion,
        createdAt: t.createdAt, updatedAt: t.updatedAt,
        cartId: field(t, 'cartId'), orderId: field(t, 'orderId'), customerId: field(t, 'customerId'),
        total: t.context.total ?? undefined, currency: t.context.currency ?? undefined, failure: t.context.failure,
      })),
      facets: [...facets].map(([state, count]) => ({ state, status: 'active', count })),
    });
  }

  async trace(id: string): Promise<CheckoutTrace | undefined> {
    return this.traces.find((t) => t.checkoutId === id || field(t, 'orderId') === id);
  }

  /** A recorded run keeps the sagas only: the participants' own state is not in it. */
  async payment(): Promise<GetPaymentResponse | undefined> {
    return undefined;
  }

  async order(): Promise<GetOrderResponse | undefined> {
    return undefined;
  }

  checkouts(): Promise<Kv> {
    return Promise.reject(new ExplorerUnavailableError('live updates', new Error(`${this.run.title} is a recorded run: nothing changes`)));
  }
}

/**
 * What a model-based test can observe of the running system: the checkout status, the order, the
 * stock and the payment through their queries over the transport, the events on the ORDERING
 * stream through a tap, and the saga's own journal (read-only from its store, as the auditor reads
 * the others), which says exactly which events the real saga took, in which order.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { z } from 'zod';
import { CheckoutStatus, GetPaymentResponse, MessageType } from '../../../src/contracts/index.ts';
import { Query, Stream } from '../../../src/contracts/subjects.ts';
import { systemClock } from '../../../src/runtime/clock.ts';
import { ServiceClient } from '../../../src/runtime/client.ts';
import { connectNats } from '../../../src/runtime/transport/nats.ts';
import { RemoteError } from '../../../src/runtime/transport/errors.ts';
import type { Delivery, Transport } from '../../../src/runtime/transport/transport.ts';
import type { TestSystem } from '../../support/system-fixture.ts';
import { credentialsFor } from '../../support/nats-server.ts';

export interface JournalEntry {
  seq: number;
  event: { type: string; [k: string]: unknown };
  toState: unknown;
}

export class Observer {
  private readonly journal: Database.Database;
  private readonly client: ServiceClient;
  private readonly events: Delivery[] = [];
  private closers: Array<() => Promise<void>> = [];

  private constructor(
    t: TestSystem,
    private readonly transport: Transport,
  ) {
    this.journal = new Database(join(t.dataDir, 'checkout.db'), { readonly: true, fileMustExist: true });
    this.client = new ServiceClient(transport, 'urn:test:model', systemClock);
  }

  /** Over NATS, observes as the admin user: the services' users rightly may not tap streams or ask every service. */
  static async open(t: TestSystem, tapName: string): Promise<Observer> {
    const transport = t.nats
      ? await connectNats({ servers: t.nats.url, ...credentialsFor('admin'), name: 'model-test' })
      : await t.system.transportFor('gateway');
    const o = new Observer(t, transport);
    const tap = await transport.consume(
      {
        stream: Stream.ordering.name,
        durable: tapName,
        filterSubjects: ['ordering.evt.>'],
        ackWaitMs: 30_000,
      },
      async (d) => void o.events.push(d),
    );
    o.closers.push(() => tap.close());
    if (t.nats) o.closers.push(() => transport.drain());
    return o;
  }

  async close(): Promise<void> {
    for (const c of this.closers) await c();
    this.closers = [];
    this.journal.close();
  }

  entries(checkoutId: string): JournalEntry[] {
    const rows = this.journal
      .prepare(`SELECT seq, record -> '$.event' AS event, record -> '$.to' AS to_state FROM journal
        WHERE kind = 'checkout' AND id = ? AND json_extract(record, '$.event') IS NOT NULL ORDER BY pos`)
      .all(checkoutId) as Array<{ seq: number; event: string; to_state: string }>;
    return rows.map((r) => ({
      seq: r.seq,
      event: JSON.parse(r.event) as JournalEntry['event'],
      toState: JSON.parse(r.to_state) as unknown,
    }));
  }

  /** Waits until the saga has journaled at least `n` events. */
  async journaled(checkoutId: string, n: number, timeoutMs: number): Promise<JournalEntry[]> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const entries = this.entries(checkoutId);
      if (entries.length >= n || Date.now() > until) return entries;
      await sleep(15);
    }
  }

  async status(checkoutId: string): Promise<CheckoutStatus | undefined> {
    try {
      const r = await this.client.call(
        Query.getCheckout,
        MessageType.getCheckoutRequest,
        { checkoutId },
        CheckoutStatus,
        { timeoutMs: 5_000 },
      );
      return r.payload;
    } catch (err) {
      if (err instanceof RemoteError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
  }

  /** Waits until the published status matches; the status document is written after the saga's commit. */
  async statusBecomes(
    checkoutId: string,
    want: (s: CheckoutStatus) => boolean,
    timeoutMs: number,
  ): Promise<CheckoutStatus | undefined> {
    const until = Date.now() + timeoutMs;
    let last: CheckoutStatus | undefined;
    while (Date.now() < until) {
      last = await this.status(checkoutId);
      if (last && want(last)) return last;
      await sleep(20);
    }
    return last;
  }

  async payment(orderId: string): Promise<GetPaymentResponse | undefined> {
    try {
      return (
        await this.client.call(
          Query.getPayment,
          MessageType.getPaymentRequest,
          { orderId },
          GetPaymentResponse,
          { timeoutMs: 5_000 },
        )
      ).payload;
    } catch (err) {
      if (err instanceof RemoteError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
  }

  /** ORDERING events about one order, by ce-type. */
  ordering(orderId: string): string[] {
    return this.events
      .filter(
        (e) => z.object({ orderId: z.string() }).safeParse(JSON.parse(e.data)).data?.orderId === orderId,
      )
      .map((e) => e.headers['ce-type'] ?? '?');
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

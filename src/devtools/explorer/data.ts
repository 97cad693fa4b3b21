/**
 * The explorer's only way to its data: requests over the transport (the orchestrator's explorer
 * queries, the participants' public queries) and the `checkouts` KV bucket for change
 * notifications. Failures are classified once here, so routes can answer 404 / 503 / 502.
 */
import type { z } from 'zod';
import {
  CheckoutTrace,
  ExplorerMessageType,
  GetOrderResponse,
  GetPaymentResponse,
  ListCheckoutsResponse,
  MessageType,
  type ListCheckoutsRequest,
} from '../../contracts/index.ts';
import { Bucket, ExplorerQuery, Query, type Partitions } from '../../contracts/subjects.ts';
import type { Clock } from '../../runtime/clock.ts';
import { ServiceClient } from '../../runtime/client.ts';
import { ErrorCode, isTransient, RemoteError } from '../../runtime/transport/errors.ts';
import type { Kv, Transport } from '../../runtime/transport/transport.ts';

export const EXPLORER_SOURCE = 'urn:acme:ordering:saga-explorer';

/** A service or the bus could not be reached: the caller may retry (HTTP 503). */
export class ExplorerUnavailableError extends Error {
  override readonly name = 'ExplorerUnavailableError';
  constructor(what: string, override readonly cause: unknown) {
    super(`${what} is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/** A service answered with something other than what its contract says (HTTP 502). */
export class ExplorerUpstreamError extends Error {
  override readonly name = 'ExplorerUpstreamError';
  constructor(what: string, override readonly cause: unknown) {
    super(`${what} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/** Where the explorer reads: the running system over the transport, or a recorded run (recorded.ts). */
export interface ExplorerSource {
  /** False for a recorded run: nothing in it changes, so there is nothing to watch. */
  readonly live: boolean;
  list(q: ListCheckoutsRequest): Promise<ListCheckoutsResponse>;
  /** The saga's trace (by checkout or order id), or undefined if there is none. */
  trace(checkoutId: string): Promise<CheckoutTrace | undefined>;
  payment(orderId: string): Promise<GetPaymentResponse | undefined>;
  order(orderId: string): Promise<GetOrderResponse | undefined>;
  checkouts(): Promise<Kv>;
}

export class ExplorerData implements ExplorerSource {
  readonly live = true;
  private readonly client: ServiceClient;
  private kvP: Promise<Kv> | undefined;

  constructor(
    private readonly transport: Transport,
    clock: Clock,
    private readonly timeoutMs: number,
    partitions: Partitions = {},
  ) {
    this.client = new ServiceClient(transport, EXPLORER_SOURCE, clock, partitions);
  }

  list(q: ListCheckoutsRequest): Promise<ListCheckoutsResponse> {
    return this.ask(ExplorerQuery.listCheckouts, ExplorerMessageType.listCheckoutsRequest, q, ListCheckoutsResponse).then((r) => r!);
  }

  /** The saga's trace, or undefined if no orchestrator holds it. */
  trace(checkoutId: string): Promise<CheckoutTrace | undefined> {
    return this.ask(ExplorerQuery.getCheckoutTrace, ExplorerMessageType.getCheckoutTraceRequest, { checkoutId }, CheckoutTrace);
  }

  payment(orderId: string): Promise<GetPaymentResponse | undefined> {
    return this.ask(Query.getPayment, MessageType.getPaymentRequest, { orderId }, GetPaymentResponse);
  }

  order(orderId: string): Promise<GetOrderResponse | undefined> {
    return this.ask(Query.getOrder, MessageType.getOrderRequest, { orderId }, GetOrderResponse);
  }

  /** The `checkouts` bucket, opened on first use and again after a failure. */
  async checkouts(): Promise<Kv> {
    this.kvP ??= this.transport.kv(Bucket.checkouts);
    return this.kvP.catch((err: unknown) => {
      this.kvP = undefined;
      throw new ExplorerUnavailableError(`kv ${Bucket.checkouts}`, err);
    });
  }

  private async ask<T>(subject: string, type: string, payload: unknown, schema: z.ZodType<T>): Promise<T | undefined> {
    try {
      return (await this.client.call(subject, type, payload, schema, { timeoutMs: this.timeoutMs })).payload;
    } catch (err) {
      if (err instanceof RemoteError && err.code === ErrorCode.notFound) return undefined;
      if (isTransient(err)) throw new ExplorerUnavailableError(subject, err);
      throw new ExplorerUpstreamError(subject, err);
    }
  }
}

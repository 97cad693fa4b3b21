/**
 * How `npm run ops` reaches the running system, never its files:
 *  - NATS_URL set (distributed): over NATS as the gateway's user, the same requests the gateway
 *    and the explorer send (the orchestrator answers; any instance forwards to the saga's owner);
 *  - otherwise (embedded, whose in-process bus has no outside door): the gateway's HTTP API at
 *    OPS_URL (default http://HOST:PORT), with OPERATOR_TOKEN as the bearer token.
 * Both give the same answers: the explorer's list and trace, and the operator's retry.
 */
import {
  CheckoutTrace,
  ExplorerMessageType,
  ListCheckoutsResponse,
  OperatorMessageType,
  RetryCheckoutResponse,
  type CheckoutSummary,
} from '../../contracts/index.ts';
import { ExplorerQuery, OperatorCommand } from '../../contracts/subjects.ts';
import { systemClock } from '../../runtime/clock.ts';
import { ServiceClient } from '../../runtime/client.ts';
import { ErrorCode, RemoteError } from '../../runtime/transport/errors.ts';
import { connectNats, natsServers } from '../../runtime/transport/nats.ts';

export const OPS_SOURCE = 'urn:acme:ordering:ops-cli';

export interface OpsBackend {
  /** Where it talks to, for the operator to read. */
  readonly target: string;
  /** Sagas parked in needsAttention, newest first. */
  attention(): Promise<CheckoutSummary[]>;
  /** A saga by checkout or order id; undefined if no orchestrator holds it. */
  trace(id: string): Promise<CheckoutTrace | undefined>;
  retry(id: string): Promise<RetryCheckoutResponse>;
  close(): Promise<void>;
}

/** An operator-facing failure: what went wrong, already in words. */
export class OpsError extends Error {
  override readonly name = 'OpsError';
}

const parked = (s: { state: string }) => s.state.includes('needsAttention');
const listQuery = { state: 'compensating', inFlight: true, limit: 200 } as const;

export async function natsBackend(url: string, user: string, pass: string): Promise<OpsBackend> {
  const transport = await connectNats({ servers: natsServers(url), user, pass, name: `ops-${process.pid}` });
  const client = new ServiceClient(transport, OPS_SOURCE, systemClock);
  const opts = { timeoutMs: 5_000 };
  return {
    target: url,
    async attention() {
      const r = await client.call(ExplorerQuery.listCheckouts, ExplorerMessageType.listCheckoutsRequest, listQuery, ListCheckoutsResponse, opts);
      return r.payload.checkouts.filter(parked);
    },
    async trace(id) {
      try {
        return (await client.call(ExplorerQuery.getCheckoutTrace, ExplorerMessageType.getCheckoutTraceRequest, { checkoutId: id }, CheckoutTrace, opts)).payload;
      } catch (err) {
        if (err instanceof RemoteError && err.code === ErrorCode.notFound) return undefined;
        throw err;
      }
    },
    async retry(id) {
      try {
        return (await client.call(OperatorCommand.retryCheckout, OperatorMessageType.retryCheckoutRequest, { checkoutId: id }, RetryCheckoutResponse, opts)).payload;
      } catch (err) {
        if (err instanceof RemoteError) throw new OpsError(`${err.code}: ${err.message}`);
        throw err;
      }
    },
    close: () => transport.drain(),
  };
}

export function httpBackend(base: string, token: string | undefined): OpsBackend {
  const root = base.replace(/\/$/, '');
  const get = async (path: string, init?: RequestInit): Promise<{ status: number; body: unknown }> => {
    const res = await fetch(`${root}${path}`, { ...init, headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } });
    return { status: res.status, body: await res.json().catch(() => undefined) };
  };
  const fail = (r: { status: number; body: unknown }): never => {
    const b = r.body as { code?: string; message?: string } | undefined;
    throw new OpsError(`HTTP ${r.status} ${b?.code ?? ''}: ${b?.message ?? 'no message'}`);
  };
  return {
    target: root,
    async attention() {
      const r = await get(`/explorer/api/checkouts?state=${listQuery.state}&inFlight=true&limit=${listQuery.limit}`);
      if (r.status !== 200) fail(r);
      return ListCheckoutsResponse.parse(r.body).checkouts.filter(parked);
    },
    async trace(id) {
      const r = await get(`/explorer/api/checkouts/${encodeURIComponent(id)}`);
      if (r.status === 404) return undefined;
      if (r.status !== 200) fail(r);
      return CheckoutTrace.parse((r.body as { trace: unknown }).trace);
    },
    async retry(id) {
      const r = await get(`/checkouts/${encodeURIComponent(id)}/retry`, { method: 'POST' });
      if (r.status !== 200) fail(r);
      return RetryCheckoutResponse.parse(r.body);
    },
    close: () => Promise.resolve(),
  };
}

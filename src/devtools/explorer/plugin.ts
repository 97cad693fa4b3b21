/**
 * The live saga explorer, as a Fastify plugin the gateway registers:
 *
 *   /explorer                              recent checkouts (or in flight), filterable by state, searchable by
 *                                          checkout, order, cart or customer id or short order number
 *   /explorer/checkouts/:id                one saga: statechart, journal, timers, outbox,
 *                                          compensation, participants; live; time travel
 *   /explorer/participants/:kind/:id       a participant's machine and its side of the saga
 *   /explorer/api/...                      the JSON and SSE behind those pages
 *
 * Fully offline: the page, its script, its styles and the statecharts (drawn by src/devtools/visualize)
 * are all served from here; nothing is fetched from anywhere else. It works under the gateway's
 * CSP (script-src 'self'): no inline script. Its data comes over the transport only.
 *
 * Developers' tool: it shows customer ids and payloads, so expose it only where that is fine.
 */
import { orderNumberOf } from '../../contracts/order-number.ts';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyError, FastifyPluginAsync, FastifyReply } from 'fastify';
import { z } from 'zod';
import { ListCheckoutsRequest, StatePath, Uuid } from '../../contracts/index.ts';
import { systemClock, type Clock } from '../../runtime/clock.ts';
import type { Transport } from '../../runtime/transport/transport.ts';
import { toDefinition } from '../visualize/definition.ts';
import { machineGraph, type MachineGraph } from '../visualize/graph.ts';
import { machines, type MachineEntry } from '../visualize/machines.ts';
import { toMermaid } from '../visualize/mermaid.ts';
import { toSvg } from '../visualize/svg.ts';
import type { Partitions } from '../../contracts/subjects.ts';
import { ExplorerData, ExplorerUnavailableError, ExplorerUpstreamError, type ExplorerSource } from './data.ts';
import { RecordedTraces, type RecordedRun } from './recorded.ts';
import { openSse, type SseStream } from '../../gateway/sse.ts';
import { followCheckout, ListFeed } from './live.ts';
import { explorerPage, type PageView } from './page.ts';
import { participantKinds, participantPage } from './participant.ts';
import { checkoutView, type ParticipantKind } from './view.ts';

export type ExplorerOptions = (
  | {
      /** The only way to the services. */
      transport: Transport;
      recorded?: undefined;
    }
  | {
      transport?: undefined;
      /** Instead of the running system: a recorded run (recorded.ts), shown as it ended. */
      recorded: RecordedRun;
    }
) & {
  clock?: Clock;
  /** Deadline of each query to a service. */
  timeoutMs?: number;
  /** How many partitions each service has: a payment or order is asked of the partition owning it. */
  partitions?: Partitions;
  /** How often a watched, unsettled saga is re-read (see live.ts). */
  pollMs?: number;
  heartbeatMs?: number;
};

interface Drawn {
  entry: MachineEntry;
  graph: MachineGraph;
  svg: string;
}

const assetsDir = new URL('./public/', import.meta.url);

function asset(file: string, type: string) {
  const body = readFileSync(new URL(file, assetsDir));
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

const IdParams = z.object({ checkoutId: Uuid });
const ParticipantParams = z.object({ kind: z.enum(participantKinds as [ParticipantKind, ...ParticipantKind[]]), actorId: Uuid });
const ParticipantQuery = z.object({ checkout: Uuid.optional() });
const ListQuery = z.object({
  state: StatePath.optional(),
  inFlight: z.enum(['true', 'false']).optional(),
  limit: z.coerce.number().int().min(1).max(200).optional(),
  cursor: z.string().max(200).optional(),
  /** Search: a checkout, order, cart or customer id, or a short order number. */
  q: z.string().max(100).optional(),
});

class BadRequest extends Error {
  readonly statusCode = 400;
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new BadRequest(r.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; '));
  return r.data;
}

export const explorerPlugin: FastifyPluginAsync<ExplorerOptions> = async (app, opts) => {
  const data: ExplorerSource = opts.recorded
    ? new RecordedTraces(opts.recorded)
    : new ExplorerData(opts.transport, opts.clock ?? systemClock, opts.timeoutMs ?? 3_000, opts.partitions);
  const recordedTitle = opts.recorded?.title;
  const pollMs = opts.pollMs ?? 1_000;
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const listFeed = new ListFeed(data, 250);
  const channels = new Set<SseStream>();
  const drawn = new Map<string, Drawn>(
    machines.map((entry) => {
      const graph = machineGraph(entry.machine);
      return [entry.name, { entry, graph, svg: toSvg(graph, entry.name) }];
    }),
  );
  const checkout = drawn.get('checkout')!;

  // Errors here answer like the gateway's: `{code, message}`, internals hidden on a 5xx.
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof BadRequest) return reply.code(400).send({ code: 'BAD_REQUEST', message: err.message });
    if (err instanceof ExplorerUnavailableError) return reply.code(503).header('retry-after', '1').send({ code: 'UNAVAILABLE', message: err.message });
    if (err instanceof ExplorerUpstreamError) {
      req.log.error({ err }, 'explorer upstream failure');
      return reply.code(502).send({ code: 'BAD_GATEWAY', message: err.message });
    }
    req.log.error({ err }, 'explorer failure');
    return reply.code(err.statusCode && err.statusCode < 500 ? err.statusCode : 500).send({ code: 'INTERNAL', message: 'internal error' });
  });
  app.addHook('preClose', async () => {
    for (const c of [...channels]) c.end();
    await listFeed.stop();
  });

  const hide = { schema: { hide: true } };
  const notFound = (reply: FastifyReply, message: string) => reply.code(404).send({ code: 'NOT_FOUND', message });

  // ---- pages and assets ---------------------------------------------------------------------
  const page = (reply: FastifyReply, view: PageView) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(explorerPage(view, recordedTitle));
  app.get('/explorer', hide, async (_req, reply) => page(reply, { view: 'list' }));
  app.get('/explorer/checkouts/:checkoutId', hide, async (req, reply) => {
    const { checkoutId } = parse(IdParams, req.params);
    return page(reply, { view: 'checkout', checkoutId });
  });
  app.get('/explorer/participants/:kind/:actorId', hide, async (req, reply) => {
    const { kind, actorId } = parse(ParticipantParams, req.params);
    return page(reply, { view: 'participant', kind, actorId, checkoutId: parse(ParticipantQuery, req.query).checkout });
  });
  for (const [file, type] of [['explorer.js', 'text/javascript; charset=utf-8'], ['explorer.css', 'text/css; charset=utf-8']] as const) {
    const a = asset(file, type);
    app.get(`/explorer/assets/${file}`, hide, async (req, reply) => {
      void reply.header('etag', a.etag).header('cache-control', 'no-cache');
      if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
      return reply.type(a.type).send(a.body);
    });
  }

  // ---- machines -----------------------------------------------------------------------------
  app.get('/explorer/api/machines', hide, async () => machines.map((m) => ({ name: m.name, version: m.version })));
  app.get('/explorer/api/machines/:name', hide, async (req, reply) => {
    const { name } = parse(z.object({ name: z.string().max(64) }), req.params);
    const d = drawn.get(name);
    if (!d) return notFound(reply, `no machine named ${name}`);
    return { name, version: d.entry.version, svg: d.svg, mermaid: toMermaid(d.graph), definition: toDefinition(d.graph, d.entry.version) };
  });
  app.get('/explorer/api/machines/:name/svg', hide, async (req, reply) => {
    const d = drawn.get(parse(z.object({ name: z.string().max(64) }), req.params).name);
    if (!d) return notFound(reply, 'no such machine');
    return reply.type('image/svg+xml').header('cache-control', 'no-cache').send(d.svg);
  });

  // ---- checkouts ----------------------------------------------------------------------------
  // Every state a saga can be in (compound ones too), for the filter: facets only count in-flight ones.
  const statesOfCheckout = checkout.graph.states.filter((s) => s.parent !== undefined).map((s) => s.id.split('.').slice(1).join('.'));
  app.get('/explorer/api/checkouts', hide, async (req) => {
    const q = parse(ListQuery, req.query);
    const page = await data.list(
      ListCheckoutsRequest.parse({
        state: q.state,
        inFlight: q.inFlight === undefined ? undefined : q.inFlight === 'true',
        limit: q.limit,
        cursor: q.cursor,
        q: q.q?.trim() || undefined,
      }),
    );
    // The short number the shopper was shown (ACME-XXXX-XXXX), computed from the order id.
    const checkouts = page.checkouts.map((c) => ({ ...c, orderNumber: c.orderId ? orderNumberOf(c.orderId) : undefined }));
    return { ...page, checkouts, states: statesOfCheckout };
  });
  app.get('/explorer/api/checkouts/stream', hide, async (req, reply) => {
    const channel = openChannel(reply);
    if (!data.live) return channel.send({ event: 'ready', data: {} });
    try {
      const unsubscribe = await listFeed.subscribe((ids) => channel.send({ event: 'changed', data: { checkoutIds: ids } }));
      channel.onEnd(unsubscribe);
      channel.send({ event: 'ready', data: {} });
    } catch (err) {
      req.log.warn({ err }, 'explorer list feed unavailable');
      channel.send({ event: 'error', data: { message: 'live updates are unavailable; refresh to retry' } });
      channel.end();
    }
  });
  app.get('/explorer/api/checkouts/:checkoutId', hide, async (req, reply) => {
    const { checkoutId } = parse(IdParams, req.params);
    const trace = await data.trace(checkoutId);
    if (!trace) return notFound(reply, `no orchestrator holds checkout ${checkoutId}`);
    return checkoutView(trace, checkout.entry, checkout.graph);
  });
  app.get('/explorer/api/checkouts/:checkoutId/events', hide, async (req, reply) => {
    const { checkoutId } = parse(IdParams, req.params);
    const channel = openChannel(reply);
    const feed = await followCheckout(
      data,
      checkoutId,
      { pollMs },
      (trace) =>
        channel.send(trace ? { event: 'view', data: checkoutView(trace, checkout.entry, checkout.graph) } : { event: 'absent', data: { checkoutId } }),
      (err) => channel.send({ event: 'error', data: { message: err instanceof Error ? err.message : String(err) } }),
    );
    channel.onEnd(() => void feed.close());
  });

  // ---- participants -------------------------------------------------------------------------
  app.get('/explorer/api/participants/:kind/:actorId', hide, async (req) => {
    const { kind, actorId } = parse(ParticipantParams, req.params);
    const { checkout: checkoutId } = parse(ParticipantQuery, req.query);
    const trace = checkoutId ? await data.trace(checkoutId) : undefined;
    const fromSaga = trace ? checkoutView(trace, checkout.entry, checkout.graph).participants.find((p) => p.kind === kind && p.actorId === actorId) : undefined;
    return participantPage(data, kind, actorId, fromSaga, checkoutId);
  });

  function openChannel(reply: FastifyReply): SseStream {
    const channel = openSse(reply, { retryMs: 2_000, heartbeatMs });
    channels.add(channel);
    channel.onEnd(() => channels.delete(channel));
    return channel;
  }
};

/**
 * Checkout progress as its own resource (decision 4).
 *
 * `GET /checkouts/{id}` answers the current status document. `GET /checkouts/{id}/events` streams
 * it as Server-Sent Events, driven by the gateway's one watch of the KV bucket (status-watch.ts; no
 * polling, and no watch per stream): one `status` event now, and one more each time the
 * orchestrator commits a step, until CONFIRMED or CANCELLED,
 * after which the stream ends. Each event's id is the document's KV revision, so a browser that
 * reconnects with Last-Event-ID is not sent what it already has.
 *
 * Under AUTH=jwt a checkout is its cart's customer's: the status document the orchestrator
 * publishes names that customer, and anyone else gets the same 404 as for an unknown id.
 */
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isTerminal, type TrackedStatus } from '../checkouts.ts';
import type { RouteOptions } from '../context.ts';
import { causeOf } from '../correlation.ts';
import { HttpCode, HttpError } from '../errors.ts';
import { CheckoutParams, CheckoutQuery, CheckoutStatusDoc, problem, serviceErrors, shopperAuth, shopperSecurity } from '../schemas.ts';
import { openSse, type SseStream } from '../sse.ts';

const notFound = (checkoutId: string) => new HttpError(404, HttpCode.notFound, `checkout ${checkoutId} not found`);

export const checkoutRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { ctx }) => {
  const { checkouts, config, auth } = ctx;
  const open = new Set<SseStream>();

  /** The checkout's status if it exists and (under AUTH=jwt) is the signed-in customer's. */
  const visible = async (req: FastifyRequest, checkoutId: string, cartId: string | undefined): Promise<TrackedStatus> => {
    const customer = await auth.customer(req);
    const t = await checkouts.status(checkoutId, causeOf(req), cartId);
    if (!t || (customer !== undefined && t.status.customerId !== customer)) throw notFound(checkoutId);
    return t;
  };

  // Open streams would hold the server open forever; end them as soon as it starts closing.
  app.addHook('preClose', async () => {
    for (const s of [...open]) s.end();
  });

  app.get('/checkouts/:checkoutId', {
    schema: {
      operationId: 'getCheckout',
      summary: 'Where a checkout stands',
      description:
        'PENDING with the current step, CONFIRMED, or CANCELLED with the reason in words. A checkout accepted a ' +
        'moment ago whose saga has not reported yet is PENDING at RESERVING_INVENTORY.',
      tags: ['Checkout'],
      security: shopperSecurity,
      params: CheckoutParams,
      querystring: CheckoutQuery,
      response: {
        200: CheckoutStatusDoc,
        400: problem('The checkoutId or cartId is not a UUID.'),
        404: problem('No such checkout (or it is another customer’s).'),
        ...shopperAuth,
        ...serviceErrors,
      },
    },
    handler: async (req) => (await visible(req, req.params.checkoutId, req.query.cartId)).status,
  });

  app.get('/checkouts/:checkoutId/events', {
    schema: {
      operationId: 'watchCheckout',
      summary: 'Watch a checkout (Server-Sent Events)',
      description:
        'A `status` event carrying a CheckoutStatus now and at every change; the stream ends after CONFIRMED or ' +
        'CANCELLED. Event ids are revisions: reconnecting with Last-Event-ID skips what was already received.',
      tags: ['Checkout'],
      security: shopperSecurity,
      params: CheckoutParams,
      querystring: CheckoutQuery,
      produces: ['text/event-stream'],
      response: {
        200: z.string().describe('An event stream of `status` events, each a CheckoutStatus as JSON.'),
        400: problem('The checkoutId or cartId is not a UUID.'),
        404: problem('No such checkout (or it is another customer’s).'),
        ...shopperAuth,
        ...serviceErrors,
      },
    },
    handler: async (req, reply) => {
      const { checkoutId } = req.params;
      if (open.size >= config.sse.maxStreams) {
        throw new HttpError(503, HttpCode.unavailable, 'too many open event streams; try again shortly', {
          'retry-after': String(config.retryAfterSeconds),
        });
      }
      const initial = await visible(req, checkoutId, req.query.cartId);

      const stream = openSse(reply, config.sse);
      open.add(stream);
      stream.onEnd(() => open.delete(stream));

      let last = lastEventIdOf(req.headers['last-event-id']);
      const push = (t: TrackedStatus): void => {
        // Revision 0 is the "accepted" placeholder; any real revision supersedes it.
        if (t.revision > last || (t.revision === 0 && last < 0)) {
          last = t.revision;
          stream.send({ event: 'status', id: String(t.revision), data: t.status });
        } else if (t.revision === 0 && isTerminal(t.status)) {
          // The saga's own answer (its document is gone: expired, or an embedded restart emptied
          // the bucket before the relay wrote it again) ends the stream, so it is sent even to a
          // client that names a revision: without an id, which leaves the client's Last-Event-ID
          // as it is. At worst the client hears its final status twice.
          stream.send({ event: 'status', data: t.status });
        }
        // Revisions only grow, so a final status is the last word even if the client had it already.
        if (isTerminal(t.status)) stream.end();
      };
      push(initial);
      if (!stream.isOpen) return;
      try {
        const watcher = await checkouts.watch(checkoutId, push, (err) => {
          req.log.error({ err, checkoutId }, 'unreadable checkout status in watch');
          stream.end();
        });
        stream.onEnd(() => void watcher.close());
      } catch (err) {
        req.log.warn({ err, checkoutId }, 'cannot watch checkout');
        stream.send({ event: 'error', data: { code: HttpCode.unavailable, message: 'live updates are unavailable; retrying' } });
        stream.end();
      }
    },
  });
};

function lastEventIdOf(header: string | string[] | undefined): number {
  return typeof header === 'string' && /^\d{1,15}$/.test(header) ? Number(header) : -1;
}

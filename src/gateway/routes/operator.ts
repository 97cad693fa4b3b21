/**
 * Operator actions on sagas, behind `auth.operator` (the gateway's one operator check): retry the stuck step of a
 * checkout parked in needsAttention. The saga's id or its order id both name it. The orchestrator
 * that holds the saga answers (src/actors/checkout/operator.ts); a saga in any other state
 * answers 409 with the state it is in.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { OperatorMessageType, RetryCheckoutResponse } from '../../contracts/index.ts';
import { OperatorCommand } from '../../contracts/subjects.ts';
import { forwarding, type RouteOptions } from '../context.ts';
import { CheckoutParams, OperatorHeaders, operatorAuth, operatorSecurity, problem, serviceErrors } from '../schemas.ts';

const RetryDoc = RetryCheckoutResponse.meta({ id: 'RetryCheckoutResponse' });

export const operatorRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { ctx }) => {
  const { auth } = ctx;
  const { command } = forwarding(ctx);

  app.post('/checkouts/:checkoutId/retry', {
    schema: {
      operationId: 'retryCheckout',
      summary: 'Retry the stuck step of a checkout that needs attention (operator)',
      description:
        'A compensation that kept failing parks its saga in needsAttention. Once the participant is fixed, this sends ' +
        'the stuck step again with the same idempotency key. `checkoutId` may also be the order id of the checkout.',
      tags: ['Operations'],
      security: operatorSecurity,
      params: CheckoutParams,
      headers: OperatorHeaders,
      response: {
        200: RetryDoc,
        400: problem('The id is not a UUID.'),
        ...operatorAuth,
        404: problem('No orchestrator holds this checkout.'),
        409: problem('The checkout does not need attention: the message names its state.'),
        ...serviceErrors,
      },
    },
    handler: async (req) => {
      const who = await auth.operator(req);
      req.log.info({ ...who, action: 'retry-checkout', checkoutId: req.params.checkoutId }, 'operator action');
      return command(req, OperatorCommand.retryCheckout, OperatorMessageType.retryCheckoutRequest, RetryDoc, {
        checkoutId: req.params.checkoutId,
      });
    },
  });
};

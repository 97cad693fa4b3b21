/**
 * What the storefront needs to know about sign-in: the mode, and where the shop's login lives.
 * Public (the storefront asks before anyone has signed in); it reveals nothing a page view does not.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteOptions } from '../context.ts';

export const AuthInfoDoc = z
  .object({
    mode: z.enum(['off', 'jwt']).describe('`off`: no sign-in, ids are capabilities; `jwt`: shopper routes need a bearer token.'),
    loginUrl: z.string().optional().describe('Where a shopper without a token signs in (jwt mode, when configured).'),
  })
  .meta({ id: 'AuthInfo' });

export const authRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { ctx }) => {
  const { auth } = ctx;
  const body: z.infer<typeof AuthInfoDoc> =
    auth.config.mode === 'jwt' && auth.config.loginUrl ? { mode: 'jwt', loginUrl: auth.config.loginUrl } : { mode: auth.config.mode };
  app.get('/auth/config', {
    schema: {
      operationId: 'getAuthConfig',
      summary: 'How shoppers sign in',
      tags: ['Identity'],
      response: { 200: AuthInfoDoc },
    },
    handler: async () => body,
  });
};

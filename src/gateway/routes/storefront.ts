/**
 * The storefront: a few small files served from memory. They are read once at startup, so a
 * missing file fails the gateway's boot rather than a shopper's page load. Each carries an ETag
 * and `no-cache`, so browsers revalidate cheaply and never run a stale script against a newer API.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsync } from 'fastify';

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const FILES = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/lib.js': { file: 'lib.js', type: 'text/javascript; charset=utf-8' },
  '/session.js': { file: 'session.js', type: 'text/javascript; charset=utf-8' },
  '/words.js': { file: 'words.js', type: 'text/javascript; charset=utf-8' },
  '/styles.css': { file: 'styles.css', type: 'text/css; charset=utf-8' },
} as const;

const publicDir = new URL('../public/', import.meta.url);

export const storefrontRoutes: FastifyPluginAsync = async (app) => {
  for (const [path, { file, type }] of Object.entries(FILES)) {
    const body = await readFile(new URL(file, publicDir));
    const asset: Asset = { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
    app.get(path, { schema: { hide: true } }, async (req, reply) => {
      void reply.header('etag', asset.etag).header('cache-control', 'no-cache');
      if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
      return reply.type(asset.type).send(asset.body);
    });
  }
};

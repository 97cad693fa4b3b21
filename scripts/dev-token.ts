/**
 * `npm run dev-token`: try AUTH=jwt on a development machine, playing the shop's login yourself.
 *
 * Makes (once) an ES256 key pair under ./data/dev-auth/, signs a token for a customer (a new one
 * unless `--customer <uuid>`; `--operator` adds the operator role), and prints how to start the
 * gateway trusting that key and the storefront URL that hands the token over, as a real login's
 * redirect would. It is a separate script, not a route: nothing in the gateway issues tokens, so
 * there is no development login to forget to switch off in production.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, SignJWT } from 'jose';

const ISSUER = 'urn:acme:dev-login';
const AUDIENCE = 'acme-shop';

const { values } = parseArgs({
  options: {
    customer: { type: 'string' },
    operator: { type: 'boolean', default: false },
    'key-dir': { type: 'string', default: './data/dev-auth' },
    ttl: { type: 'string', default: '1h' },
    url: { type: 'string', default: 'http://127.0.0.1:3000' },
  },
});

const dir = resolve(values['key-dir']);
const privateFile = join(dir, 'private.pem');
const publicFile = join(dir, 'public.pem');
if (!existsSync(privateFile)) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pair = await generateKeyPair('ES256', { extractable: true });
  writeFileSync(privateFile, await exportPKCS8(pair.privateKey), { mode: 0o600 });
  writeFileSync(publicFile, await exportSPKI(pair.publicKey));
}
const key = await importPKCS8(readFileSync(privateFile, 'utf8'), 'ES256');
const customer = values.customer ?? randomUUID();
const token = await new SignJWT(values.operator ? { roles: ['operator'] } : {})
  .setProtectedHeader({ alg: 'ES256' })
  .setSubject(customer)
  .setIssuer(ISSUER)
  .setAudience(AUDIENCE)
  .setIssuedAt()
  .setExpirationTime(values.ttl)
  .sign(key);

process.stdout.write(
  [
    `customer: ${customer}${values.operator ? ' (operator)' : ''}`,
    '',
    'Start the shop trusting this key:',
    `  AUTH=jwt AUTH_PUBLIC_KEY_FILE=${publicFile} AUTH_ISSUER=${ISSUER} AUTH_AUDIENCE=${AUDIENCE} npm start`,
    '',
    'Open the storefront signed in:',
    `  ${values.url}/#token=${token}`,
    '',
    'Or call the API:',
    `  curl -H 'Authorization: Bearer ${token}' ${values.url}/customers/${customer}/orders`,
    '',
  ].join('\n'),
);

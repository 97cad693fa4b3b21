/**
 * How a service proves who it is to nats-server, and how the connection is encrypted. Secrets come
 * from the environment or from files the platform mounts (Kubernetes secrets, systemd
 * credentials), never from the repository, except the development passwords of nats.conf, which
 * are refused when NODE_ENV=production.
 *
 * Per service (SERVICE is the upper-case name, e.g. CHECKOUT), the first that is set wins:
 *   NATS_CREDS_FILE_<SERVICE>      a .creds file (user JWT + nkey seed; decentralized auth, `nsc`)
 *   NATS_NKEY_SEED_FILE_<SERVICE>  a file holding the user's nkey seed (SU...)
 *   NATS_NKEY_SEED_<SERVICE>       the seed itself
 *   NATS_PASSWORD_FILE_<SERVICE>   a file holding the password (user: NATS_USER_<SERVICE>, or the service name)
 *   NATS_PASSWORD_<SERVICE>        the password itself
 * and then the same names without the suffix, shared by every service of the process; otherwise
 * the nats.conf development password `<service>-dev-secret`.
 *
 * TLS: NATS_TLS_CA_FILE (the CA that signed the server's certificate), NATS_TLS_CERT_FILE and
 * NATS_TLS_KEY_FILE (a client certificate, when the server verifies clients). Any of them, or a
 * `tls://` URL, makes the client require TLS.
 */
import { readFileSync } from 'node:fs';
import {
  credsAuthenticator,
  nkeyAuthenticator,
  usernamePasswordAuthenticator,
  type Authenticator,
  type TlsOptions,
} from '@nats-io/transport-node';

export type NatsCredentials =
  | { kind: 'password'; user: string; pass: string; source: string }
  | { kind: 'nkey'; seed: string; source: string }
  | { kind: 'creds'; creds: string; source: string };

type Env = Readonly<Record<string, string | undefined>>;

const read = (file: string): string => readFileSync(file, 'utf8').trim();

/** The first configured credential for `service`, as described above. */
export function natsCredentialsFromEnv(service: string, env: Env): NatsCredentials {
  const S = service.toUpperCase();
  for (const suffix of [`_${S}`, '']) {
    const v = (name: string) => {
      const value = env[`${name}${suffix}`];
      return value ? { name: `${name}${suffix}`, value } : undefined;
    };
    const creds = v('NATS_CREDS_FILE');
    if (creds) return { kind: 'creds', creds: readFileSync(creds.value, 'utf8'), source: creds.name };
    const seedFile = v('NATS_NKEY_SEED_FILE');
    if (seedFile) return { kind: 'nkey', seed: read(seedFile.value), source: seedFile.name };
    const seed = v('NATS_NKEY_SEED');
    if (seed) return { kind: 'nkey', seed: seed.value.trim(), source: seed.name };
    const user = env[`NATS_USER${suffix}`] || service;
    const passFile = v('NATS_PASSWORD_FILE');
    if (passFile) return { kind: 'password', user, pass: read(passFile.value), source: passFile.name };
    const pass = v('NATS_PASSWORD');
    if (pass) return { kind: 'password', user, pass: pass.value, source: pass.name };
  }
  if (env.NODE_ENV === 'production') {
    throw new Error(
      `NODE_ENV=production and no NATS credentials for ${service}: set NATS_CREDS_FILE_${S}, NATS_NKEY_SEED_FILE_${S} ` +
        `or NATS_PASSWORD_FILE_${S} (the development passwords in nats.conf are never used in production)`,
    );
  }
  return { kind: 'password', user: service, pass: `${service}-dev-secret`, source: 'nats.conf development password' };
}

/** The client TLS options, or undefined when none are configured. */
export function natsTlsFromEnv(env: Env): TlsOptions | undefined {
  const tls: TlsOptions = {
    ...(env.NATS_TLS_CA_FILE ? { caFile: env.NATS_TLS_CA_FILE } : {}),
    ...(env.NATS_TLS_CERT_FILE ? { certFile: env.NATS_TLS_CERT_FILE } : {}),
    ...(env.NATS_TLS_KEY_FILE ? { keyFile: env.NATS_TLS_KEY_FILE } : {}),
  };
  if (!!tls.certFile !== !!tls.keyFile) throw new Error('NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE go together');
  return Object.keys(tls).length ? tls : undefined;
}

/** nats.js's authenticator for a credential. */
export function authenticatorFor(c: NatsCredentials): Authenticator {
  switch (c.kind) {
    case 'password':
      return usernamePasswordAuthenticator(c.user, c.pass);
    case 'nkey':
      return nkeyAuthenticator(new TextEncoder().encode(c.seed));
    case 'creds':
      return credsAuthenticator(new TextEncoder().encode(c.creds));
    default: {
      const _exhaustive: never = c;
      throw new Error(`unknown credential ${String(_exhaustive)}`);
    }
  }
}

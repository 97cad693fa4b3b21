/**
 * Production-shaped NATS for a test: a CA, a server certificate for 127.0.0.1 and a client
 * certificate made with the `openssl` CLI, nkey users made with @nats-io/nkeys (the transport's own
 * dependency), and nats.conf rewritten to use them: the same permissions, each `user/password`
 * replaced by the service's nkey, and a `tls` block that also verifies client certificates.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { defaultNatsConfig, type NatsUser } from './nats-server.ts';

export interface TlsMaterial {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  /** Routes between cluster nodes are client and server at once. */
  routeCertFile: string;
  routeKeyFile: string;
}

function openssl(dir: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const where = process.env.CI === 'true' ? 'CI must provide it' : 'install it to run this test';
    throw new Error(`openssl failed or is missing (${where}, e.g. apt-get install openssl): ${(err as Error).message}`);
  }
}

/** A throwaway CA and the server and client certificates it signs (EC P-256, valid one day). */
export function makeCertificates(dir: string): TlsMaterial {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=poa-test-ca', '-days', '1']);
  const sign = (name: string, ext: string) => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(dir, ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`]);
  };
  sign('server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  sign('client', 'extendedKeyUsage=clientAuth\n');
  sign('route', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    certFile: join(dir, 'server.pem'),
    keyFile: join(dir, 'server.key'),
    clientCertFile: join(dir, 'client.pem'),
    clientKeyFile: join(dir, 'client.key'),
    routeCertFile: join(dir, 'route.pem'),
    routeKeyFile: join(dir, 'route.key'),
  };
}

/** One fresh nkey user per NATS user: the seed the client keeps, the public key the server knows. */
export function makeNkeys(users: readonly NatsUser[]): Map<NatsUser, { seed: string; publicKey: string }> {
  return new Map(
    users.map((u) => {
      const kp = createUser();
      return [u, { seed: new TextDecoder().decode(kp.getSeed()), publicKey: kp.getPublicKey() }];
    }),
  );
}

/** nats.conf with nkeys instead of passwords and TLS (client certificates verified); returns the file. */
export function writeTlsNkeyConfig(dir: string, tls: TlsMaterial, nkeys: ReadonlyMap<NatsUser, { publicKey: string }>): string {
  let conf = readFileSync(defaultNatsConfig, 'utf8');
  for (const [user, { publicKey }] of nkeys) {
    const before = conf;
    conf = conf.replace(`{ user: ${user}, password: ${user}-dev-secret`, `{ nkey: ${publicKey}`);
    if (conf === before) throw new Error(`nats.conf has no user ${user} to give an nkey`);
  }
  if (/password:/.test(conf)) throw new Error('nats.conf still has a password user the test did not replace');
  conf += `\ntls {\n  cert_file: "${tls.certFile}"\n  key_file: "${tls.keyFile}"\n  ca_file: "${tls.caFile}"\n  verify: true\n  timeout: 2\n}\n`;
  const file = join(dir, 'nats-tls.conf');
  writeFileSync(file, conf);
  return file;
}

/**
 * One node of a cluster on `base`'s users and TLS: it listens for routes on `routePort` and dials
 * `peerPort`, and the route itself is TLS with certificates verified both ways.
 */
export function writeClusterNodeConfig(dir: string, base: string, tls: TlsMaterial, node: { name: string; routePort: number; peerPort: number }): string {
  const conf =
    // nats-server resolves an include relative to the including file.
    `include "${relative(dir, base)}"\n` +
    `server_name: ${node.name}\n` +
    `cluster {\n  name: poa-test\n  listen: 127.0.0.1:${node.routePort}\n  routes: ["tls://127.0.0.1:${node.peerPort}"]\n` +
    `  tls {\n    cert_file: "${tls.routeCertFile}"\n    key_file: "${tls.routeKeyFile}"\n    ca_file: "${tls.caFile}"\n    verify: true\n    timeout: 2\n  }\n}\n`;
  const file = join(dir, `${node.name}.conf`);
  writeFileSync(file, conf);
  return file;
}

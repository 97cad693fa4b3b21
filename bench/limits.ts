/**
 * `--limits`: what this machine can do at all, measured the same way each time, so that the
 * checkout figures can be read as a share of it.
 *  - NATS request/reply, 64 in flight: raw nats.js with one long-lived wildcard reply subscription
 *    (the pattern our transport uses), and through our NatsTransport with CloudEvents headers.
 *  - JetStream publish with ack, 64 in flight, file storage, each with a message id.
 *  - SQLite commits per second, WAL, one transaction of 1 INSERT + 1 UPDATE, synchronous NORMAL and
 *    FULL; and the same through the service Store's group commit with 64 writers.
 */
import Database from 'better-sqlite3';
import { connect, nuid, type Msg } from '@nats-io/transport-node';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metaToHeaders } from '../src/contracts/headers.ts';
import { Store } from '../src/runtime/store.ts';
import { connectNats } from '../src/runtime/transport/nats.ts';
import { round } from './procstat.ts';
import { machineInfo, type MachineInfo, type RunResult } from './result.ts';
import { startNatsServer } from '../tests/support/nats-server.ts';

export interface Limits {
  bench: 'limits';
  date: string;
  natsRequestReplyPerS: number;
  natsTransportRequestReplyPerS: number;
  jetstreamPublishPerS: number;
  sqliteCommitsPerS: { NORMAL: number; FULL: number };
  storeGroupCommitWritesPerS: { NORMAL: number; FULL: number };
  machine: MachineInfo;
}

const IN_FLIGHT = 64;
const SECONDS = 3;

/** Runs `op` with `inFlight` outstanding for `seconds`; returns completions per second. */
async function saturate(op: () => Promise<unknown>, seconds = SECONDS, inFlight = IN_FLIGHT): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        await op();
        done++;
      }
    }),
  );
  return done / ((performance.now() - t0) / 1000);
}

async function natsLimits(dir: string, say: (s: string) => void): Promise<Pick<Limits, 'natsRequestReplyPerS' | 'natsTransportRequestReplyPerS' | 'jetstreamPublishPerS'>> {
  const nats = await startNatsServer();
  const { url } = nats;
  const admin = { servers: url, user: 'admin', pass: 'admin-dev-secret' };
  try {
    // Raw nats.js: a responder echoing, a requester routing replies by the reply subject's last token.
    const server = await connect({ ...admin, noAsyncTraces: true });
    const client = await connect({ ...admin, noAsyncTraces: true });
    server.subscribe('limits.echo', { callback: (_e, m: Msg) => void m.respond(m.data) });
    await server.flush();
    const prefix = `_INBOX.limits.${nuid.next()}`;
    const waiting = new Map<string, () => void>();
    client.subscribe(`${prefix}.*`, { callback: (_e, m: Msg) => waiting.get(m.subject.slice(prefix.length + 1))?.() });
    await client.flush();
    let id = 0;
    const payload = new TextEncoder().encode(JSON.stringify({ cartId: nuid.next(), customerId: nuid.next() }));
    const raw = await saturate(
      () =>
        new Promise<void>((resolve) => {
          const key = (id++).toString(36);
          waiting.set(key, () => {
            waiting.delete(key);
            resolve();
          });
          client.publish('limits.echo', payload, { reply: `${prefix}.${key}` });
        }),
    );
    say(`NATS request/reply (raw, one reply subscription): ${raw.toFixed(0)}/s`);
    await client.drain();
    await server.drain();

    // Through the transport the services use: headers both ways, typed errors, JSON strings.
    const responder = await connectNats({ ...admin, name: 'limits-responder' });
    const requester = await connectNats({ ...admin, name: 'limits-requester' });
    await responder.respond('limits.transport', (m) => ({ data: m.data, headers: m.headers }), { queue: 'limits' });
    const headers = metaToHeaders({ id: nuid.next(), type: 'limits', source: 'urn:bench', time: new Date().toISOString(), correlationId: nuid.next() });
    const body = JSON.stringify({ cartId: nuid.next(), customerId: nuid.next() });
    const viaTransport = await saturate(() => requester.request('limits.transport', body, { timeoutMs: 5_000, headers }));
    say(`NATS request/reply (our NatsTransport, CloudEvents headers): ${viaTransport.toFixed(0)}/s`);

    await requester.ensureStream('LIMITS', ['limits.evt.>']);
    let seq = 0;
    const js = await saturate(() => requester.publish('limits.evt.x', body, headers, `m-${seq++}`));
    say(`JetStream publish with ack (file storage): ${js.toFixed(0)}/s`);
    await requester.drain();
    await responder.drain();
    return { natsRequestReplyPerS: round(raw, 0), natsTransportRequestReplyPerS: round(viaTransport, 0), jetstreamPublishPerS: round(js, 0) };
  } finally {
    await nats.stop();
  }
}

function sqliteCommits(dir: string, sync: 'NORMAL' | 'FULL'): number {
  const db = new Database(join(dir, `commits-${sync}.db`));
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${sync}`);
  db.exec('CREATE TABLE rows (id INTEGER PRIMARY KEY, v TEXT NOT NULL); CREATE TABLE counter (k INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 0);');
  const insert = db.prepare('INSERT INTO rows (v) VALUES (?)');
  const bump = db.prepare('UPDATE counter SET n = n + 1 WHERE k = 1');
  const txn = db.transaction((v: string) => {
    insert.run(v);
    bump.run();
  });
  const value = JSON.stringify({ some: 'snapshot', of: 'about', this: 'size', n: 12345 });
  const end = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  let n = 0;
  while (performance.now() < end) {
    txn(value);
    n++;
  }
  db.close();
  return n / ((performance.now() - t0) / 1000);
}

async function storeGroupCommit(dir: string, sync: 'NORMAL' | 'FULL'): Promise<number> {
  const store = new Store({
    path: join(dir, `store-${sync}.db`),
    synchronous: sync,
    migrations: [{ version: 1, name: 'rows', sql: 'CREATE TABLE rows (id INTEGER PRIMARY KEY, v TEXT NOT NULL); CREATE TABLE counter (k INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 0);' }],
  });
  const insert = store.db.prepare('INSERT INTO rows (v) VALUES (?)');
  const bump = store.db.prepare('UPDATE counter SET n = n + 1 WHERE k = 1');
  const rate = await saturate(() =>
    store.write(() => {
      insert.run('x');
      bump.run();
    }),
  );
  await store.close();
  return rate;
}

export async function measureLimits(say: (s: string) => void): Promise<Limits> {
  const dir = mkdtempSync(join(tmpdir(), 'poa-limits-'));
  try {
    const nats = await natsLimits(dir, say);
    const normal = sqliteCommits(dir, 'NORMAL');
    const full = sqliteCommits(dir, 'FULL');
    say(`SQLite commits (WAL, 1 INSERT + 1 UPDATE): NORMAL ${normal.toFixed(0)}/s, FULL ${full.toFixed(0)}/s`);
    const gNormal = await storeGroupCommit(dir, 'NORMAL');
    const gFull = await storeGroupCommit(dir, 'FULL');
    say(`Store group commit (64 writers): NORMAL ${gNormal.toFixed(0)} writes/s, FULL ${gFull.toFixed(0)} writes/s`);
    return {
      bench: 'limits',
      date: new Date().toISOString(),
      ...nats,
      sqliteCommitsPerS: { NORMAL: round(normal, 0), FULL: round(full, 0) },
      storeGroupCommitWritesPerS: { NORMAL: round(gNormal, 0), FULL: round(gFull, 0) },
      machine: machineInfo(),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A run's throughput as a share of each limit. A checkout is several operations of each kind, so
 * the ratio is not a utilisation; docs/benchmarks.md counts the operations per checkout.
 */
export function ratiosFor(r: RunResult, l: Limits): Record<string, number> {
  const x = r.checkoutsPerSecond;
  return {
    perNatsRequestReply: round(x / l.natsRequestReplyPerS, 4),
    perJetstreamPublish: round(x / l.jetstreamPublishPerS, 4),
    perSqliteCommit: round(x / l.sqliteCommitsPerS[r.sync], 4),
  };
}

/**
 * The journal's reads and the KV buckets' gets while one node of three is cut off silently (its
 * routes' packets dropped, nothing closed): the stream's leader and the client are on the majority,
 * so the stream answers every read. Their direct gets, which any replica may answer, went to the
 * cut node too, and each such get was lost until its request timed out: in the node-partition
 * exploration a new owner's rebuild on the majority waited out the whole 11 s cut
 * (docs/benchmarks.md, "Direct gets into a silent cut"). A direct get that goes unanswered is asked
 * of the leader at once, and the log (or bucket) asks the leader only for a while after.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { Bucket, JournalStream, journalSubject } from '../../src/contracts/subjects.ts';
import { JournalHeader } from '../../src/runtime/replication.ts';
import { connectNats, type NatsTransport } from '../../src/runtime/transport/nats.ts';
import type { LogEntry } from '../../src/runtime/transport/transport.ts';
import { startNatsCluster, type NatsClusterHandle } from '../support/nats-cluster.ts';
import { credentialsFor, type NatsUser } from '../support/nats-server.ts';

describe('one node of three cut off silently', () => {
  let cluster: NatsClusterHandle | undefined;
  const connections: NatsTransport[] = [];
  /** What the client waited out (a call not answered, retried). */
  const waits: string[] = [];

  afterEach(async () => {
    cluster?.heal();
    await Promise.all(connections.splice(0).map((c) => c.drain()));
    await cluster?.stop();
    cluster = undefined;
    waits.length = 0;
  });

  /**
   * A cluster whose `stream` (made by `provision`) has its leader on one node; a client connected
   * as `user` to another, and the third cut off silently: where a new owner's rebuild lost a third
   * of its gets (a client on the leader's node lost none).
   */
  const cutBesideLeader = async (stream: string, user: NatsUser, provision: (admin: NatsTransport) => Promise<unknown>) => {
    cluster = await startNatsCluster({ routeProxies: true, noAdvertise: true });
    const admin = await connectNats({ servers: [cluster.nodes[0]!.url], replicas: 3, user: 'admin', pass: 'admin-dev-secret', onError: () => undefined });
    connections.push(admin);
    await provision(admin);
    const leader = (await (await jetstreamManager(admin.nc)).streams.info(stream)).cluster?.leader;
    const [client, victim] = cluster.nodes.flatMap((n, i) => (n.name === leader ? [] : [i]));
    const transport = await connectNats({ servers: [cluster.nodes[client!]!.url], replicas: 3, ...credentialsFor(user), inboxPrefix: `_INBOX.${user}`, onError: (_err, context) => waits.push(context) });
    connections.push(transport);
    const cut = () => cluster!.isolate(victim!, 'silent');
    return { transport, cut, nodes: { client: cluster.nodes[client!]!.name, victim: cluster.nodes[victim!]!.name, leader } };
  };

  it('a journal is read from the majority, not waiting on the cut node', async () => {
    const { transport, cut, nodes } = await cutBesideLeader(JournalStream.name, 'inventory', (admin) => admin.replicatedLog(JournalStream.name, JournalStream.subjects));
    const log = await transport.replicatedLog(JournalStream.name, JournalStream.subjects);
    const subject = journalSubject('inventory', 'silent-cut');
    let seq = 0;
    const COUNT = 40;
    for (let i = 1; i <= COUNT; i++) seq = await log.append(subject, `[${i}]`, { [JournalHeader.to]: String(i) }, `silent-cut:${i}`, seq);
    cut();
    const read = async (): Promise<void> => {
      const got: LogEntry[] = [];
      await log.read(subject, 0, seq, (e) => got.push(e));
      expect(got.map((e) => e.data)).toEqual(Array.from({ length: COUNT }, (_, k) => `[${k + 1}]`));
    };
    waits.length = 0;
    const started = Date.now();
    // The first read's direct gets that went to the cut node (up to one per chain in flight) go
    // unanswered for one request timeout; each is then asked of the leader, and that is told once.
    await read();
    const firstRead = { ms: Date.now() - started, waits: waits.length };
    for (let round = 0; round < 5; round++) await read();
    console.log(JSON.stringify({ test: 'nats-log-silent-cut', ...nodes, firstRead, allMs: Date.now() - started, waits: waits.length }));
    expect(firstRead.waits).toBeLessThanOrEqual(1);
    // The reads after it ask the leader only: nothing more is waited out. (Before: six reads of 40
    // messages, some 300 gets, waited out 124 timeouts, a minute in all.)
    expect(waits.length).toBe(firstRead.waits);
  }, 120_000);

  it("a bucket answers the gateway's gets from the majority, not waiting on the cut node", async () => {
    const KEYS = 24;
    const { transport, cut, nodes } = await cutBesideLeader(`KV_${Bucket.checkouts}`, 'gateway', async (admin) => {
      const bucket = await admin.kv(Bucket.checkouts);
      for (let i = 0; i < KEYS; i++) await bucket.put(`silent-cut-${i}`, `{"n":${i}}`);
    });
    const kv = await transport.kv(Bucket.checkouts);
    cut();
    waits.length = 0;
    const started = Date.now();
    const values: (string | undefined)[] = [];
    for (let round = 0; round < 3; round++) for (let i = 0; i < KEYS; i++) values.push((await kv.get(`silent-cut-${i}`))?.value);
    console.log(JSON.stringify({ test: 'kv-silent-cut', ...nodes, ms: Date.now() - started, waits: waits.length }));
    expect(values).toEqual(Array.from({ length: 3 * KEYS }, (_, k) => `{"n":${k % KEYS}}`));
    // At most the first direct get that went to the cut node is waited out; the rest ask the leader.
    // (Before: in 3 of 4 runs some of the 72 gets failed after the client's 5 s request timeout.)
    expect(waits.length).toBeLessThanOrEqual(1);
  }, 120_000);
});

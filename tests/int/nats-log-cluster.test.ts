/**
 * The journal's log (src/runtime/transport/nats-log.ts) on a 3-node cluster with one node down: a
 * new owner's rebuild reads its slot's subject, and those reads must not wait on the dead node.
 * They were ordered consumers, which nats.js creates with one replica and nats-server 2.9.10 places
 * on a random peer of the stream, dead or alive (nats-server#3791, fixed in 2.9.12): a third of
 * them were never answered and cost the client's whole 5 s request timeout before a retry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JournalStream, journalSubject } from '../../src/contracts/subjects.ts';
import { JournalHeader } from '../../src/runtime/replication.ts';
import { connectNats, type NatsTransport } from '../../src/runtime/transport/nats.ts';
import type { LogEntry } from '../../src/runtime/transport/transport.ts';
import { startNatsCluster, type NatsClusterHandle } from '../support/nats-cluster.ts';
import { credentialsFor } from '../support/nats-server.ts';

describe('a journal on a 3-node cluster with one node down', () => {
  let cluster: NatsClusterHandle;
  let transport: NatsTransport;
  /** What the log waited out (a call not answered, retried). */
  const waits: string[] = [];

  beforeAll(async () => {
    cluster = await startNatsCluster();
    transport = await connectNats({ servers: cluster.servers, replicas: 3, ...credentialsFor('inventory'), inboxPrefix: '_INBOX.inventory', onError: (_err, context) => waits.push(context) });
  }, 60_000);

  afterAll(async () => {
    await transport?.drain();
    await cluster?.stop();
  });

  it('reads a subject from the surviving nodes without waiting on the dead one', async () => {
    const log = await transport.replicatedLog(JournalStream.name, JournalStream.subjects);
    const subject = journalSubject('inventory', 'node-down');
    let seq = 0;
    for (let i = 1; i <= 5; i++) seq = await log.append(subject, '[]', { [JournalHeader.to]: String(i) }, `node-down:${i}`, seq);
    // A node the client is not connected to dies (the client's own would only add a reconnect).
    const connected = transport.nc.getServer();
    const victim = cluster.nodes.findIndex((n) => !connected.endsWith(`:${n.port}`));
    await cluster.kill(victim);
    // Once the stream answers again (a new leader, if it was on the dead node), reads are answered at once.
    await log.last(subject);
    waits.length = 0;
    for (let round = 0; round < 12; round++) {
      const read: LogEntry[] = [];
      await log.read(subject, 0, seq, (e) => read.push(e));
      expect(read.map((e) => e.headers[JournalHeader.to])).toEqual(['1', '2', '3', '4', '5']);
    }
    // With an ordered consumer per read, 12 reads all avoided the dead node with chance (2/3)^12 < 1 %.
    expect(waits).toEqual([]);
  }, 120_000);

  it('a read right after an append gets every message through it, though a replica answering direct gets may not have it yet', async () => {
    const log = await transport.replicatedLog(JournalStream.name, JournalStream.subjects);
    const subject = journalSubject('inventory', 'read-after-append');
    const other = journalSubject('inventory', 'read-after-append-other');
    let seq = 0;
    let otherSeq = 0;
    for (let i = 1; i <= 30; i++) {
      otherSeq = await log.append(other, '[]', {}, `o:${i}`, otherSeq);
      seq = await log.append(subject, `[${i}]`, { [JournalHeader.to]: String(i) }, `r:${i}`, seq);
      // The follower that answers may apply this append only after the leader acknowledged it.
      const read: LogEntry[] = [];
      await log.read(subject, 0, seq, (e) => read.push(e));
      expect(read.map((e) => e.data)).toEqual(Array.from({ length: i }, (_, k) => `[${k + 1}]`));
      expect(read.at(-1)?.seq).toBe(seq);
    }
  }, 120_000);
});

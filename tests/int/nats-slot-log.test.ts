/**
 * A journal with a stream per slot (src/runtime/transport/nats-slot-log.ts) against the
 * ReplicatedLog contract, on a real nats-server and on a 3-node cluster (R3): the cases the shared
 * JOURNAL stream's log passes (tests/support/log-cases.ts), and what is its own: one stream per
 * subject, the stream-level compare-and-set that concurrent writers cannot both pass, a first
 * append to an empty stream still conditional. Not used by the services yet (docs/benchmarks.md,
 * "The journal's index fault, alone").
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JournalHeader } from '../../src/runtime/replication.ts';
import { connectNats, type NatsTransport } from '../../src/runtime/transport/nats.ts';
import { expectation, NatsSlotLog, slotStream } from '../../src/runtime/transport/nats-slot-log.ts';
import { LogFenced, type LogEntry } from '../../src/runtime/transport/transport.ts';
import { appendsAfterTheLastSequence, concurrentAppendsOneWins, staleAppendFenced } from '../support/log-cases.ts';
import { startNatsCluster, type NatsClusterHandle } from '../support/nats-cluster.ts';
import { startNatsServer, type NatsServerHandle } from '../support/nats-server.ts';

const admin = { user: 'admin', pass: 'admin-dev-secret' };
const slotLog = (t: NatsTransport, replicas = 1) => new NatsSlotLog(t.nc, (subject, data, headers) => t.publish(subject, data, headers, headers['Nats-Msg-Id']!), replicas);

describe('a journal with a stream per slot, on one server', () => {
  let nats: NatsServerHandle;
  let transport: NatsTransport;

  beforeAll(async () => {
    nats = await startNatsServer();
    transport = await connectNats({ servers: nats.url, ...admin, onError: () => undefined });
  });

  afterAll(async () => {
    await transport?.drain();
    await nats?.stop();
  });

  it('keeps the contract: appends only after the last sequence, a lost acknowledgement retried is the same append, reads and trims', async () => {
    await appendsAfterTheLastSequence(slotLog(transport), 'journal.inventory.contract');
  });

  it('gives each subject a stream of its own, and a checkpoint its own stream beside its journal', async () => {
    const log = slotLog(transport);
    const subject = `journal.order.${randomUUID().slice(0, 8)}`;
    const a = await log.append(subject, '[1]', {}, 'a', 0);
    const chunk = await log.put(`${subject}.checkpoint`, 'image', {}, 'chunk-1');
    const b = await log.append(subject, '[2]', {}, 'b', a);
    // Sequences are the stream's own: the chunk took none of the journal's.
    expect([a, chunk, b]).toEqual([1, 1, 2]);
    const jsm = await jetstreamManager(transport.nc, { checkAPI: false });
    expect((await jsm.streams.info(slotStream(subject))).config.subjects).toEqual([subject]);
    expect((await jsm.streams.info(slotStream(`${subject}.checkpoint`))).config.subjects).toEqual([`${subject}.checkpoint`]);
    expect(slotStream('journal.checkout.slot-1')).toBe('JOURNAL-checkout_slot-1');
  });

  it('a first append expecting an empty stream is conditional too', async () => {
    const log = slotLog(transport);
    const subject = `journal.cart.${randomUUID().slice(0, 8)}`;
    await log.append(subject, 'first owner', {}, 'first', 0);
    // Another writer that also read "empty": fenced (its message id, the subject's and 0, is the first's).
    expect(await log.append(subject, 'second owner', {}, 'other', 0).catch((err: unknown) => err)).toBeInstanceOf(LogFenced);
    // And refused by the server itself, under another message id (as after the duplicate window).
    await expect(transport.publish(subject, 'late owner', expectation(0), randomUUID())).rejects.toThrow(/wrong last sequence/);
    // Past the first append too: a writer expecting a sequence the stream has moved on from.
    const head = await log.append(subject, 'first owner again', {}, 'second', 1);
    await expect(transport.publish(subject, 'stale owner', expectation(1), randomUUID())).rejects.toThrow(/wrong last sequence/);
    expect((await log.last(subject))?.seq).toBe(head);
    const read: LogEntry[] = [];
    await log.read(subject, 0, 10, (e) => read.push(e));
    expect(read.map((e) => e.data)).toEqual(['first owner', 'first owner again']);
  });

  it('a trim deletes only below the sequence kept, and a later trim from there on', async () => {
    const log = slotLog(transport);
    const subject = `journal.payment.${randomUUID().slice(0, 8)}`;
    const seqs: number[] = [];
    for (let i = 1; i <= 10; i++) seqs.push(await log.append(subject, `[${i}]`, { [JournalHeader.to]: String(i) }, `p:${i}`, seqs.at(-1) ?? 0));
    const left = async () => {
      const out: number[] = [];
      await log.read(subject, 0, 100, (e) => out.push(e.seq));
      return out;
    };
    await log.trim(subject, seqs[4]!);
    expect(await left()).toEqual(seqs.slice(4));
    await log.trim(subject, seqs[8]!);
    expect(await left()).toEqual(seqs.slice(8));
    expect((await log.last(subject))?.seq).toBe(seqs[9]);
  });
});

describe('a journal with a stream per slot, on an R3 cluster', () => {
  let cluster: NatsClusterHandle;
  /** One writer per node, as processes connected to different servers. */
  let writers: NatsTransport[] = [];

  beforeAll(async () => {
    cluster = await startNatsCluster();
    writers = await Promise.all(cluster.servers.map((s, i) => connectNats({ servers: s, ...admin, name: `slot-log-${i}`, replicas: 3, onError: () => undefined })));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(writers.map((w) => w.drain().catch(() => undefined)));
    await cluster?.stop();
  });

  it('concurrent appends at the same expected sequence, the first at an empty stream: exactly one is stored, the others are fenced', async () => {
    const subject = `journal.cas.${randomUUID().slice(0, 8)}`;
    const logs = writers.map((w) => slotLog(w, 3));
    // The stream made, and known on every writer's node, before the race.
    await Promise.all(logs.map((log) => log.last(subject)));
    await concurrentAppendsOneWins(logs, subject, 60);
    const jsm = await jetstreamManager(writers[0]!.nc, { checkAPI: false });
    const info = await jsm.streams.info(slotStream(subject));
    expect([info.config.num_replicas, info.state.messages]).toEqual([3, 60]);
  }, 60_000);

  it("a stale writer's append after the new owner's at the same positions is fenced, not taken for a repeat", async () => {
    const log = slotLog(writers[1]!, 3);
    await staleAppendFenced(log, `journal.cas.${randomUUID().slice(0, 8)}`);
  }, 60_000);
});

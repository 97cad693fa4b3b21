/**
 * Compare-and-set on a 3-node cluster (R3), as the leases and the journals' fence use it: of
 * writers racing on the same expected revision exactly one wins.
 *
 * nats-server 2.9.10 does not give that with `Nats-Expected-Last-Subject-Sequence` alone: the
 * stream's leader checks it against what it has *applied*, so two writes proposed before the first
 * is applied both pass (measured: 144 of 300 rounds of three concurrent writers had two or three
 * winners, each at its own revision). What it does check against its proposals in flight is the
 * message id, so every conditional write also carries one derived from the subject and the
 * expected sequence (nats-kv.ts, nats-log.ts), and a duplicate is a refusal unless the stored
 * message is the writer's own.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JournalStream } from '../../src/contracts/subjects.ts';
import { SlotLease } from '../../src/runtime/slot-lease.ts';
import { connectNats, type NatsTransport } from '../../src/runtime/transport/nats.ts';
import type { Kv, ReplicatedLog } from '../../src/runtime/transport/transport.ts';
import { concurrentAppendsOneWins, staleAppendFenced } from '../support/log-cases.ts';
import { startNatsCluster, type NatsClusterHandle } from '../support/nats-cluster.ts';

const ROUNDS = 60;

describe('compare-and-set on an R3 cluster', () => {
  let cluster: NatsClusterHandle;
  /** One writer per node, as processes connected to different servers. */
  let writers: NatsTransport[] = [];
  beforeAll(async () => {
    cluster = await startNatsCluster();
    writers = await Promise.all(cluster.servers.map((s, i) => connectNats({ servers: s, user: 'admin', pass: 'admin-dev-secret', name: `cas-${i}`, replicas: 3, onError: () => undefined })));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(writers.map((w) => w.drain().catch(() => undefined)));
    await cluster?.stop();
  });

  it('concurrent updates of a key at the same revision: exactly one wins', async () => {
    const kvs: Kv[] = await Promise.all(writers.map((w) => w.kv('cas-test')));
    await Promise.all(kvs.map((kv) => routed(() => kv.put('warm', ''))));
    const winners: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const revision = await kvs[0]!.put('lease', 'free');
      const results = await Promise.all(kvs.map((kv, j) => kv.update('lease', `w${j}`, revision)));
      winners.push(results.filter((r) => r !== undefined).length);
    }
    expect(winners.filter((n) => n !== 1)).toEqual([]);
  }, 60_000);

  it('a lease at a heal: its old owner retaking it and a standby taking it after a TTL at once, never both', async () => {
    // The race two processes lost on cart.0 at a heal: the owner, self-fenced while it could not
    // renew, retakes its own lease at once (its name is still in the key), while the standby has
    // seen the same revision stand still for a TTL and takes it too. A clock of their own stands
    // in for the TTL.
    const [kvA, kvB] = await Promise.all(writers.slice(0, 2).map((w) => w.kv('cas-test')));
    await Promise.all([kvA, kvB].map((kv) => routed(() => kv!.put('warm', ''))));
    let now = 0;
    const doubles: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const key = `lease-${i}`;
      await kvA!.put(key, JSON.stringify({ owner: 'a', n: 1 }));
      const a = new SlotLease({ kv: kvA!, key, owner: 'a', now: () => now });
      const b = new SlotLease({ kv: kvB!, key, owner: 'b', now: () => now });
      expect(await b.tryAcquire()).toBe(false); // b reads the revision and starts counting
      now += a.ttlMs;
      const took = await Promise.all([a.tryAcquire(), b.tryAcquire()]);
      if (took.every(Boolean)) doubles.push(i);
      a.stop();
      b.stop();
    }
    expect(doubles).toEqual([]);
  }, 60_000);

  it('concurrent creates of a key: exactly one wins, and the others read its value', async () => {
    const kvs: Kv[] = await Promise.all(writers.map((w) => w.kv('cas-test')));
    for (let i = 0; i < ROUNDS; i++) {
      const key = `claim-${randomUUID()}`;
      const results = await Promise.all(kvs.map((kv, j) => kv.create(key, `w${j}`)));
      const won = results.flatMap((r, j) => (r === undefined ? [`w${j}`] : []));
      expect(won).toHaveLength(1);
      expect(results.filter((r) => r !== undefined).map((r) => r?.value)).toEqual([won[0], won[0]]);
    }
  }, 60_000);

  it('concurrent journal appends at the same expected sequence: exactly one is stored, the others are fenced', async () => {
    const logs: ReplicatedLog[] = await Promise.all(writers.map((w) => w.replicatedLog(JournalStream.name, JournalStream.subjects)));
    const subject = `journal.cas.${randomUUID()}`;
    // A stream just created may not have interest on every node yet: wait until each writer's node routes to it.
    await Promise.all(logs.map((log, j) => routed(() => log.put(`${subject}.warm`, '', {}, `${subject}.warm:${j}`))));
    await concurrentAppendsOneWins(logs, subject, ROUNDS);
  }, 60_000);

  it("a stale writer's append after the new owner's at the same positions is fenced, not taken for a repeat", async () => {
    const [log] = await Promise.all(writers.slice(0, 1).map((w) => w.replicatedLog(JournalStream.name, JournalStream.subjects)));
    const subject = `journal.cas.${randomUUID()}`;
    await staleAppendFenced(log!, subject);
  }, 60_000);
});

/** Retries while the stream just created has no interest on the writer's node yet (no responders). */
async function routed<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof Error) || err.name !== 'NoRespondersError' || attempt >= 100) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

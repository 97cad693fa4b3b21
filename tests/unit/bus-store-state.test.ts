/**
 * The in-process event log keeps its counters and a durable consumer's state in memory. A consumer's
 * state is written just before a commit, at most once a second (CONSUMER_WRITE_EVERY_MS), and by a
 * prune and a graceful close, not once per ack; a reopen hands back its ack floor, the acks above it
 * and the highest sequence delivered, exactly as committed. A stream's
 * sequence is its newest message's (written apart only by a prune), and a bucket's revisions continue
 * above a reserve written once per KV_REVISION_BLOCK revisions: both only grow across a reopen.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { BusStore, CONSUMER_WRITE_EVERY_MS, KV_REVISION_BLOCK } from '../../src/runtime/transport/in-process/bus-store.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function world() {
  const dir = mkdtempSync(join(tmpdir(), 'poa-consumer-'));
  dirs.push(dir);
  const path = join(dir, 'bus.db');
  const open = () => {
    const store = new BusStore(path);
    if (store.streams().length === 0) store.addStream('S', ['s.>']);
    return store;
  };
  const rows = () => {
    const db = new Database(path, { readonly: true });
    try {
      return {
        consumer: db.prepare('SELECT ack_floor, delivered_seq FROM consumers').get(),
        acks: (db.prepare('SELECT seq FROM consumer_acks ORDER BY seq').all() as Array<{ seq: number }>).map((r) => r.seq),
      };
    } finally {
      db.close();
    }
  };
  return { open, rows, path };
}

const publish = (store: BusStore, n: number) => Promise.all(Array.from({ length: n }, (_, i) => store.append('S', 's.x', {}, '{}', `m${i}`)));

describe('in-process durable consumer state', () => {
  describe('when a turn acks several messages in and out of order', () => {
    it('writes the floor, the acks above it and the delivered mark once, and a reopen sees them', async () => {
      const { open, rows } = world();
      const store = open();
      await publish(store, 6);
      expect(store.openConsumer('S', 'd')).toEqual({ ackFloor: 0, deliveredSeq: 0, ackedAbove: new Set() });
      store.setDelivered('S', 'd', 6);
      store.ack('S', 'd', 1, 1);
      store.ack('S', 'd', 2, 2);
      store.ack('S', 'd', 5, undefined); // above a gap: kept individually
      store.ack('S', 'd', 4, undefined);
      await store.close();
      expect(rows()).toEqual({ consumer: { ack_floor: 2, delivered_seq: 6 }, acks: [4, 5] });
      const again = open();
      expect(again.openConsumer('S', 'd')).toEqual({ ackFloor: 2, deliveredSeq: 6, ackedAbove: new Set([4, 5]) });
      // The gap fills: the floor passes the individual acks, which are dropped.
      again.ack('S', 'd', 3, 5);
      await again.close();
      expect(rows()).toEqual({ consumer: { ack_floor: 5, delivered_seq: 6 }, acks: [] });
    });
  });

  it('writes it at most once a second; a prune, or a second passing, writes what came since', async () => {
    const { path, rows } = world();
    const clock = { now: 1_000_000 };
    // Shared: the test reads the file while the store has it open.
    const store = new BusStore(path, { now: () => clock.now, locking: 'shared' });
    store.addStream('S', ['s.>']);
    await publish(store, 6);
    const committed = (id: string) => store.append('S', 's.x', {}, '{}', id); // resolves once a batch committed
    store.openConsumer('S', 'd');
    store.ack('S', 'd', 1, 1);
    await committed('a');
    expect(rows().consumer).toEqual({ ack_floor: 1, delivered_seq: 0 });
    clock.now += CONSUMER_WRITE_EVERY_MS / 2;
    store.ack('S', 'd', 2, 2);
    await committed('b');
    expect(rows().consumer).toEqual({ ack_floor: 1, delivered_seq: 0 }); // not yet: a second has not passed
    clock.now += CONSUMER_WRITE_EVERY_MS / 2;
    await new Promise((r) => setTimeout(r, CONSUMER_WRITE_EVERY_MS / 2 + 200)); // the timer opens a batch
    expect(rows().consumer).toEqual({ ack_floor: 2, delivered_seq: 0 });
    store.ack('S', 'd', 3, 3);
    store.ack('S', 'd', 5, undefined);
    await committed('c');
    expect(rows()).toEqual({ consumer: { ack_floor: 2, delivered_seq: 0 }, acks: [] });
    await store.prune(); // its floors count the acks not yet written, so it writes them
    expect(rows()).toEqual({ consumer: { ack_floor: 3, delivered_seq: 0 }, acks: [5] });
    store.ack('S', 'd', 4, 5);
    await store.close(); // and so does a graceful close
    expect(rows()).toEqual({ consumer: { ack_floor: 5, delivered_seq: 0 }, acks: [] });
  });

  it('shows state not yet committed to a consumer opened again in the same turn', async () => {
    const { open } = world();
    const store = open();
    await publish(store, 4);
    store.openConsumer('S', 'd');
    store.ack('S', 'd', 1, 1);
    store.ack('S', 'd', 3, undefined);
    store.setDelivered('S', 'd', 3);
    expect(store.openConsumer('S', 'd')).toEqual({ ackFloor: 1, deliveredSeq: 3, ackedAbove: new Set([3]) });
    await store.close();
  });

  it('continues stream sequences and bucket revisions across a reopen', async () => {
    const { open } = world();
    const store = open();
    store.ensureBucket('B');
    await publish(store, 3);
    expect(await store.kvPut('B', 'k', 'v1')).toBe(1);
    expect(await store.kvCreate('B', 'j', 'v')).toEqual({ created: 2 });
    await store.close();
    const again = open();
    again.ensureBucket('B');
    expect(await again.append('S', 's.x', {}, '{}', 'another')).toEqual({ seq: 4, duplicate: false });
    // A bucket continues above its stored reserve: its revisions grow, with a gap, as on NATS.
    const rev = await again.kvPut('B', 'k', 'v2');
    expect(rev).toBe(KV_REVISION_BLOCK + 1);
    expect(again.kvGet('B', 'k')).toEqual({ key: 'k', value: 'v2', revision: rev });
    expect(again.msgsAfter('S', 0, 10).msgs.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    await again.close();
  });

  it('writes a stream\'s sequence and a bucket\'s revision reserve only when needed, not in every batch', async () => {
    const { open, path } = world();
    const store = open();
    store.ensureBucket('B');
    for (let i = 0; i < 3; i++) {
      await publish(store, 2 + i); // ids m0.. repeat: duplicates within the window are not stored
      await store.kvPut('B', 'k', `v${i}`);
    }
    await store.close();
    const db = new Database(path, { readonly: true });
    try {
      // The stream's newest message holds its sequence; the reserve was written once, at revision 1.
      expect(db.prepare('SELECT last_seq FROM streams').pluck().get()).toBe(0);
      expect(db.prepare('SELECT max(seq) FROM stream_msgs').pluck().get()).toBe(4);
      expect(db.prepare('SELECT last_rev FROM kv_buckets').pluck().get()).toBe(KV_REVISION_BLOCK);
    } finally {
      db.close();
    }
    // Past the reserve, a new one is written, and a reopen continues above it.
    const again = open();
    again.ensureBucket('B');
    const first = await again.kvPut('B', 'k', 'w');
    expect(first).toBe(KV_REVISION_BLOCK + 1);
    await again.close();
    const third = open();
    third.ensureBucket('B');
    expect(await third.kvPut('B', 'k', 'x')).toBe(2 * KV_REVISION_BLOCK + 1);
    await third.close();
  });
});

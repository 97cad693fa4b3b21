/**
 * Embedded, a declared consumed subject is held by its publisher rather than stored
 * (`holdConsumed`): when every durable consumer of its stream is consuming, the message is handed
 * to them and the publish resolves once each acked it; bus.db gets no row. A consumer that is not
 * consuming (not started yet, or gone) makes it stored as before. On a real SQLite file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsumerGone } from '../../src/runtime/transport/in-process/durable.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import type { Delivery, EventHandler, Message } from '../../src/runtime/transport/transport.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function world() {
  const dir = mkdtempSync(join(tmpdir(), 'poa-held-'));
  dirs.push(dir);
  const path = join(dir, 'bus.db');
  let bus = new InProcessTransport({ path, storeOnlyConsumed: ['s.evt.kept'], holdConsumed: true, locking: 'shared' });
  await bus.ensureStream('S', ['s.evt.>']);
  const live: Message[] = [];
  await bus.subscribeAll('s.evt.>', (m) => void live.push(m));
  const consume = (durable: string, handler: EventHandler, ackWaitMs = 5_000) =>
    bus.consume({ stream: 'S', durable, filterSubjects: ['s.evt.kept'], ackWaitMs }, handler);
  const publish = (id: string) => bus.publish('s.evt.kept', `{"id":"${id}"}`, {}, id);
  const stored = (): number => {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      return db.prepare('SELECT count(*) FROM stream_msgs').pluck().get() as number;
    } finally {
      db.close();
    }
  };
  const reopen = async () => {
    await bus.drain();
    bus = new InProcessTransport({ path, storeOnlyConsumed: ['s.evt.kept'], holdConsumed: true, locking: 'shared' });
    return bus;
  };
  return { bus: () => bus, live, consume, publish, stored, reopen };
}

/** A handler that records each delivery and finishes only when told to. */
function gate() {
  const got: Delivery[] = [];
  const waiting: Array<() => void> = [];
  const handler: EventHandler = (d) =>
    new Promise<void>((resolve) => {
      got.push(d);
      waiting.push(resolve);
    });
  return { got, handler, release: () => waiting.splice(0).forEach((r) => r()) };
}

describe('embedded event log: a consumed event held by its publisher', () => {
  it('resolves the publish only once the consumer acked it, and stores nothing', async () => {
    const w = await world();
    const g = gate();
    await w.consume('c', g.handler);
    let acked = false;
    const publishing = w.publish('a').then((ack) => {
      acked = true;
      return ack;
    });
    await expect.poll(() => g.got.map((d) => d.data)).toEqual(['{"id":"a"}']);
    await new Promise((r) => setTimeout(r, 50));
    expect(acked).toBe(false);
    g.release();
    expect(await publishing).toMatchObject({ stream: 'S', duplicate: false });
    await expect.poll(() => w.live.map((m) => m.subject)).toEqual(['s.evt.kept']);
    expect(w.stored()).toBe(0);
    await w.bus().drain();
    expect(w.stored()).toBe(0);
  });

  it('redelivers a held message its handler failed, and resolves after the retry is acked', async () => {
    const w = await world();
    const got: Delivery[] = [];
    await w.consume('c', async (d) => {
      got.push(d);
      if (got.length === 1) throw Object.assign(new Error('not yet'), { retryAfterMs: 10 });
    });
    await w.publish('a');
    expect(got.map((d) => [d.data, d.redelivered])).toEqual([
      ['{"id":"a"}', false],
      ['{"id":"a"}', true],
    ]);
    expect(w.stored()).toBe(0);
  });

  it('hands a copy published while the first is held the first one\'s ack, delivering it once', async () => {
    const w = await world();
    const g = gate();
    await w.consume('c', g.handler);
    const first = w.publish('a');
    const second = w.publish('a');
    await expect.poll(() => g.got.length).toBe(1);
    g.release();
    expect(await first).toMatchObject({ duplicate: false });
    expect(await second).toMatchObject({ duplicate: true });
    expect(g.got).toHaveLength(1);
  });

  it('waits for every durable that reads the subject', async () => {
    const w = await world();
    const one = gate();
    const two = gate();
    await w.consume('one', one.handler);
    await w.consume('two', two.handler);
    let acked = false;
    const publishing = w.publish('a').then(() => (acked = true));
    await expect.poll(() => [one.got.length, two.got.length]).toEqual([1, 1]);
    one.release();
    await new Promise((r) => setTimeout(r, 50));
    expect(acked).toBe(false);
    two.release();
    await publishing;
    expect(w.stored()).toBe(0);
  });

  it('stores the message when a durable of the stream is not consuming, and delivers it when it is', async () => {
    const w = await world();
    const first = gate();
    const closer = await w.consume('c', first.handler);
    await closer.close(); // the durable is known, with no member
    expect(await w.publish('a')).toMatchObject({ seq: 1, duplicate: false });
    expect(w.stored()).toBe(1);
    const got: Delivery[] = [];
    await w.consume('c', async (d) => void got.push(d));
    await expect.poll(() => got.map((d) => d.data)).toEqual(['{"id":"a"}']);
  });

  it('stores the message after a restart until the durable known from bus.db consumes again', async () => {
    const w = await world();
    await w.consume('c', async () => undefined);
    await w.publish('a');
    const bus = await w.reopen();
    await bus.ensureStream('S', ['s.evt.>']);
    expect(await w.publish('b')).toMatchObject({ seq: 1 });
    expect(w.stored()).toBe(1);
    const got: Delivery[] = [];
    await w.consume('c', async (d) => void got.push(d));
    await w.publish('c');
    await expect.poll(() => got.map((d) => d.data)).toEqual(['{"id":"b"}', '{"id":"c"}']);
    expect(w.stored()).toBe(1);
  });

  it('gives a held message back when the last member leaves, and the publisher sends it again', async () => {
    const w = await world();
    const closer = await w.consume('c', () => Promise.reject(Object.assign(new Error('busy'), { retryAfterMs: 60_000 })));
    const publishing = w.publish('a');
    await new Promise((r) => setTimeout(r, 20));
    await closer.close();
    await expect(publishing).rejects.toBeInstanceOf(ConsumerGone);
    expect(await w.publish('a')).toMatchObject({ seq: 1 }); // stored now
    const got: Delivery[] = [];
    await w.consume('c', async (d) => void got.push(d));
    await expect.poll(() => got.map((d) => d.data)).toEqual(['{"id":"a"}']);
  });

  it('gives a held message back when the transport closes', async () => {
    const w = await world();
    await w.consume('c', () => Promise.reject(Object.assign(new Error('busy'), { retryAfterMs: 60_000 })));
    const publishing = w.publish('a');
    await new Promise((r) => setTimeout(r, 20));
    await w.bus().drain();
    await expect(publishing).rejects.toBeInstanceOf(ConsumerGone);
    expect(w.stored()).toBe(0);
  });
});

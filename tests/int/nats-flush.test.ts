/**
 * A connection writes to its socket once per event-loop turn (src/runtime/transport/nats-flush.ts),
 * on a real nats-server: what several callbacks of one turn send leaves in one write, in order; a
 * buffer over nats.js's threshold is written at once; and requests, replies and JetStream
 * publishes work as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { flushOncePerTurn } from '../../src/runtime/transport/nats-flush.ts';
import { connectNats, type NatsTransport } from '../../src/runtime/transport/nats.ts';
import { startNatsServer, type NatsServerHandle } from '../support/nats-server.ts';

const admin = { user: 'admin', pass: 'admin-dev-secret' };

/** Counts the socket writes of `nc` (nats.js hands each flush of its buffer to its transport's `send`). */
function countWrites(nc: NatsConnection): { writes: number; bytes: number } {
  const transport = (nc as unknown as { protocol: { transport: { send(frame: Uint8Array): void } } }).protocol.transport;
  const counts = { writes: 0, bytes: 0 };
  const send = transport.send.bind(transport);
  transport.send = (frame: Uint8Array) => {
    counts.writes++;
    counts.bytes += frame.length;
    send(frame);
  };
  return counts;
}

/** Runs `n` timer callbacks due at the same time (one timers phase, one turn), each calling `each(i)`. */
function inOneTurn(n: number, each: (i: number) => void): Promise<void> {
  return new Promise((resolve) => {
    for (let i = 0; i < n; i++) setTimeout(() => each(i), 0);
    setTimeout(resolve, 0);
  });
}

describe('one socket write per event-loop turn', () => {
  let nats: NatsServerHandle;
  let receiver: NatsConnection;
  beforeAll(async () => {
    nats = await startNatsServer();
    receiver = await connect({ servers: nats.url, ...admin, name: 'receiver' });
  }, 30_000);
  afterAll(async () => {
    await receiver?.close();
    await nats?.stop();
  });

  /** The payloads that reach `subject`, once `count` have come. */
  async function received(subject: string, count: number): Promise<{ got: string[]; done: Promise<void> }> {
    const got: string[] = [];
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    receiver.subscribe(subject, {
      callback: (_err, m) => {
        got.push(m.string());
        if (got.length === count) done();
      },
    });
    await receiver.flush();
    return { got, done: all };
  }

  it('publishes from several callbacks of one turn leave in one write, in order', async () => {
    const plain = await connect({ servers: nats.url, ...admin, name: 'as-nats-js' });
    const patched = await connect({ servers: nats.url, ...admin, name: 'patched' });
    expect(flushOncePerTurn(patched)).toBe(true);
    try {
      const before = countWrites(plain);
      const after = countWrites(patched);
      const a = await received('flush.plain', 20);
      const b = await received('flush.patched', 20);
      await inOneTurn(20, (i) => plain.publish('flush.plain', String(i)));
      await inOneTurn(20, (i) => patched.publish('flush.patched', String(i)));
      await Promise.all([a.done, b.done]);
      const expected = Array.from({ length: 20 }, (_, i) => String(i));
      expect(a.got).toEqual(expected);
      expect(b.got).toEqual(expected);
      // nats.js alone flushes after each callback (a microtask); patched, the turn's 20 go together.
      expect(before.writes).toBe(20);
      expect(after.writes).toBe(1);
    } finally {
      await plain.close();
      await patched.close();
    }
  });

  it('a buffer over the threshold is written at once, not at the end of the turn', async () => {
    const patched = await connect({ servers: nats.url, ...admin, name: 'patched-big' });
    flushOncePerTurn(patched);
    try {
      const writes = countWrites(patched);
      const r = await received('flush.big', 3);
      const big = 'x'.repeat(40 * 1024);
      patched.publish('flush.big', big);
      // Still in the same synchronous run: the 40 KiB message is over nats.js's 32 KiB threshold.
      expect(writes.writes).toBe(1);
      patched.publish('flush.big', 'small 1');
      patched.publish('flush.big', 'small 2');
      expect(writes.writes).toBe(1);
      await r.done;
      expect(writes.writes).toBe(2);
      expect(r.got.map((g) => g.length)).toEqual([big.length, 7, 7]);
    } finally {
      await patched.close();
    }
  });

  it('a transport made by connectNats requests, replies and publishes to JetStream as before', async () => {
    const server: NatsTransport = await connectNats({ servers: nats.url, ...admin, name: 'responder', onError: () => undefined });
    const client: NatsTransport = await connectNats({ servers: nats.url, ...admin, name: 'requester', onError: () => undefined });
    try {
      const writes = countWrites(client.nc);
      await server.respond('flush.echo', async (m) => ({ headers: { 'x-echo': m.headers['x-n'] ?? '' }, data: m.data.toUpperCase() }));
      const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => client.request('flush.echo', `req ${i}`, { timeoutMs: 5_000, headers: { 'x-n': String(i) } })));
      expect(replies.map((r) => r.data)).toEqual(Array.from({ length: 50 }, (_, i) => `REQ ${i}`));
      expect(replies.map((r) => r.headers['x-echo'])).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
      // The 50 requests were sent in one synchronous run: one write.
      expect(writes.writes).toBe(1);
      await client.ensureStream('FLUSHTEST', ['flushtest.>']);
      const acks = await Promise.all(Array.from({ length: 10 }, (_, i) => client.publish('flushtest.e', `e${i}`, {}, `flush-${i}`)));
      expect(acks.map((a) => a.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    } finally {
      await client.drain();
      await server.drain();
    }
  });
});

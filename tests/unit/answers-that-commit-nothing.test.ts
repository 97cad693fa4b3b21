/**
 * Answers that commit nothing (src/runtime/service.ts): a stored reply replayed to a repeat, a
 * refusal, a query. Nobody may hear of a change before it is released (durable here and, distributed,
 * in the replicated log), and an owner that lost its slot must not answer from its store: the cart
 * service answered "cart not found" for a cart another owner had created (the node-partition
 * exploration, docs/benchmarks.md). Real SQLite files and the in-process transport.
 */
import { fdatasync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cart, MessageType } from '../../src/contracts/index.ts';
import { Command, Query } from '../../src/contracts/subjects.ts';
import { cartMigrations } from '../../src/actors/cart/schema.ts';
import { startCartService } from '../../src/actors/cart/service.ts';
import { defaultSeed, productIdFor } from '../../src/actors/seed/seed.ts';
import { serviceSources } from '../../src/registry.ts';
import { ServiceClient } from '../../src/runtime/client.ts';
import { systemClock } from '../../src/runtime/clock.ts';
import { newId } from '../../src/runtime/ids.ts';
import { ServiceRuntime, type AnswerGate } from '../../src/runtime/service.ts';
import { Store } from '../../src/runtime/store.ts';
import { ErrorCode, RemoteError } from '../../src/runtime/transport/errors.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import { sleep, until } from '../support/waiting.ts';

const ANVIL = productIdFor('ACME-ANVIL-01');

interface World {
  rt: ServiceRuntime;
  client: ServiceClient;
  transport: InProcessTransport;
  /** WAL syncs held back while `holding` (the batch committed, not yet durable: not released). */
  held: Array<() => void>;
  holding: { on: boolean };
}

describe('answers that commit nothing', () => {
  let dir: string;
  let w: World;

  const open = async (answerGate?: AnswerGate): Promise<World> => {
    const held: Array<() => void> = [];
    const holding = { on: false };
    const store = new Store({
      path: join(dir, 'cart.db'),
      migrations: cartMigrations,
      syncFile: (fd, done) => (holding.on ? held.push(() => fdatasync(fd, done)) : fdatasync(fd, done)),
    });
    const transport = new InProcessTransport({ path: join(dir, 'bus.db') });
    const rt = new ServiceRuntime({ service: 'cart', source: serviceSources.cart, store, transport, ...(answerGate ? { answerGate } : {}) });
    await startCartService(rt, { seed: defaultSeed });
    await rt.start();
    return { rt, transport, held, holding, client: new ServiceClient(transport, 'urn:test', systemClock) };
  };

  const add = (cartId: string, key: string) =>
    w.client.call(Command.addItemToCart, MessageType.addItemToCart, { cartId, productId: ANVIL, quantity: 1 }, Cart, { timeoutMs: 5_000, idempotencyKey: key, retry: false });
  const getCart = (cartId: string) => w.client.call(Query.getCart, MessageType.getCartRequest, { cartId }, Cart, { timeoutMs: 5_000, retry: false });

  /** What became of a call so far: pending, its payload, or its error's code. */
  const watch = <T>(p: Promise<{ payload: T }>) => {
    const seen: { state: 'pending' | 'answered' | 'failed'; payload?: T; code?: string } = { state: 'pending' };
    p.then(
      (r) => Object.assign(seen, { state: 'answered', payload: r.payload }),
      (err: unknown) => Object.assign(seen, { state: 'failed', code: err instanceof RemoteError ? err.code : String(err) }),
    );
    return seen;
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'answers-'));
  });

  afterEach(async () => {
    w.holding.on = false;
    for (const release of w.held.splice(0)) release();
    await w.rt.stop();
    await w.transport.drain();
    await rm(dir, { recursive: true, force: true });
  });

  it('a repeat of a command whose change is not released yet is answered when the change is, not before', async () => {
    w = await open();
    const cartId = newId();
    const key = newId();
    w.holding.on = true;
    const first = watch(add(cartId, key));
    await until(() => w.held.length > 0);
    // The same command again (a shopper's retry): its stored reply is found, its change is not durable.
    const repeat = watch(add(cartId, key));
    await sleep(150);
    expect({ first: first.state, repeat: repeat.state }).toEqual({ first: 'pending', repeat: 'pending' });
    w.holding.on = false;
    for (const release of w.held.splice(0)) release();
    await until(() => first.state !== 'pending' && repeat.state !== 'pending');
    expect(repeat).toEqual(first);
    expect(first.payload).toMatchObject({ cartId, items: [{ productId: ANVIL, quantity: 1 }] });
  });

  it("every answer waits for the slot's lease to vouch for it (a reply, a refusal, a repeat); one the lease refuses is UNAVAILABLE, and nothing else", async () => {
    let vouch: { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } | undefined;
    const withhold = () => {
      let resolve: () => void = () => undefined;
      let reject: (e: Error) => void = () => undefined;
      const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      vouch = { promise, resolve, reject };
    };
    let asked = 0;
    w = await open(() => {
      asked++;
      return vouch?.promise;
    });
    const cartId = newId();
    const key = newId();
    // The lease vouches at once (the usual case): answered.
    expect((await add(cartId, key)).payload.items).toHaveLength(1);
    expect(asked).toBeGreaterThan(0);

    withhold();
    const reply = watch(add(newId(), newId()));
    const repeat = watch(add(cartId, key));
    const refusal = watch(getCart(newId()));
    await sleep(150);
    expect([reply.state, repeat.state, refusal.state]).toEqual(['pending', 'pending', 'pending']);
    vouch!.resolve();
    await until(() => reply.state !== 'pending' && repeat.state !== 'pending' && refusal.state !== 'pending');
    expect([reply.state, repeat.state, refusal.code]).toEqual(['answered', 'answered', ErrorCode.notFound]);

    // The lease lost before it vouched: no answer leaves, the caller is told to retry elsewhere.
    withhold();
    const late = watch(getCart(cartId));
    const lateRefusal = watch(getCart(newId()));
    await sleep(50);
    expect([late.state, lateRefusal.state]).toEqual(['pending', 'pending']);
    vouch!.reject(new Error('lease lost'));
    await until(() => late.state !== 'pending' && lateRefusal.state !== 'pending');
    expect([late.code, lateRefusal.code]).toEqual([ErrorCode.unavailable, ErrorCode.unavailable]);
    vouch = undefined;
  });
});

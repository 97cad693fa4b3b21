/**
 * Forwarding a query to the orchestrator instance that holds a saga (src/actors/checkout/holder.ts),
 * on a real KV and real request/reply (the in-process transport over a SQLite file). An instance
 * that does not answer may be the holder: its silence must reach the caller as UNAVAILABLE, a
 * transient error a shopper's poll retries, never as INTERNAL or as a false NOT_FOUND. The netsplit
 * test (tests/int/netsplit.test.ts) found both when a saga's holder was cut off.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { forwardToHolder } from '../../src/actors/checkout/holder.ts';
import { registerInstance } from '../../src/actors/checkout/instances.ts';
import { ErrorCode, isTransient, RemoteError } from '../../src/runtime/transport/errors.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import { errorReply } from '../../src/runtime/transport/reply.ts';

const dirs: string[] = [];
const buses: InProcessTransport[] = [];
afterEach(async () => {
  for (const b of buses.splice(0)) await b.drain();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const at = (instance: string) => `test.status.${instance}`;
const msg = { subject: 'test.status', headers: {}, data: '{"checkoutId":"c-1"}' };

/** A bus with the saga-owners bucket and instances registered in the given order. */
async function shop(instances: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'poa-holder-'));
  dirs.push(dir);
  const bus = new InProcessTransport({ path: join(dir, 'bus.db') });
  buses.push(bus);
  const owners = await bus.kv('saga-owners');
  for (const i of instances) await registerInstance(owners, i);
  return { bus, owners };
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe('forwarding to the holder of a saga', () => {
  it('a claimed saga whose holder does not answer is UNAVAILABLE (transient), naming the instance', async () => {
    const { bus, owners } = await shop(['self', 'holder']);
    await owners.put('c-1', 'holder'); // the claim; nobody serves test.status.holder (cut off)
    const err = await failure(forwardToHolder({ transport: bus }, owners, 'self', 'c-1', at, msg));
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).code).toBe(ErrorCode.unavailable);
    expect(isTransient(err)).toBe(true);
    expect((err as Error).message).toContain('instance holder, which may hold c-1, did not answer');
  });

  it('with no claim, a silent instance makes the answer UNAVAILABLE, not NOT_FOUND; another that holds it still answers', async () => {
    const { bus, owners } = await shop(['self', 'silent', 'empty', 'holder']);
    await bus.respond(at('empty'), () => errorReply(ErrorCode.notFound, 'not here'));
    // Nobody holds it, and one instance is silent: it may be the holder, so this is not NOT_FOUND.
    const err = await failure(forwardToHolder({ transport: bus }, owners, 'self', 'c-1', at, msg));
    expect((err as RemoteError).code).toBe(ErrorCode.unavailable);
    expect((err as Error).message).toContain('instance silent');
    // The holder answers after the silent one: its reply is the answer.
    await bus.respond(at('holder'), () => ({ data: '{"status":"done"}' }));
    expect(await forwardToHolder({ transport: bus }, owners, 'self', 'c-1', at, msg)).toMatchObject({ data: '{"status":"done"}' });
  });

  it('every other instance answering NOT_FOUND is undefined, and a refusal other than NOT_FOUND is passed on as it is', async () => {
    const { bus, owners } = await shop(['self', 'a', 'b']);
    await bus.respond(at('a'), () => errorReply(ErrorCode.notFound, 'not here'));
    const b = await bus.respond(at('b'), () => errorReply(ErrorCode.notFound, 'not here'));
    expect(await forwardToHolder({ transport: bus }, owners, 'self', 'c-1', at, msg)).toBeUndefined();
    expect(await forwardToHolder({ transport: bus }, owners, 'self', 'c-1', at, msg)).toBeUndefined();
    await b.close();
    await bus.respond(at('b'), () => errorReply(ErrorCode.badRequest, 'bad id'));
    const err = await failure(forwardToHolder({ transport: bus }, owners, 'self', 'c-1', at, msg));
    expect((err as RemoteError).code).toBe(ErrorCode.badRequest);
    // The saga's own holder is this instance: nothing to forward.
    await owners.put('c-2', 'self');
    expect(await forwardToHolder({ transport: bus }, owners, 'self', 'c-2', at, msg)).toBeUndefined();
  });
});

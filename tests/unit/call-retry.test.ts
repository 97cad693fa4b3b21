/**
 * A call outside an actor asks again when the service answered UNAVAILABLE or nobody listened, with
 * capped exponential backoff and jitter, and never past the call's deadline; each repeat carries the
 * first attempt's message id and idempotency key. Refusals are never asked again. Over the real
 * in-process transport (its event log on a SQLite file); time is a clock whose timers jump ahead.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Header } from '../../src/contracts/headers.ts';
import { CALL_RETRY, retryDelay } from '../../src/runtime/call-retry.ts';
import { ServiceClient } from '../../src/runtime/client.ts';
import { systemClock, type Clock } from '../../src/runtime/clock.ts';
import { registry } from '../../src/runtime/metrics.ts';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import { errorReply } from '../../src/runtime/transport/reply.ts';
import { ErrorCode, NoRespondersError, RemoteError } from '../../src/runtime/transport/errors.ts';
import type { Message } from '../../src/runtime/transport/transport.ts';

const dirs: string[] = [];
const transports: InProcessTransport[] = [];
afterEach(async () => {
  for (const t of transports.splice(0)) await t.drain();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A clock whose timers fire at once, its time moved on by their delay: the retries' pauses take no real time. */
class JumpingClock implements Clock {
  t = Date.parse('2026-12-07T00:00:00Z');
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): () => void {
    this.t += ms;
    setImmediate(fn);
    return () => undefined;
  }
}

function world() {
  const dir = mkdtempSync(join(tmpdir(), 'poa-call-retry-'));
  dirs.push(dir);
  const transport = new InProcessTransport({ path: join(dir, 'bus.db') });
  transports.push(transport);
  const clock = new JumpingClock();
  const client = new ServiceClient(transport, 'urn:test:caller', clock, {}, () => 0.5);
  /** What the service received: each attempt's headers and the clock's time at its arrival. */
  const seen: Array<{ headers: Message['headers']; at: number }> = [];
  return { transport, clock, client, seen };
}

const Ok = z.object({ ok: z.boolean() });

async function retriesCounted(type: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === 'client_retries_total');
  return (metric?.values ?? []).filter((v) => v.labels.type === type).reduce((n, v) => n + v.value, 0);
}

describe('the backoff of a call', () => {
  it('doubles from the base up to the cap, with the jitter inside [half, whole] of it', () => {
    const left = 1_000_000;
    for (let retry = 0; retry < 20; retry++) {
      const ceiling = Math.min(CALL_RETRY.maxMs, CALL_RETRY.baseMs * 2 ** retry);
      expect(retryDelay(retry, left, 0)).toBe(ceiling / 2);
      expect(retryDelay(retry, left, 0.999999)).toBeCloseTo(ceiling, 2);
    }
    expect(retryDelay(0, left, 0.5)).toBe(18.75);
    expect(retryDelay(3, left, 0.5)).toBe(150);
    expect(retryDelay(30, left, 0.5)).toBe(375);
  });

  it('is never made when it would not leave an attempt its time before the deadline', () => {
    for (const random of [0, 0.3, 0.999]) {
      for (let retry = 0; retry < 12; retry++) {
        for (let left = 0; left <= 1_200; left += 7) {
          const delay = retryDelay(retry, left, random);
          if (delay !== undefined) expect(left - delay).toBeGreaterThanOrEqual(CALL_RETRY.minAttemptMs);
        }
      }
    }
    expect(retryDelay(0, CALL_RETRY.minAttemptMs, 0)).toBeUndefined();
    expect(retryDelay(5, 400, 0.5)).toBeUndefined();
  });
});

describe('a call whose service is handing its slot over', () => {
  it('asks again with the same message id and idempotency key until the service answers', async () => {
    const { transport, clock, client, seen } = world();
    await transport.respond('svc.handover', (m) => {
      seen.push({ headers: m.headers, at: clock.now() });
      return seen.length <= 3 ? errorReply(ErrorCode.unavailable, 'svc is handing its slot over; retry') : { data: JSON.stringify({ ok: true }) };
    });
    const before = await retriesCounted('do-handover');
    const started = clock.now();
    const r = await client.call('svc.handover', 'do-handover', { n: 1 }, Ok, { timeoutMs: 5_000, idempotencyKey: 'order-1:reserve' });
    expect(r.payload).toEqual({ ok: true });
    expect(seen).toHaveLength(4);
    expect(new Set(seen.map((s) => s.headers[Header.id])).size).toBe(1);
    expect(seen.every((s) => s.headers[Header.idempotencyKey] === 'order-1:reserve')).toBe(true);
    // 25, 50, 100 ms ceilings, three quarters of each with this jitter.
    expect(seen.map((s) => s.at - started)).toEqual([0, 18.75, 56.25, 131.25]);
    expect((await retriesCounted('do-handover')) - before).toBe(3);
  });

  it('asks again when nobody listens for a moment, and is answered once somebody does', async () => {
    const { transport, seen } = world();
    // Real time here: the service subscribes while the caller waits out its second pause.
    const client = new ServiceClient(transport, 'urn:test:caller', systemClock, {}, () => 0.5);
    const call = client.call('svc.later', 'do-later', {}, Ok, { timeoutMs: 5_000 });
    const giveUpAt = Date.now() + 5_000;
    while ((await retriesCounted('do-later')) < 2 && Date.now() < giveUpAt) await new Promise((r) => setTimeout(r, 1));
    await transport.respond('svc.later', (m) => {
      seen.push({ headers: m.headers, at: 0 });
      return { data: JSON.stringify({ ok: true }) };
    });
    expect((await call).payload).toEqual({ ok: true });
    expect(seen).toHaveLength(1);
    expect(await retriesCounted('do-later')).toBeGreaterThanOrEqual(2);
  });

  it('gives up with the last UNAVAILABLE before its deadline, never after it', async () => {
    const { transport, clock, client, seen } = world();
    await transport.respond('svc.gone', (m) => {
      seen.push({ headers: m.headers, at: clock.now() });
      return errorReply(ErrorCode.unavailable, 'svc is handing its slot over; retry');
    });
    const started = clock.now();
    const err = await client.call('svc.gone', 'do-gone', {}, Ok, { timeoutMs: 2_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).code).toBe(ErrorCode.unavailable);
    const last = seen[seen.length - 1]!.at - started;
    expect(last).toBeLessThanOrEqual(2_000 - CALL_RETRY.minAttemptMs);
    expect(clock.now() - started).toBeLessThanOrEqual(2_000);
    // 25, 50, ... 400 ms, then 500 ms, each three quarters with this jitter, while time is left.
    expect(seen.map((s) => s.at - started)).toEqual([0, 18.75, 56.25, 131.25, 281.25, 581.25, 956.25, 1331.25, 1706.25]);
  });

  it('never asks again after a refusal, a failure, or with retries off', async () => {
    const { transport, clock, client, seen } = world();
    for (const [subject, code] of [['svc.bad', ErrorCode.badRequest], ['svc.conflict', ErrorCode.conflict], ['svc.internal', ErrorCode.internal]] as const) {
      seen.length = 0;
      await transport.respond(subject, (m) => {
        seen.push({ headers: m.headers, at: clock.now() });
        return errorReply(code, 'no');
      });
      const err = await client.call(subject, 'do-refused', {}, Ok, { timeoutMs: 5_000 }).catch((e: unknown) => e);
      expect((err as RemoteError).code).toBe(code);
      expect(seen).toHaveLength(1);
    }
    const err = await client.call('svc.nobody', 'do-once', {}, Ok, { timeoutMs: 5_000, retry: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoRespondersError);
    expect(await retriesCounted('do-once')).toBe(0);
  });
});

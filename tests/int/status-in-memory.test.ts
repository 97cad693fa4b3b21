/**
 * Embedded, the `checkouts` bucket (the shoppers' status documents) is kept in memory, bounded
 * (BucketInMemoryEmbedded): nothing of it is written to bus.db but its revision reserve, once per
 * KV_REVISION_BLOCK revisions. A restart empties it; the saga answers from checkout.db, and the
 * revisions continue above every revision handed out before, so an SSE client's Last-Event-ID
 * still compares.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { productIdFor } from '../../src/actors/seed/seed.ts';
import { Bucket, BucketInMemoryEmbedded } from '../../src/contracts/subjects.ts';
import { startServer, type RunningServer } from '../../src/gateway/server.ts';
import { startSystem, type System } from '../../src/system.ts';
import { BusStore, KV_REVISION_BLOCK } from '../../src/runtime/transport/in-process/bus-store.ts';
import { MemoryEntries } from '../../src/runtime/transport/in-process/kv.ts';
import { testConfig } from '../support/system-fixture.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'status-mem-'));
  dirs.push(d);
  return d;
};

describe('a bucket kept in memory (MemoryEntries)', () => {
  it('keeps at most maxKeys keys, the least recently written going first, and none past its TTL', async () => {
    const store = new BusStore(join(tempDir(), 'bus.db'));
    let now = 1_000;
    const mem = new MemoryEntries(store, 'b', { maxKeys: 3, ttlMs: 10_000, now: () => now });
    for (const k of ['a', 'b', 'c']) await mem.put(k, k);
    await mem.put('a', 'a2'); // a is now the most recently written
    await mem.put('d', 'd');
    expect(mem.size).toBe(3);
    expect(mem.get('b')).toBeUndefined();
    expect(mem.all().map((r) => r.key)).toEqual(['c', 'a', 'd']);
    now += 5_000;
    await mem.put('e', 'e');
    expect(mem.all().map((r) => r.key)).toEqual(['a', 'd', 'e']);
    now += 5_000; // a and d are 10 s old: gone; e is 5 s old
    expect(mem.get('a')).toBeUndefined();
    expect(mem.all().map((r) => r.key)).toEqual(['e']);
    await mem.put('f', 'f');
    expect(mem.size).toBe(2);
    await store.close();
  });

  it('writes nothing to bus.db but a reserve per KV_REVISION_BLOCK, and continues above it after a reopen, in call order', async () => {
    const path = join(tempDir(), 'bus.db');
    const store = new BusStore(path);
    store.ensureBucket('b');
    const mem = new MemoryEntries(store, 'b', { maxKeys: 10, ttlMs: undefined, now: Date.now });
    // Written without waiting, across a block's end: revisions in call order, none skipped.
    const revs = await Promise.all(Array.from({ length: KV_REVISION_BLOCK + 5 }, (_, i) => mem.put(`k${i % 20}`, `v${i}`)));
    expect(revs).toEqual(Array.from({ length: KV_REVISION_BLOCK + 5 }, (_, i) => i + 1));
    expect(mem.get('k4')).toEqual({ key: 'k4', value: `v${KV_REVISION_BLOCK + 4}`, revision: KV_REVISION_BLOCK + 5 });
    expect(await mem.create('k4', 'x')).toEqual({ existing: mem.get('k4') });
    expect(await mem.update('k4', 'y', KV_REVISION_BLOCK + 5)).toBe(KV_REVISION_BLOCK + 6);
    expect(await mem.update('k4', 'z', KV_REVISION_BLOCK + 5)).toBeUndefined();
    await store.close();

    const db = new Database(path, { readonly: true });
    expect(db.prepare('SELECT count(*) FROM kv').pluck().get()).toBe(0);
    const reserve = db.prepare(`SELECT last_rev FROM kv_buckets WHERE name = 'b'`).pluck().get() as number;
    db.close();
    expect(reserve).toBeGreaterThanOrEqual(KV_REVISION_BLOCK + 6);
    expect(reserve).toBeLessThanOrEqual(2 * KV_REVISION_BLOCK + 1);

    const again = new BusStore(path);
    const mem2 = new MemoryEntries(again, 'b', { maxKeys: 10, ttlMs: undefined, now: Date.now });
    expect(mem2.get('k4')).toBeUndefined();
    expect(await mem2.put('k4', 'after')).toBe(reserve + 1);
    await again.close();
  });

  it('is the choice for the checkouts bucket only', () => {
    expect(Object.keys(BucketInMemoryEmbedded)).toEqual([Bucket.checkouts]);
  });
});

describe('the embedded system restarted: the status documents are gone, the sagas answer', { timeout: 60_000 }, () => {
  const BIRDSEED = productIdFor('ACME-BIRDSEED');

  async function start(dataDir: string): Promise<{ system: System; server: RunningServer; http: (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<Response> }> {
    const system = await startSystem({ config: testConfig(dataDir) });
    const server = await startServer({ transport: await system.transportFor('gateway'), port: 0, config: { rateLimit: false } });
    const http = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> =>
      fetch(`${server.url}${path}`, {
        method,
        headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    return { system, server, http };
  }

  it('answers GET and a reconnecting SSE stream with the final status, and hands out higher revisions than before', async () => {
    const dataDir = tempDir();
    let shop = await start(dataDir);
    let checkoutId: string;
    let revisionBefore: number;
    try {
      const cartId = randomUUID();
      expect((await shop.http('POST', `/carts/${cartId}/items`, { productId: BIRDSEED, quantity: 1 })).status).toBe(200);
      const checkedOut = (await (await shop.http('POST', `/carts/${cartId}/checkout`, { customerId: randomUUID() })).json()) as { checkoutId: string };
      checkoutId = checkedOut.checkoutId;
      await expect
        .poll(async () => ((await (await shop.http('GET', `/checkouts/${checkoutId}`)).json()) as { status: string }).status, { timeout: 20_000 })
        .toBe('CONFIRMED');
      const kv = await (await shop.system.transportFor('gateway')).kv(Bucket.checkouts);
      revisionBefore = (await kv.get(checkoutId))!.revision;
    } finally {
      await shop.server.close();
      await shop.system.stop();
    }
    const db = new Database(join(dataDir, 'bus.db'), { readonly: true });
    expect(db.prepare('SELECT count(*) FROM kv WHERE bucket = ?').pluck().get(Bucket.checkouts)).toBe(0);
    db.close();

    shop = await start(dataDir);
    try {
      const kv = await (await shop.system.transportFor('gateway')).kv(Bucket.checkouts);
      expect(await kv.get(checkoutId)).toBeUndefined();
      const res = await shop.http('GET', `/checkouts/${checkoutId}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ checkoutId, status: 'CONFIRMED', step: 'DONE' });

      // A browser that had the final status at revisionBefore reconnects: it hears the final
      // status again (without an id, so its Last-Event-ID stays) and the stream ends.
      const sse = await shop.http('GET', `/checkouts/${checkoutId}/events`, undefined, { accept: 'text/event-stream', 'last-event-id': String(revisionBefore) });
      const text = await sse.text();
      expect(text).toContain('event: status');
      expect(text).toContain('"status":"CONFIRMED"');
      expect(text).not.toMatch(/^id: /m);

      // Revisions continue above everything handed out before the restart.
      expect(await kv.put('probe', '{}')).toBeGreaterThan(revisionBefore);
    } finally {
      await shop.server.close();
      await shop.system.stop();
    }
  });
});

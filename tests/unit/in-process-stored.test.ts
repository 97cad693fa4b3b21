/**
 * Embedded, the event log stores only what a durable consumer reads (`storeOnlyConsumed`): the
 * declared consumers' subjects and those of any durable created since the transport opened. Other
 * publications reach live subscribers and write nothing. On a real SQLite file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { InProcessTransport } from '../../src/runtime/transport/in-process/in-process.ts';
import type { Delivery, Message } from '../../src/runtime/transport/transport.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function world() {
  const dir = mkdtempSync(join(tmpdir(), 'poa-stored-'));
  dirs.push(dir);
  const path = join(dir, 'bus.db');
  const bus = new InProcessTransport({ path, storeOnlyConsumed: ['s.evt.kept'] });
  await bus.ensureStream('S', ['s.evt.>']);
  const live: Message[] = [];
  await bus.subscribeAll('s.evt.>', (m) => void live.push(m));
  const publish = (subject: string, id: string) => bus.publish(subject, `{"id":"${id}"}`, {}, id);
  const storedSubjects = async () => {
    await bus.drain();
    const db = new Database(path, { readonly: true });
    const rows = db.prepare('SELECT subject FROM stream_msgs ORDER BY seq').pluck().all() as string[];
    db.close();
    return rows;
  };
  return { bus, live, publish, storedSubjects };
}

describe('embedded event log: only what is consumed is stored', () => {
  it('stores a declared subject and not one nobody consumes, which live subscribers still get', async () => {
    const { live, publish, storedSubjects } = await world();
    expect(await publish('s.evt.kept', 'a')).toMatchObject({ stream: 'S', seq: 1, duplicate: false });
    expect(await publish('s.evt.other', 'b')).toMatchObject({ stream: 'S', duplicate: false });
    await expect.poll(() => live.map((m) => m.subject)).toEqual(['s.evt.kept', 's.evt.other']);
    expect(await storedSubjects()).toEqual(['s.evt.kept']);
  });

  it('stores a subject from the moment a durable consumer of it is created, and delivers it', async () => {
    const { bus, publish, storedSubjects } = await world();
    await publish('s.evt.other', 'before');
    const got: Delivery[] = [];
    await bus.consume({ stream: 'S', durable: 'late', filterSubjects: ['s.evt.other'], ackWaitMs: 5_000 }, async (d) => void got.push(d));
    await publish('s.evt.other', 'after');
    await expect.poll(() => got.map((d) => d.data)).toEqual(['{"id":"after"}']);
    expect(await storedSubjects()).toEqual(['s.evt.other']);
  });
});

/**
 * The in-process event log keeps its messages in a rowid table indexed by (stream, seq) (migration
 * 4): a message of a kilobyte or more is stored inline at the end of the table instead of spilling
 * to an overflow page of its own in a WITHOUT ROWID tree. A bus.db from before opens and is
 * converted: its messages, their order and their sequences are kept, and the streams continue.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { BusStore } from '../../src/runtime/transport/in-process/bus-store.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function pathOfNew(): string {
  const dir = mkdtempSync(join(tmpdir(), 'poa-bus-msgs-'));
  dirs.push(dir);
  return join(dir, 'bus.db');
}

/** A message about as large as the system's (CloudEvents headers and a payload, 1.2 KiB). */
const body = (i: number) => JSON.stringify({ i, pad: 'x'.repeat(600) });
const headers = { 'ce-id': 'x'.repeat(300) };
const numberOf = (data: string): number => (JSON.parse(data) as { i: number }).i;

const open = (path: string) => {
  const store = new BusStore(path);
  if (store.streams().length === 0) {
    store.addStream('S', ['s.>']);
    store.addStream('T', ['t.>']);
  }
  return store;
};

describe('the event log\'s messages', () => {
  it('are stored inline in a rowid table, read in order through the index by stream and sequence', async () => {
    const path = pathOfNew();
    const store = open(path);
    await Promise.all(Array.from({ length: 40 }, (_, i) => store.append(i % 2 ? 'S' : 'T', i % 2 ? 's.x' : 't.x', headers, body(i), `m${i}`)));
    expect(store.msgsAfter('S', 0, 100).msgs.map((m) => numberOf(m.data))).toEqual(Array.from({ length: 20 }, (_, k) => 2 * k + 1));
    expect(store.msgsAfter('T', 15, 3).msgs.map((m) => m.seq)).toEqual([16, 17, 18]);
    await store.close();

    const db = new Database(path, { readonly: true });
    try {
      expect(db.prepare(`SELECT sql FROM sqlite_schema WHERE name = 'stream_msgs'`).pluck().get()).not.toMatch(/WITHOUT ROWID/i);
      expect(db.prepare(`SELECT count(*) FROM dbstat WHERE name = 'stream_msgs' AND pagetype = 'overflow'`).pluck().get()).toBe(0);
      const plan = db.prepare('EXPLAIN QUERY PLAN SELECT seq, subject, headers, data FROM stream_msgs WHERE stream = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?').all('S', 0, 10, 10) as { detail: string }[];
      expect(plan.map((p) => p.detail).join(' ')).toContain('stream_msgs_by_seq');
    } finally {
      db.close();
    }
  });

  it('are converted from a bus.db of version 3 (WITHOUT ROWID): kept, in order, and the streams continue', async () => {
    const path = pathOfNew();
    await open(path).close();
    // The table as versions 1-3 made it, with messages in it.
    const db = new Database(path);
    db.exec(`DROP TABLE stream_msgs;
      CREATE TABLE stream_msgs (stream TEXT NOT NULL, seq INTEGER NOT NULL, subject TEXT NOT NULL, headers TEXT NOT NULL,
        data TEXT NOT NULL, msg_id TEXT NOT NULL, at INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (stream, seq)) WITHOUT ROWID;
      DELETE FROM schema_migrations WHERE version = 4;`);
    const insert = db.prepare('INSERT INTO stream_msgs (stream, seq, subject, headers, data, msg_id, at) VALUES (?, ?, ?, ?, ?, ?, ?)');
    for (let seq = 1; seq <= 5; seq++) insert.run('S', seq, 's.x', JSON.stringify(headers), body(seq), `old${seq}`, Date.now());
    db.prepare('UPDATE streams SET last_seq = 5 WHERE name = ?').run('S');
    db.close();

    const store = open(path);
    expect(store.msgsAfter('S', 0, 100).msgs.map((m) => [m.seq, numberOf(m.data), m.headers])).toEqual([1, 2, 3, 4, 5].map((i) => [i, i, headers]));
    // The duplicate window was rebuilt from them, and the sequence continues.
    expect(await store.append('S', 's.x', headers, body(9), 'old3')).toEqual({ seq: 3, duplicate: true });
    expect(await store.append('S', 's.x', headers, body(6), 'new6')).toEqual({ seq: 6, duplicate: false });
    await store.close();
  });
});

describe('reading the event log after a sequence', () => {
  it('reads the table only when something was committed after that sequence', async () => {
    const store = open(pathOfNew());
    await Promise.all([1, 2, 3].map((i) => store.append('S', 's.x', headers, body(i), `m${i}`)));
    expect(store.msgsAfter('S', 0, 100).msgs.map((m) => m.seq)).toEqual([1, 2, 3]);
    const reads = store.messageReads;
    // A consumer that has read everything, woken again and again; a stream with nothing in it.
    for (let i = 0; i < 5; i++) expect(store.msgsAfter('S', 3, 100)).toEqual({ msgs: [], lastSeq: undefined });
    expect(store.msgsAfter('T', 0, 100)).toEqual({ msgs: [], lastSeq: undefined });
    expect(store.messageReads).toBe(reads);
    // Once another message is committed, the same call reads it.
    await store.append('S', 's.x', headers, body(4), 'm4');
    expect(store.msgsAfter('S', 3, 100).msgs.map((m) => [m.seq, numberOf(m.data)])).toEqual([[4, 4]]);
    expect(store.messageReads).toBe(reads + 1);
    await store.close();
  });
});
